import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { finalizeEvent, generateSecretKey, getPublicKey } from 'nostr-tools';
import { msatPerMtok } from '../money/index.ts';
import { ProtocolError, buildPriceTick, isTickLive, parsePriceTick } from './index.ts';

const sk = generateSecretKey();
const pubkey = getPublicKey(sk);
const input = {
  d: 'node-1',
  url: 'https://p.example',
  expiration: 1_800_000_060,
  seq: 42,
  load: 0.4567,
  models: [
    { model: 'llama-3.2-1b', prompt: msatPerMtok(40_000), completion: msatPerMtok(120_000) },
    { model: 'qwen', prompt: msatPerMtok(0), completion: msatPerMtok(1) },
  ],
  createdAt: 1_800_000_000,
};

function reSign(tags: string[][], content = ''): unknown {
  return JSON.parse(JSON.stringify(finalizeEvent({ kind: 28421, created_at: 1_800_000_000, tags, content }, sk)));
}

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ProtocolError);
    return `${(e as ProtocolError).code}@${(e as ProtocolError).field}`;
  }
  return 'no error';
}

describe('kind 28421 price tick', () => {
  it('builds the DESIGN.md tag layout and parses it back', () => {
    const ev = buildPriceTick(input, sk);
    expect(ev.kind).toBe(28421);
    expect(ev.content).toBe('');
    expect(ev.tags).toEqual([
      ['a', `38421:${pubkey}:node-1`],
      ['u', 'https://p.example'],
      ['expiration', '1800000060'],
      ['seq', '42'],
      ['load', '0.457'],
      ['model', 'llama-3.2-1b', '40000', '120000'],
      ['model', 'qwen', '0', '1'],
    ]);
    const tick = parsePriceTick(JSON.parse(JSON.stringify(ev)));
    expect(tick).toMatchObject({ pubkey, d: 'node-1', url: 'https://p.example', expiration: 1_800_000_060, seq: 42, load: 0.457, models: input.models });
    expect(isTickLive(tick, 1_800_000_059)).toBe(true);
    expect(isTickLive(tick, 1_800_000_060)).toBe(false);
  });

  it('rejects bad builder input', () => {
    expect(code(() => buildPriceTick({ ...input, load: 1.5 }, sk))).toBe('invalid_value@load');
    expect(code(() => buildPriceTick({ ...input, seq: -1 }, sk))).toBe('invalid_value@seq');
    expect(code(() => buildPriceTick({ ...input, models: [{ model: 'm', prompt: 1.5 as never, completion: msatPerMtok(1) }] }, sk))).toBe('invalid_value@models.0.prompt');
  });

  it('names the field of every malformed tag', () => {
    const a = ['a', `38421:${pubkey}:node-1`];
    const base = [a, ['u', 'https://p'], ['expiration', '10'], ['seq', '1'], ['load', '0.5']];
    expect(code(() => parsePriceTick(reSign(base.slice(1))))).toBe('missing_field@tags.a');
    expect(code(() => parsePriceTick(reSign([['a', `38421:${'f'.repeat(64)}:x`], ...base.slice(1)])))).toBe('invalid_value@tags.a');
    expect(code(() => parsePriceTick(reSign([a, ...base.slice(2)])))).toBe('missing_url@tags.u');
    expect(code(() => parsePriceTick(reSign([...base.slice(0, 2), ['expiration', 'soon'], ...base.slice(3)])))).toBe('invalid_value@tags.expiration');
    expect(code(() => parsePriceTick(reSign([...base.slice(0, 3), ['seq', '-1'], base[4]!])))).toBe('invalid_value@tags.seq');
    expect(code(() => parsePriceTick(reSign([...base.slice(0, 4), ['load', '1.2']])))).toBe('invalid_value@tags.load');
    expect(code(() => parsePriceTick(reSign([...base, ['model', 'm', '-5', '1']])))).toBe('invalid_value@tags.5.2');
    expect(code(() => parsePriceTick(reSign([...base, ['model', 'm', '5']])))).toBe('missing_field@tags.5.3');
    expect(code(() => parsePriceTick(reSign([...base, ['model', 'm', '1e3', '1']])))).toBe('invalid_value@tags.5.2');
    expect(code(() => parsePriceTick(reSign(base)))).toBe('no error');
  });

  it('fuzz: random tags on a validly signed event give a tick or a ProtocolError', () => {
    const value = fc.oneof(fc.string(), fc.stringMatching(/^-?[0-9]{0,20}(\.[0-9]{0,4})?$/), fc.constant(`38421:${pubkey}:d`));
    const tag = fc.tuple(fc.constantFrom('a', 'u', 'expiration', 'seq', 'load', 'model', 'x'), value, value, value).map((t) => [...t]);
    fc.assert(
      fc.property(fc.array(tag, { maxLength: 8 }), (tags) => {
        try {
          const tick = parsePriceTick(reSign(tags));
          expect(tick.load).toBeGreaterThanOrEqual(0);
          for (const m of tick.models) expect(Number.isSafeInteger(m.prompt) && m.prompt >= 0).toBe(true);
        } catch (e) {
          expect(e).toBeInstanceOf(ProtocolError);
        }
      }),
      { numRuns: 60 },
    );
  });
});
