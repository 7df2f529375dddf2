import { describe, expect, it } from 'vitest';
import { completionWindowSeconds, readMetadata } from './batch-routes.ts';
import { parseBatchFile, toJsonl } from './jsonl.ts';

const EP = '/v1/chat/completions';
const line = (customId: unknown, extra: Record<string, unknown> = {}): string =>
  JSON.stringify({ custom_id: customId, method: 'POST', url: EP, body: { model: 'm', messages: [{ role: 'user', content: 'hi' }] }, ...extra });

describe('parseBatchFile', () => {
  it('keeps valid lines in order and refuses each bad line with a reason and its position', () => {
    const text = [
      line('a'),
      '',
      '{not json',
      line(undefined),
      line('a'),
      line('u', { url: '/v1/embeddings' }),
      line('g', { method: 'GET' }),
      line('nm', { body: { messages: [] } }),
      line('x', { body: { model: 'other' } }),
      line('s', { body: { model: 'm', stream: true } }),
      line('b'),
      '',
    ].join('\n');
    const parsed = parseBatchFile(text, EP, (id) => id === 'm');
    expect(parsed.lines.map((l) => [l.index, l.customId, l.model])).toEqual([[0, 'a', 'm'], [9, 'b', 'm']]);
    expect(parsed.refused.map((r) => [r.index, r.customId, r.error.code])).toEqual([
      [1, null, 'invalid_json'],
      [2, null, 'missing_custom_id'],
      [3, 'a', 'duplicate_custom_id'],
      [4, 'u', 'invalid_url'],
      [5, 'g', 'invalid_method'],
      [6, 'nm', 'missing_model'],
      [7, 'x', 'model_not_found'],
      [8, 's', 'stream_unsupported'],
    ]);
    // The message names the line of the file (blank lines counted) so the user can find it.
    expect(parsed.refused[0]?.error.message).toMatch(/^Line 3: /);
  });

  it('writes JSONL one object per line', () => {
    expect(toJsonl([{ a: 1 }, { b: 'x' }])).toBe('{"a":1}\n{"b":"x"}\n');
  });
});

describe('batch options', () => {
  it("reads completion windows: '24h' and our short '<n>s|m|h' forms, nothing else", () => {
    expect(completionWindowSeconds('24h')).toBe(86_400);
    expect(completionWindowSeconds('30s')).toBe(30);
    expect(completionWindowSeconds('5m')).toBe(300);
    for (const bad of ['0s', '24', 'forever', 24, '200h']) expect(() => completionWindowSeconds(bad)).toThrow(/completion_window/);
  });

  it('reads the price ceiling from metadata as a decimal integer string', () => {
    expect(readMetadata({ max_price_msat_per_mtok: '1200', note: 'x' })).toEqual({ metadata: { max_price_msat_per_mtok: '1200', note: 'x' }, maxPrice: 1200 });
    expect(readMetadata(undefined)).toEqual({ metadata: null, maxPrice: null });
    expect(readMetadata({ note: 'x' }).maxPrice).toBeNull();
    for (const bad of [{ max_price_msat_per_mtok: '1.5' }, { max_price_msat_per_mtok: 12 }, { max_price_msat_per_mtok: '-1' }, [], 'x']) {
      expect(() => readMetadata(bad)).toThrow(/metadata/);
    }
  });
});
