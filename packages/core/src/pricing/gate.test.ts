import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { msatPerMtok } from '../money/index.ts';
import { parseModelsBody } from '../protocol/index.ts';
import { askGate, discountedMaxCost, estimatePromptTokens, imageTokens, maxCostForModel, outputBound, requestGate } from './index.ts';

const fixtures = new URL('../../../../fixtures/routstr/', import.meta.url);
const [gpt4oMini] = parseModelsBody(JSON.parse(readFileSync(new URL('v1_models_constructed.json', fixtures), 'utf8')));
if (!gpt4oMini) throw new Error('fixture has no model');

describe('routstr-core gate, worked example (docs 2.8) on the constructed gpt-4o-mini', () => {
  it('envelope is 26 570 msat', () => {
    expect(maxCostForModel(gpt4oMini)).toBe(26570);
  });

  it('a 3 000-char prompt with max_tokens 500 gates at 455 msat', () => {
    const body = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x'.repeat(3000) }], max_tokens: 500 };
    expect(requestGate(gpt4oMini, body)).toBe(455);
  });

  it('counts text parts, skips images, and takes image tokens from the caller', () => {
    const parts = { messages: [{ role: 'user', content: [{ type: 'text', text: 'x'.repeat(1500) }, { type: 'image_url', image_url: { url: 'https://x/y.png' } }, { type: 'text', text: 'y'.repeat(1500) }] }], max_tokens: 500 };
    expect(requestGate(gpt4oMini, parts)).toBe(455);
    // 85 more prompt tokens cost 85 × 0.1515 msat more budget: floor of the smaller discount
    expect(requestGate(gpt4oMini, parts, { imageTokens: 85 })).toBe(468);
  });

  it('without messages or max_tokens only the envelope applies', () => {
    expect(requestGate(gpt4oMini, { model: 'gpt-4o-mini' })).toBe(26570);
    expect(requestGate(gpt4oMini, { messages: [] })).toBe(26570);
  });

  it('ignores a max_tokens Python int() would reject, accepts numeric strings', () => {
    const base = { messages: [{ role: 'user', content: 'x'.repeat(3000) }] };
    const noMax = requestGate(gpt4oMini, base);
    expect(requestGate(gpt4oMini, { ...base, max_tokens: 'lots' })).toBe(noMax);
    expect(requestGate(gpt4oMini, { ...base, max_tokens: '500' })).toBe(455);
    expect(requestGate(gpt4oMini, { ...base, max_tokens: 500.9 })).toBe(455);
  });

  it('gate bypass (issue 13 point 1): every output bound counts, the larger wins, n multiplies, non-positive values shrink nothing', () => {
    const base = { messages: [{ role: 'user', content: 'x'.repeat(3000) }] };
    const noMax = requestGate(gpt4oMini, base);
    expect(requestGate(gpt4oMini, { ...base, max_completion_tokens: 500 })).toBe(455);
    expect(requestGate(gpt4oMini, { ...base, max_tokens: 1, max_completion_tokens: 500 })).toBe(455);
    expect(requestGate(gpt4oMini, { ...base, max_tokens: 500, max_completion_tokens: 1 })).toBe(455);
    expect(requestGate(gpt4oMini, { ...base, max_tokens: 1, n_predict: 500 })).toBe(455);
    expect(requestGate(gpt4oMini, { ...base, max_tokens: -1_000_000 })).toBe(noMax);
    expect(requestGate(gpt4oMini, { ...base, max_tokens: 0 })).toBe(noMax);
    const one = requestGate(gpt4oMini, { ...base, max_tokens: 500 });
    const four = requestGate(gpt4oMini, { ...base, max_tokens: 500, n: 4 });
    const perChoiceMsat = 500 * (gpt4oMini.sats_pricing?.completion ?? 0) * 1000;
    expect(four - one).toBeGreaterThanOrEqual(Math.floor(3 * perChoiceMsat) - 1);
    // No field can ask for more than the model's cap per choice.
    const cap = gpt4oMini.top_provider?.max_completion_tokens;
    expect(outputBound({ max_tokens: 10 ** 9 }, gpt4oMini)).toEqual({ perChoice: cap ?? 10 ** 9, choices: 1 });
    expect(outputBound({ max_tokens: 5, best_of: 3, n: 2 }, gpt4oMini)).toEqual({ perChoice: 5, choices: 3 });
  });

  it('counts code points like Python len()', () => {
    expect(estimatePromptTokens([{ content: '😀😀😀' }])).toBe(1);
    expect(estimatePromptTokens([{ content: 'ab' }, { content: 'c' }, 'junk', null])).toBe(1);
  });

  it('falls back to the fixed cost for unknown or unpriced models and fixed pricing', () => {
    expect(maxCostForModel(undefined)).toBe(1000);
    expect(maxCostForModel({ ...gpt4oMini, sats_pricing: null })).toBe(1000);
    expect(maxCostForModel(gpt4oMini, { fixedPricing: true, fixedCostPerRequestSat: 5 })).toBe(5000);
    expect(discountedMaxCost(maxCostForModel(undefined), { max_tokens: 1 }, undefined)).toBe(1000);
  });

  it('a huge n saturates the gate at the largest exact msat amount instead of throwing (fast-check counterexample {"n":907187811695})', () => {
    expect(requestGate(gpt4oMini, { n: 907_187_811_695 })).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('never gates below min_request_msat, whatever the body', () => {
    fc.assert(
      fc.property(fc.anything(), (body) => {
        const gate = requestGate(gpt4oMini, body);
        expect(Number.isSafeInteger(gate)).toBe(true);
        expect(gate).toBeGreaterThanOrEqual(1);
      }),
      { numRuns: 300 },
    );
  });
});

describe('imageTokens', () => {
  it('follows OpenAI tiling as routstr-core does', () => {
    expect(imageTokens(4096, 4096, 'low')).toBe(85);
    expect(imageTokens(512, 512)).toBe(85 + 170);
    expect(imageTokens(1024, 1024)).toBe(85 + 170 * 4); // fitted to 768×768 → 2×2 tiles
    expect(imageTokens(4000, 1000)).toBe(85 + 170 * 2); // 2048×512 → 768×192 → 2×1
  });
});

describe('askGate (RIP-05, msat/Mtok)', () => {
  it('rounds the budget up to the msat', () => {
    const ask = { prompt: msatPerMtok(151_500), completion: msatPerMtok(606_000) };
    // 1000 × 151 500 + 500 × 606 000 = 454 500 000 µ → 454.5 → 455
    expect(askGate(ask, { promptTokens: 1000, maxTokens: 500 })).toBe(455);
    expect(askGate({ prompt: msatPerMtok(0), completion: msatPerMtok(0) }, { promptTokens: 10, maxTokens: 10 })).toBe(1);
  });
});
