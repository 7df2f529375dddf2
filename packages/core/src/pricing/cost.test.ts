import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { msatPerMtok, satsPerTokenToMsatPerMtok } from '../money/index.ts';
import { parseModelsBody } from '../protocol/index.ts';
import { askCost, costFromResponse, costFromTokens, normalizeUsage, xCashuChange } from './index.ts';

const fixtures = new URL('../../../../fixtures/routstr/', import.meta.url);
const [model] = parseModelsBody(JSON.parse(readFileSync(new URL('v1_models_constructed.json', fixtures), 'utf8')));
if (!model?.sats_pricing) throw new Error('fixture has no priced model');
const pricing = model.sats_pricing;

describe('final cost from usage (docs 2.9)', () => {
  it('worked example: 950 in / 420 out costs 399 msat, a 1 000-sat token gets 999 sats back', () => {
    const cost = costFromResponse({ model: 'gpt-4o-mini', usage: { prompt_tokens: 950, completion_tokens: 420, total_tokens: 1370 } }, pricing, { maxCostMsat: 455 });
    expect(cost.path).toBe('tokens');
    expect(cost.total_msats).toBe(399); // ceil(143.925 + 254.52)
    expect(cost.output_msats).toBe(254);
    expect(cost.input_msats).toBe(145); // total − visible output
    expect(xCashuChange({ amount: 1000, unit: 'sat' }, cost.total_msats)).toBe(999);
    expect(xCashuChange({ amount: 1_000_000, unit: 'msat' }, cost.total_msats)).toBe(999_601);
  });

  it('no usage costs nothing', () => {
    expect(costFromResponse({ model: 'm' }, pricing, { maxCostMsat: 455 }).total_msats).toBe(0);
    expect(costFromResponse({ usage: null }, pricing, { maxCostMsat: 455 }).path).toBe('no_usage');
  });

  it('zero rates bill the whole reservation', () => {
    const cost = costFromResponse({ usage: { prompt_tokens: 5, completion_tokens: 5 } }, { prompt: 0, completion: 0 }, { maxCostMsat: 455 });
    expect(cost).toMatchObject({ path: 'max_cost', total_msats: 455, base_msats: 455 });
  });

  it('bills OpenAI cached tokens at the cache rate, out of prompt_tokens', () => {
    const usage = normalizeUsage({ prompt_tokens: 1000, completion_tokens: 0, prompt_tokens_details: { cached_tokens: 400 } });
    expect(usage).toEqual({ inputTokens: 600, outputTokens: 0, cacheReadTokens: 400, cacheWriteTokens: 0 });
    const cost = costFromTokens(usage!, pricing);
    // 600 × 0.1515 + 400 × 0.07575 = 90.9 + 30.3 = 121.2 → 122
    expect(cost.total_msats).toBe(122);
    expect(cost.cache_read_msats).toBe(30);
  });

  it('keeps Anthropic cache tokens additive', () => {
    expect(normalizeUsage({ input_tokens: 10, output_tokens: 3, cache_read_input_tokens: 7, cache_creation_input_tokens: 2 })).toEqual({
      inputTokens: 10,
      outputTokens: 3,
      cacheReadTokens: 7,
      cacheWriteTokens: 2,
    });
  });

  it('prefers a reported upstream USD cost (× provider fee) when a BTC rate is known', () => {
    const body = { usage: { prompt_tokens: 100, completion_tokens: 100, cost: 0.0001 } };
    const cost = costFromResponse(body, pricing, { maxCostMsat: 1000, btcUsd: 100_000, providerFee: 1.01 });
    // 0.0001 USD × 1.01 = 0.000101 USD = 0.101 sat = 101 msat
    expect(cost).toMatchObject({ path: 'usd', total_msats: 101, input_msats: 50, output_msats: 51 });
    expect(costFromResponse(body, pricing, { maxCostMsat: 1000 }).path).toBe('tokens');
  });

  it('never bills a fraction of a msat less than the sum of its parts', () => {
    fc.assert(
      fc.property(fc.nat(2_000_000), fc.nat(200_000), (inTok, outTok) => {
        const c = costFromTokens({ inputTokens: inTok, outputTokens: outTok, cacheReadTokens: 0, cacheWriteTokens: 0 }, pricing);
        const exact = (inTok * 151_500 + outTok * 606_000) / 1_000_000;
        expect(c.total_msats).toBeGreaterThanOrEqual(Math.floor(exact));
        expect(c.total_msats).toBeLessThanOrEqual(Math.ceil(exact) + 1);
        expect(c.input_msats + c.output_msats).toBe(c.total_msats);
      }),
      { numRuns: 200 },
    );
  });
});

describe('askCost (RIP-05, msat/Mtok)', () => {
  it('matches routstr-core on the worked example with the converted prices', () => {
    const ask = { prompt: satsPerTokenToMsatPerMtok(pricing.prompt), completion: satsPerTokenToMsatPerMtok(pricing.completion) };
    expect(askCost(ask, { inputTokens: 950, outputTokens: 420, cacheReadTokens: 0, cacheWriteTokens: 0 })).toBe(399);
  });

  it('rounds up and never undercharges', () => {
    fc.assert(
      fc.property(fc.nat(10_000_000), fc.nat(10_000_000), fc.nat(1e9), fc.nat(1e9), (i, o, p, c) => {
        const cost = askCost({ prompt: msatPerMtok(p), completion: msatPerMtok(c) }, { inputTokens: i, outputTokens: o, cacheReadTokens: 0, cacheWriteTokens: 0 });
        const micro = BigInt(i) * BigInt(p) + BigInt(o) * BigInt(c);
        expect(BigInt(cost) * 1_000_000n >= micro).toBe(true);
        expect((BigInt(cost) - 1n) * 1_000_000n < micro || cost === 0).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});
