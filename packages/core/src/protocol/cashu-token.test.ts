import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ProtocolError, apiKeyForToken, parseAuthorization, parseCashuToken } from './index.ts';

const fixtures = new URL('../../../../fixtures/routstr/', import.meta.url);
const realToken = (readFileSync(new URL('cashuB_v4_token_real_example.txt', fixtures), 'utf8').split('\n')[0] ?? '').trim();

describe('Cashu token headers', () => {
  it('reads the real cashuB token: 1 sat at minibits', () => {
    expect(parseCashuToken(realToken)).toEqual({
      version: 'B',
      mint: 'https://mint.minibits.cash/Bitcoin',
      unit: 'sat',
      amount: 1,
      amountMsat: 1000,
      proofCount: 1,
      memo: undefined,
    });
  });

  it('reads V3 cashuA tokens and msat units', () => {
    const proof = (amount: number) => ({ id: '00107937db0cc865', amount, secret: 's' + amount, C: '039b542fac151ded54ac03d3c7836c91abbcfe89fc867b93a936627e028d8e41a2' });
    const v3 = (unit: string) => 'cashuA' + Buffer.from(JSON.stringify({ token: [{ mint: 'https://mint.example', proofs: [proof(2), proof(8)] }], unit })).toString('base64url');
    expect(parseCashuToken(v3('sat'))).toMatchObject({ version: 'A', mint: 'https://mint.example', unit: 'sat', amount: 10, amountMsat: 10_000, proofCount: 2 });
    expect(parseCashuToken(v3('msat'))).toMatchObject({ unit: 'msat', amount: 10, amountMsat: 10 });
    expect(() => parseCashuToken(v3('usd'))).toThrow(expect.objectContaining({ code: 'invalid_token', field: 'token.unit' }));
  });

  it('derives the routstr-core API key sk-sha256(token)', () => {
    expect(apiKeyForToken('abc')).toBe('sk-ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('reads Authorization headers', () => {
    const key = 'sk-' + 'a'.repeat(64);
    expect(parseAuthorization(`Bearer ${key}`)).toEqual({ kind: 'api_key', apiKey: key });
    expect(parseAuthorization(`bearer ${realToken}`)).toEqual({ kind: 'cashu', token: realToken });
    expect(() => parseAuthorization('Basic abc')).toThrow(ProtocolError);
    expect(() => parseAuthorization('Bearer sk-short')).toThrow(ProtocolError);
  });

  it('fuzz: truncated, corrupted and random tokens give ProtocolError(invalid_token)', () => {
    const corrupt = fc.tuple(fc.nat(realToken.length), fc.string({ maxLength: 4 })).map(([i, s]) => realToken.slice(0, i) + s + realToken.slice(i + s.length));
    fc.assert(
      fc.property(fc.oneof(fc.string(), corrupt, fc.string().map((s) => `cashuB${s}`), fc.string().map((s) => `cashuA${s}`)), (token) => {
        try {
          const t = parseCashuToken(token);
          expect(t.amountMsat).toBeGreaterThan(0);
        } catch (e) {
          expect(e).toBeInstanceOf(ProtocolError);
          expect((e as ProtocolError).code).toBe('invalid_token');
        }
      }),
      { numRuns: 300 },
    );
  });
});
