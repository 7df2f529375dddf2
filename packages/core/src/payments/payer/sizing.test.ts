import { describe, expect, it } from 'vitest';
import { msatPerMtok } from '../../money/index.ts';
import { requestGate } from '../../pricing/index.ts';
import { buildModel, pricingFromAsk, type Model } from '../../protocol/index.ts';
import { quotedModel, requestShape, sizeRequest } from './sizing.ts';

function model(prompt: number, completion: number, btcUsd = 100_000): Model {
  const limits = { context_length: 2048, top_provider: { context_length: 2048, max_completion_tokens: 1024 } };
  const { pricing, sats_pricing } = pricingFromAsk({ prompt: msatPerMtok(prompt), completion: msatPerMtok(completion) }, btcUsd, limits);
  return buildModel({
    id: 'm', name: 'm', created: 0, description: '', context_length: 2048,
    architecture: { modality: 'text->text', input_modalities: ['text'], output_modalities: ['text'], tokenizer: 'Other', instruct_type: null },
    pricing, sats_pricing, top_provider: { context_length: 2048, max_completion_tokens: 1024, is_moderated: false }, upstream_provider_id: 'test',
  });
}

const body = { model: 'm', messages: [{ role: 'user', content: 'Say hi to the market, number 7' }], max_tokens: 8 };

describe('sizeRequest', () => {
  it('pays at least the node gate, above the estimate by the margin, and never above max_cost', () => {
    const m = model(200_000_000, 1_000_000_000);
    const s = sizeRequest(m, body);
    expect(s.gateMsat).toBe(requestGate(m, body));
    expect(s.amountSat * 1000).toBeGreaterThanOrEqual(s.gateMsat);
    expect(s.amountSat).toBe(Math.ceil((Math.max(s.gateMsat, s.estimateMsat) * 1.05) / 1000) + 1);
    // the estimate counts the chat template: it is above the node's chars/3 prompt guess
    expect(s.estimateMsat).toBeGreaterThan(s.gateMsat);
    const capped = sizeRequest(m, { ...body, max_tokens: 1_000_000 }, { marginPercent: 50 });
    expect(capped.amountSat).toBe(capped.capSat);
    expect(capped.capSat).toBe(Math.ceil(m.sats_pricing?.max_cost ?? 0));
  });

  it('shapes requests from messages and max_tokens (default when absent)', () => {
    expect(requestShape(body)).toEqual({ inputTokens: Math.ceil(30 / 2.84) + 16, outputTokens: 8 });
    expect(requestShape({ messages: [] }, { defaultMaxTokens: 99 }).outputTokens).toBe(99);
  });

  it('prices a quoted request at the quote, with the node\'s own conversion', () => {
    const m = model(200_000_000, 1_000_000_000, 65_000);
    const q = quotedModel(m, { prompt: msatPerMtok(100_000_000), completion: msatPerMtok(500_000_000) });
    const direct = model(100_000_000, 500_000_000, 65_000);
    expect(q.sats_pricing?.completion).toBeCloseTo(direct.sats_pricing?.completion ?? 0, 12);
    expect(requestGate(q, body)).toBe(requestGate(direct, body));
    expect(q.top_provider).toEqual(m.top_provider);
  });
});
