import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { InvalidAmount, msat, msatToSatCeil, msatToSatFloor, sat, satToMsat } from './index.ts';

describe('amounts', () => {
  it('brands only non-negative safe integers', () => {
    expect(msat(0)).toBe(0);
    for (const bad of [-1, 1.5, Number.NaN, Number.MAX_SAFE_INTEGER + 1]) {
      expect(() => msat(bad)).toThrow(InvalidAmount);
      expect(() => sat(bad)).toThrow(InvalidAmount);
    }
  });

  it('rounds msat→sat up for charges and down for change', () => {
    expect(msatToSatCeil(msat(399))).toBe(1);
    expect(msatToSatFloor(msat(399))).toBe(0);
    expect(msatToSatCeil(msat(2000))).toBe(2);
    fc.assert(
      fc.property(fc.nat(1e12), (n) => {
        const m = msat(n);
        expect(satToMsat(msatToSatCeil(m))).toBeGreaterThanOrEqual(n);
        expect(satToMsat(msatToSatFloor(m))).toBeLessThanOrEqual(n);
        expect(msatToSatCeil(m) - msatToSatFloor(m)).toBe(n % 1000 === 0 ? 0 : 1);
      }),
    );
  });
});
