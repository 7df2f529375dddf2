import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { InvalidAmount } from '../money/index.ts';
import { verifyCharge } from './index.ts';

describe('verifyCharge', () => {
  it('accepts the worked example: 1 000 sats paid, 999 back, 399 msat expected', () => {
    const v = verifyCharge({ expectedMsat: 399, paidMsat: 1_000_000, changeMsat: 999_000 });
    expect(v).toMatchObject({ ok: true, verdict: 'ok', chargedMsat: 1000, expectedMsat: 399, overchargeMsat: 601 });
  });

  it('flags an overcharge beyond the tolerance', () => {
    const v = verifyCharge({ expectedMsat: 399, paidMsat: 1_000_000, changeMsat: 990_000 });
    expect(v).toMatchObject({ ok: false, verdict: 'overcharged', chargedMsat: 10_000, overchargeMsat: 9601, toleranceMsat: 1000 });
  });

  it('uses the percent tolerance on large charges', () => {
    expect(verifyCharge({ expectedMsat: 1_000_000, paidMsat: 2_000_000, changeMsat: 990_000 }).verdict).toBe('ok'); // +1 %
    expect(verifyCharge({ expectedMsat: 1_000_000, paidMsat: 2_000_000, changeMsat: 980_000, tolerancePercent: 1 }).verdict).toBe('overcharged');
  });

  it('reports undercharges without failing the provider', () => {
    const v = verifyCharge({ expectedMsat: 50_000, paidMsat: 100_000, changeMsat: 90_000, toleranceMsat: 0, tolerancePercent: 0 });
    expect(v).toMatchObject({ ok: true, verdict: 'undercharged', underchargeMsat: 40_000 });
  });

  it('rejects impossible inputs with InvalidAmount only', () => {
    expect(() => verifyCharge({ expectedMsat: 1, paidMsat: 5, changeMsat: 6 })).toThrow(InvalidAmount);
    expect(() => verifyCharge({ expectedMsat: -1, paidMsat: 5, changeMsat: 1 })).toThrow(InvalidAmount);
    expect(() => verifyCharge({ expectedMsat: 1.5, paidMsat: 5, changeMsat: 1 })).toThrow(InvalidAmount);
  });

  it('verdict is consistent with the numbers', () => {
    fc.assert(
      fc.property(fc.nat(1e9), fc.nat(1e9), fc.nat(1e9), (expected, paid, change) => {
        fc.pre(change <= paid);
        const v = verifyCharge({ expectedMsat: expected, paidMsat: paid, changeMsat: change });
        expect(v.chargedMsat).toBe(paid - change);
        expect(v.ok).toBe(v.chargedMsat - expected <= v.toleranceMsat);
      }),
      { numRuns: 200 },
    );
  });
});
