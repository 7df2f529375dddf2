import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { pythonFloatRepr, pythonJsonDumps } from './index.ts';

describe('pythonFloatRepr', () => {
  it('matches CPython repr (values printed by python3)', () => {
    const cases: [number, string][] = [
      [0, '0.0'],
      [1, '1.0'],
      [1.515e-7, '1.515e-07'],
      [0.0001, '0.0001'],
      [0.00001, '1e-05'],
      [123456789012345678, '1.2345678901234568e+17'],
      [1e16, '1e+16'],
      [9999999999999998, '9999999999999998.0'],
      [0.1, '0.1'],
      [26.838528, '26.838528'],
      [1e22, '1e+22'],
      [5e-324, '5e-324'],
      [1.7976931348623157e308, '1.7976931348623157e+308'],
      [-2.5, '-2.5'],
      [100, '100.0'],
      [7.575e-5, '7.575e-05'],
    ];
    for (const [value, repr] of cases) expect(pythonFloatRepr(value)).toBe(repr);
  });

  it('always reads back as the same number', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (x) => {
        expect(Number(pythonFloatRepr(x)) === x).toBe(true);
      }),
    );
  });
});

describe('pythonJsonDumps', () => {
  it('writes json.dumps defaults: spaces and \\u escapes (python3 output)', () => {
    const body = { error: { message: "Model 'gpt-5' not found — sorry", type: 'invalid_request_error', code: 'invalid_model' }, request_id: 'r1' };
    expect(pythonJsonDumps(body, { compact: false, ensureAscii: true })).toBe(
      '{"error": {"message": "Model \'gpt-5\' not found \\u2014 sorry", "type": "invalid_request_error", "code": "invalid_model"}, "request_id": "r1"}',
    );
  });

  it('escapes astral characters as surrogate pairs and DEL like Python', () => {
    expect(pythonJsonDumps({ a: '😀\u007f' }, { compact: true, ensureAscii: true })).toBe('{"a":"\\ud83d\\ude00\\u007f"}');
    expect(pythonJsonDumps({ a: '😀' }, { compact: true, ensureAscii: false })).toBe('{"a":"😀"}');
  });
});
