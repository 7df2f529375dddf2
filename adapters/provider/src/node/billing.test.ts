import { costFromResponse, msatPerMtok, requestGate } from '@routstr-kit/core';
import { describe, expect, it } from 'vitest';
import { bill, countCompletionTokens, countPromptTokens } from './billing.ts';
import { modelFor } from './catalog.ts';

const model = modelFor(
  { id: 'm', contextLength: 2048 },
  { model: 'm', prompt: msatPerMtok(50_000_000), completion: msatPerMtok(100_000_000) },
  { btcUsd: 100_000, engine: 'vllm', created: 0 },
);

describe('billing', () => {
  it('bills engine usage with routstr-core formula, even above the gate', () => {
    const usage = { prompt_tokens: 900, completion_tokens: 10 };
    const expected = costFromResponse({ usage }, model.sats_pricing as never, { maxCostMsat: 1 }).total_msats;
    expect(bill(model, 10, usage, { promptTokens: 0, completionTokens: 0 })).toMatchObject({ counted: false, cost: { total_msats: expected } });
    expect(expected).toBe(900 * 50 + 10 * 100);
  });

  it('without usage bills the tokens it counted (chars ÷ 3), never free and never above the gate', () => {
    const body = { messages: [{ role: 'user', content: 'x'.repeat(30) }], max_tokens: 20 };
    const gate = requestGate(model, body);
    const counted = { promptTokens: countPromptTokens(body), completionTokens: countCompletionTokens(31) };
    expect(counted).toEqual({ promptTokens: 10, completionTokens: 11 });
    expect(bill(model, gate, undefined, counted)).toMatchObject({ counted: true, cost: { total_msats: 10 * 50 + 11 * 100 } });
    expect(bill(model, gate, undefined, { promptTokens: 0, completionTokens: 0 }).cost.total_msats).toBe(1);
    expect(bill(model, 700, undefined, { promptTokens: 10, completionTokens: 100 }).cost).toMatchObject({ total_msats: 700, input_msats: 0, output_msats: 700 });
  });
});
