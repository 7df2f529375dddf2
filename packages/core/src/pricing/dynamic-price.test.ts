import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { InvalidAmount, msatPerMtok } from '../money/index.ts';
import {
  amortisationPerMtok,
  energyCostPerMtok,
  ewma,
  initialPriceState,
  nextPrice,
  priceBounds,
  stepLimit,
  targetPrice,
  utilisationFactor,
  utilisationFromDemand,
  type PriceModel,
  type PriceUpdateRules,
} from './index.ts';

describe('cost basis', () => {
  it('energy per Mtok = power × PUE × price ÷ throughput', () => {
    // 350 W × 1.2 / 50 tok/s = 8.4 J/token = 8.4 MJ/Mtok = 2.333… kWh; at 30 000 msat/kWh → 70 000
    expect(energyCostPerMtok({ powerWatts: 350, pue: 1.2, electricityMsatPerKwh: 30_000, tokensPerSecond: 50 })).toBe(70_000);
    expect(energyCostPerMtok({ powerWatts: 350, pue: 1.2, electricityMsatPerKwh: 30_000, tokensPerSecond: 100 })).toBe(35_000);
    expect(() => energyCostPerMtok({ powerWatts: 350, pue: 0.9, electricityMsatPerKwh: 1, tokensPerSecond: 1 })).toThrow(InvalidAmount);
  });

  it('amortisation spreads hardware over lifetime tokens', () => {
    // 2e9 msat over 1e8 s × 50 tok/s × 0.5 = 2.5e9 tokens → 800 000 msat/Mtok
    expect(amortisationPerMtok({ hardwareCostMsat: 2e9, lifetimeSeconds: 1e8, tokensPerSecond: 50, expectedUtilisation: 0.5 })).toBe(800_000);
  });

  it('counts rejected (429) requests as demand', () => {
    expect(utilisationFromDemand({ running: 4, queued: 0, rejected: 0, capacity: 8 })).toBe(0.5);
    expect(utilisationFromDemand({ running: 8, queued: 2, rejected: 6, capacity: 8 })).toBe(2);
  });

  it('ewma moves by alpha towards the sample', () => {
    expect(ewma(0, 1, 0.25)).toBe(0.25);
    expect(ewma(1, 1, 0.25)).toBe(1);
  });
});

const model: PriceModel = {
  energy: msatPerMtok(70_000),
  amortisation: msatPerMtok(30_000),
  margin: msatPerMtok(100_000),
  curve: { idleFactor: 0.4, exponent: 1.5, surgeFactor: 3, surgeAt: 2 },
};

describe('price curve', () => {
  it('idle floor, full-load base, surge when queueing', () => {
    expect(targetPrice(0, model)).toBe(80_000); // 200 000 × 0.4
    expect(targetPrice(1, model)).toBe(200_000);
    expect(targetPrice(2, model)).toBe(600_000);
    expect(targetPrice(10, model)).toBe(600_000);
    expect(targetPrice(0, { ...model, curve: { ...model.curve!, idleFactor: 0.1 } })).toBe(70_000); // floored at energy
    expect(targetPrice(5, { ...model, max: msatPerMtok(300_000) })).toBe(300_000);
  });

  const curveArb = fc.record({
    idleFactor: fc.double({ min: 0.01, max: 1, noNaN: true }),
    exponent: fc.double({ min: 0.1, max: 4, noNaN: true }),
    surgeFactor: fc.double({ min: 1, max: 10, noNaN: true }),
    surgeAt: fc.double({ min: 1.01, max: 5, noNaN: true }),
  });
  const modelArb = fc
    .record({ energy: fc.nat(1e7), amortisation: fc.nat(1e7), margin: fc.nat(1e7), curve: curveArb, min: fc.option(fc.nat(1e7), { nil: undefined }) })
    .map((m): PriceModel => ({
      energy: msatPerMtok(m.energy),
      amortisation: msatPerMtok(m.amortisation),
      margin: msatPerMtok(m.margin),
      curve: m.curve,
      ...(m.min === undefined ? {} : { min: msatPerMtok(m.min) }),
    }));
  const util = fc.double({ min: 0, max: 20, noNaN: true });

  it('is monotone in utilisation and never below the floor (property)', () => {
    fc.assert(
      fc.property(modelArb, util, util, (m, a, b) => {
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        expect(targetPrice(lo, m)).toBeLessThanOrEqual(targetPrice(hi, m));
        expect(targetPrice(lo, m)).toBeGreaterThanOrEqual(priceBounds(m).low);
        expect(targetPrice(lo, m)).toBeGreaterThanOrEqual(m.energy);
        expect(Number.isSafeInteger(targetPrice(hi, m))).toBe(true);
        expect(utilisationFactor(lo, m.curve)).toBeLessThanOrEqual(utilisationFactor(hi, m.curve));
      }),
      { numRuns: 300 },
    );
  });

  it('updates step at most the limit, stay above the floor, and are integers (property)', () => {
    const rulesArb = fc.record({
      alpha: fc.double({ min: 0.01, max: 1, noNaN: true }),
      hysteresis: fc.double({ min: 0, max: 0.3, noNaN: true }),
      maxStep: fc.double({ min: 0, max: 0.5, noNaN: true }),
    });
    fc.assert(
      fc.property(modelArb, rulesArb, util, fc.array(util, { minLength: 1, maxLength: 30 }), (m, rules: PriceUpdateRules, u0, samples) => {
        let state = initialPriceState(m, u0);
        const { low, high } = priceBounds(m);
        for (const s of samples) {
          const { state: next, changed } = nextPrice(state, s, m, rules);
          expect(Math.abs(next.price - state.price)).toBeLessThanOrEqual(stepLimit(state.price, rules));
          expect(next.price).toBeGreaterThanOrEqual(low);
          expect(next.price).toBeLessThanOrEqual(high);
          expect(Number.isSafeInteger(next.price)).toBe(true);
          expect(changed).toBe(next.price !== state.price);
          state = next;
        }
      }),
      { numRuns: 200 },
    );
  });

  it('holds the price inside the hysteresis band and converges outside it', () => {
    const rules = { alpha: 1, hysteresis: 0.05, maxStep: 0.1 };
    const start = { price: msatPerMtok(200_000), smoothedUtilisation: 1 };
    // utilisation 0.98 → target ≈ 194 000 (−3 %): inside the band, no new price
    const inside = nextPrice(start, 0.98, model, rules);
    expect(inside.changed).toBe(false);
    expect(inside.state.price).toBe(200_000);
    // surge to 2 → target 600 000, one step is capped at +10 %
    const up = nextPrice(start, 2, model, rules);
    expect(up.state.price).toBe(220_000);
    let s = up.state;
    for (let i = 0; i < 20; i++) s = nextPrice(s, 2, model, rules).state;
    expect(s.price).toBe(600_000);
  });
});
