import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  chargeForTokens,
  msatPerMtok,
  msatPerMtokToSatsPerToken,
  msatPerMtokToUsdPerToken,
  pythonRound,
  satsPerTokenToMsatPerMtok,
  usdPerTokenToMsatPerMtok,
  InvalidAmount,
} from './index.ts';

describe('price conversions', () => {
  it('converts the fixture sats_pricing exactly (no float residue)', () => {
    // 0.0000077 * 1e9 is 7700.000000000001 in floats; a naive ceil would give 7701
    expect(0.0000077 * 1e9).not.toBe(7700);
    expect(satsPerTokenToMsatPerMtok(0.0000077)).toBe(7700);
    expect(satsPerTokenToMsatPerMtok(0.0000157, 'floor')).toBe(15700);
    expect(satsPerTokenToMsatPerMtok(0.0001515)).toBe(151500);
    expect(satsPerTokenToMsatPerMtok(0.000606)).toBe(606000);
    expect(satsPerTokenToMsatPerMtok(7.575e-5)).toBe(75750);
  });

  it('rounds fractional msat/Mtok up by default and down on request', () => {
    expect(satsPerTokenToMsatPerMtok(1.5e-10)).toBe(1);
    expect(satsPerTokenToMsatPerMtok(1.5e-10, 'floor')).toBe(0);
    expect(satsPerTokenToMsatPerMtok(0)).toBe(0);
  });

  it('converts USD per token at a BTC/USD rate like the fixture (fee-adjusted, BTC = 100 000 USD)', () => {
    expect(usdPerTokenToMsatPerMtok(1.515e-7, 100_000)).toBe(151500);
    expect(usdPerTokenToMsatPerMtok(6.06e-7, 100_000)).toBe(606000);
    expect(usdPerTokenToMsatPerMtok(1e-7, 3)).toBe(3_333_333_334); // ceil of 3 333 333 333.3
    expect(usdPerTokenToMsatPerMtok(1e-7, 3, 'floor')).toBe(3_333_333_333);
  });

  it('round-trips msat/Mtok through the wire floats', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e12 }), (p) => {
        const price = msatPerMtok(p);
        expect(satsPerTokenToMsatPerMtok(msatPerMtokToSatsPerToken(price))).toBe(p);
        expect(usdPerTokenToMsatPerMtok(msatPerMtokToUsdPerToken(price, 100_000), 100_000)).toBe(p);
      }),
    );
  });

  it('rejects negative prices and bad rates with InvalidAmount', () => {
    expect(() => satsPerTokenToMsatPerMtok(-1)).toThrow(InvalidAmount);
    expect(() => usdPerTokenToMsatPerMtok(1e-7, 0)).toThrow(InvalidAmount);
    expect(() => satsPerTokenToMsatPerMtok(Number.NaN)).toThrow(InvalidAmount);
  });
});

describe('chargeForTokens', () => {
  it('rounds up to the msat', () => {
    expect(chargeForTokens(1, msatPerMtok(1))).toBe(1);
    expect(chargeForTokens(1_000_000, msatPerMtok(151500))).toBe(151500);
    expect(chargeForTokens(950, msatPerMtok(151500))).toBe(144); // 143.925
    expect(chargeForTokens(0, msatPerMtok(151500))).toBe(0);
  });

  it('never charges less than the exact product', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10_000_000 }), fc.integer({ min: 0, max: 1e9 }), (t, p) => {
        const c = chargeForTokens(t, msatPerMtok(p));
        expect(BigInt(c) * 1_000_000n).toBeGreaterThanOrEqual(BigInt(t) * BigInt(p));
        expect((BigInt(c) - 1n) * 1_000_000n).toBeLessThan(BigInt(t) * BigInt(p) + (t * p === 0 ? 1_000_000n : 0n));
      }),
    );
  });
});

describe('pythonRound', () => {
  it('rounds exact binary ties to even like Python', () => {
    expect(pythonRound(0.0625, 3)).toBe(0.062); // Python: round(0.0625, 3) == 0.062
    expect(pythonRound(0.0635, 3)).toBe(0.064); // 0.0635 is slightly above the tie in binary
    expect(pythonRound(2.675, 2)).toBe(2.67); // binary value is below the tie
    expect(pythonRound(143.925, 3)).toBe(143.925);
    expect(pythonRound(-1.5, 0)).toBe(-2);
  });
});
