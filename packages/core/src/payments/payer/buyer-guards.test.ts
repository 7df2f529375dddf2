import { describe, expect, it } from 'vitest';
import { BudgetExceeded } from '../../wallet/index.ts';
import { BudgetLedger } from './budget-ledger.ts';
import { DEFAULT_PER_REQUEST_MAX_SAT, tokenCap, withinMedian } from './buyer-guards.ts';
import { clampUsage, isInflated, usageBounds } from './usage-check.ts';

const shape = { inputTokens: 1_000, outputTokens: 100 };
const ask = (priceMsat: number) => ({ ask: { priceMsat } as never as import('../../market/index.ts').PricedAsk });

describe('tokenCap', () => {
  it('takes the lowest of maxPrice (rounded up to the sat), the request limit and the per-request cap, default 1 000 sat', () => {
    expect(tokenCap(shape, { maxPrice: undefined, perRequestMaxSat: undefined })).toEqual({ capSat: DEFAULT_PER_REQUEST_MAX_SAT, source: 'per_request' });
    expect(tokenCap(shape, { maxPrice: 4_500, perRequestMaxSat: undefined })).toEqual({ capSat: 5, source: 'max_price' });
    expect(tokenCap(shape, { maxPrice: 4_500_000, perRequestMaxSat: 20 })).toEqual({ capSat: 20, source: 'per_request' });
    // msat/Mtok ceilings price the request's shape: 1 000 × 1 000 + 100 × 10 000 = 2 000 000 µmsat... = 2 000 msat
    expect(tokenCap(shape, { maxPrice: { prompt: 1_000_000, completion: 10_000_000 }, perRequestMaxSat: undefined })).toEqual({ capSat: 2, source: 'max_price' });
    expect(tokenCap(shape, { maxPrice: 50_000, perRequestMaxSat: undefined, requestMaxMsat: 3_001 })).toEqual({ capSat: 4, source: 'max_price' });
  });
});

describe('withinMedian', () => {
  it('drops asks above factor × the median of live asks; 0 turns it off', () => {
    const live = [100, 100, 120, 5_000].map((p) => ask(p).ask);
    expect(withinMedian([ask(100), ask(5_000)], live, 10).kept.map((c) => c.ask.priceMsat)).toEqual([100]);
    expect(withinMedian([ask(100), ask(5_000)], live, 0).kept).toHaveLength(2);
    expect(withinMedian([ask(1_100)], live, 10).medianMsat).toBe(110);
  });
});

describe('BudgetLedger', () => {
  it('reserves synchronously so concurrent payments cannot overshoot; settling releases what came back', () => {
    const ledger = new BudgetLedger({ totalSat: 30 });
    const a = ledger.reserve(12);
    const b = ledger.reserve(12);
    expect(() => ledger.reserve(12)).toThrow(BudgetExceeded);
    a.settle(9);
    a.settle(12); // once only
    expect(ledger.spentSat).toBe(9);
    expect(ledger.reservedSat).toBe(12);
    b.settle(0);
    expect(ledger.reserve(21).amountSat).toBe(21);
    expect(() => ledger.check(1)).toThrow(BudgetExceeded);
  });
});

describe('usage bounds', () => {
  it('flags output past the larger of max_tokens / max_completion_tokens and prompt past the request bytes, and clamps them', () => {
    const body = { model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 8, max_completion_tokens: 100 };
    const bounds = usageBounds(body);
    // engines disagree on which field wins, so the larger one bounds what an honest node may bill (as the node's gate reads it),
    // plus the allowance for engines that finish a forced tool call
    expect(bounds.outputTokens).toBe(100 + 25);
    expect(isInflated({ inputTokens: 10, outputTokens: 125, cacheReadTokens: 0, cacheWriteTokens: 0 }, bounds)).toBe(false);
    expect(isInflated({ inputTokens: 10, outputTokens: 126, cacheReadTokens: 0, cacheWriteTokens: 0 }, bounds)).toBe(true);
    expect(isInflated({ inputTokens: 10, outputTokens: 40_000, cacheReadTokens: 0, cacheWriteTokens: 0 }, bounds)).toBe(true);
    expect(isInflated({ inputTokens: 1_000_000, outputTokens: 1, cacheReadTokens: 0, cacheWriteTokens: 0 }, bounds)).toBe(true);
    expect(clampUsage({ prompt_tokens: 3, completion_tokens: '40000' }, bounds)).toEqual({ prompt_tokens: 3, completion_tokens: 125 });
    expect(usageBounds({ model: 'm', max_tokens: 400 }).outputTokens).toBe(500);
    expect(usageBounds({ model: 'm' }).outputTokens).toBeUndefined();
  });
});
