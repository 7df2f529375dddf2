import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { msatPerMtok, satsPerTokenToMsatPerMtok } from '../money/index.ts';
import {
  ProtocolError,
  buildModel,
  buildModelsBody,
  calculateMaxCosts,
  parseModelsBody,
  parseModelsBodyLenient,
  pricingFromAsk,
  satsPricingFromUsd,
  serializeModelsBody,
  type Model,
} from './index.ts';

const fixtures = new URL('../../../../fixtures/routstr/', import.meta.url);
const raw = JSON.parse(readFileSync(new URL('v1_models_constructed.json', fixtures), 'utf8')) as { data: Record<string, unknown>[] };
const fixtureModel = raw.data[0] as Record<string, unknown>;

// python3 -c 'json.dumps(json.load(open("v1_models_constructed.json")), ensure_ascii=False, separators=(",",":"))'
const PYTHON_BYTES =
  '{"data":[{"id":"gpt-4o-mini","name":"OpenAI: GPT-4o-mini","created":1721260800,"description":"(upstream OpenRouter description)","context_length":128000,"architecture":{"modality":"text+image->text","input_modalities":["text","image","file"],"output_modalities":["text"],"tokenizer":"GPT","instruct_type":null},"pricing":{"prompt":1.515e-07,"completion":6.06e-07,"request":0.0,"image":0.00021917,"web_search":0.0,"internal_reasoning":0.0,"input_cache_read":7.575e-08,"input_cache_write":0.0,"max_prompt_cost":0.019392,"max_completion_cost":0.009928704,"max_cost":0.026838528},"sats_pricing":{"prompt":0.0001515,"completion":0.000606,"request":0.001,"image":0.21917,"web_search":0.0,"internal_reasoning":0.0,"input_cache_read":7.575e-05,"input_cache_write":0.0,"max_prompt_cost":19.392,"max_completion_cost":9.928704,"max_cost":26.838528},"per_request_limits":null,"top_provider":{"context_length":128000,"max_completion_tokens":16384,"is_moderated":true},"enabled":true,"upstream_provider_id":"openrouter","canonical_slug":"openai/gpt-4o-mini","alias_ids":null,"forwarded_model_id":null}]}';

describe('/v1/models', () => {
  it('parses the fixture, rebuilds it in key order and serialises the exact FastAPI bytes', () => {
    const models = parseModelsBody(raw);
    expect(models).toHaveLength(1);
    const rebuilt = buildModelsBody(models as Parameters<typeof buildModelsBody>[0]);
    expect(JSON.stringify(rebuilt)).toBe(JSON.stringify(raw));
    expect(serializeModelsBody(rebuilt)).toBe(PYTHON_BYTES);
  });

  it('recomputes max costs and sats_pricing exactly as routstr-core (fee 1.01 baked in, BTC 100 000 USD)', () => {
    const m = parseModelsBody(raw)[0] as Model;
    const usd = m.pricing;
    expect(calculateMaxCosts(usd, m)).toEqual({ max_prompt_cost: usd.max_prompt_cost, max_completion_cost: usd.max_completion_cost, max_cost: usd.max_cost });
    const full = buildModel(m as Parameters<typeof buildModel>[0]).pricing as Parameters<typeof satsPricingFromUsd>[0];
    expect(satsPricingFromUsd(full, 100_000)).toEqual(fixtureModel['sats_pricing']);
  });

  it('covers every max-cost case of _calculate_usd_max_costs', () => {
    const p = { prompt: 1, completion: 2, request: 0.5 };
    expect(calculateMaxCosts(p, { top_provider: { context_length: 100, max_completion_tokens: 200 } })).toEqual({ max_prompt_cost: 100, max_completion_cost: 200, max_cost: 200 });
    expect(calculateMaxCosts(p, { top_provider: { context_length: 100 } })).toEqual({ max_prompt_cost: 100, max_completion_cost: 200, max_cost: 200 });
    expect(calculateMaxCosts(p, { top_provider: { max_completion_tokens: 10 } })).toEqual({ max_prompt_cost: 10, max_completion_cost: 20, max_cost: 20 });
    expect(calculateMaxCosts(p, { context_length: 7, top_provider: { context_length: null } })).toEqual({ max_prompt_cost: 7, max_completion_cost: 14, max_cost: 14 });
    expect(calculateMaxCosts(p, {})).toEqual({ max_prompt_cost: 1e6, max_completion_cost: 64_000, max_cost: 1e6 + 64_000 + 50_000 });
  });

  it('prices our asks the routstr-core way, and they convert back to the same msat/Mtok', () => {
    const ask = { prompt: msatPerMtok(151_500), completion: msatPerMtok(606_000) };
    const { pricing, sats_pricing } = pricingFromAsk(ask, 100_000, { top_provider: { context_length: 128_000, max_completion_tokens: 16_384 } });
    expect(satsPerTokenToMsatPerMtok(sats_pricing.prompt)).toBe(151_500);
    expect(satsPerTokenToMsatPerMtok(sats_pricing.completion)).toBe(606_000);
    expect(sats_pricing.max_cost).toBeCloseTo(26.838528, 9);
    expect(sats_pricing.request).toBe(0.001);
    expect(pricing.prompt).toBeCloseTo(1.515e-7, 15);
  });

  it('accepts a null sats_pricing and keeps unknown fields', () => {
    const m = { ...fixtureModel, sats_pricing: null, vendor_extra: { x: 1 } };
    const [parsed] = parseModelsBody({ data: [m], object: 'list' });
    expect(parsed?.sats_pricing).toBeNull();
    expect((parsed as Record<string, unknown>)['vendor_extra']).toEqual({ x: 1 });
  });

  it('names the wrong field', () => {
    const bad = { data: [fixtureModel, { ...fixtureModel, pricing: { prompt: '0.1', completion: 1 } }] };
    try {
      parseModelsBody(bad);
      throw new Error('expected a ProtocolError');
    } catch (e) {
      expect(e).toBeInstanceOf(ProtocolError);
      expect((e as ProtocolError).field).toBe('data.1.pricing.prompt');
      expect((e as ProtocolError).code).toBe('invalid_type');
    }
    const lenient = parseModelsBodyLenient(bad);
    expect(lenient.models).toHaveLength(1);
    expect(lenient.rejected[0]?.index).toBe(1);
    const missing = parseModelsBodyLenient({ data: [{ ...fixtureModel, id: undefined }] });
    expect(missing.rejected[0]?.error).toMatchObject({ field: 'data.0.id', code: 'missing_field' });
  });

  it('fuzz: arbitrary bodies give models or a ProtocolError', () => {
    const mutatedModel = fc
      .dictionary(fc.constantFrom(...Object.keys(fixtureModel)), fc.oneof(fc.anything(), fc.constant(null)), { maxKeys: 3 })
      .map((patch) => ({ ...fixtureModel, ...patch }));
    fc.assert(
      fc.property(fc.oneof(fc.anything(), fc.array(mutatedModel, { maxLength: 3 }).map((data) => ({ data }))), (body) => {
        try {
          parseModelsBody(body);
        } catch (e) {
          expect(e).toBeInstanceOf(ProtocolError);
        }
        expect(() => parseModelsBodyLenient({ data: [body] })).not.toThrow();
      }),
      { numRuns: 300 },
    );
  });
});
