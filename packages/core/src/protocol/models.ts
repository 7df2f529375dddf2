/**
 * `GET /v1/models` as routstr-core 0.4.5 serves it: `{"data":[Model…]}` with pydantic's key
 * order. `pricing` is USD per token (request/image/web_search per unit, max_* per request),
 * `sats_pricing` the same in sats (may be null). Unknown fields are kept.
 */
import { z } from 'zod';
import { msatPerMtokToUsdPerToken, type MsatPerMtok } from '../money/index.ts';
import { ProtocolError, fromZodError, parseWith } from './protocol-error.ts';
import { fastApiJson } from './python-json.ts';

export const PRICING_KEYS = [
  'prompt',
  'completion',
  'request',
  'image',
  'web_search',
  'internal_reasoning',
  'input_cache_read',
  'input_cache_write',
  'max_prompt_cost',
  'max_completion_cost',
  'max_cost',
] as const;

export type PricingKey = (typeof PRICING_KEYS)[number];

const num = z.number().refine(Number.isFinite, 'expected a finite number');

/** routstr-core `Pricing`: prompt and completion required, the rest default to 0 there. */
export const pricingSchema = z
  .object({
    prompt: num,
    completion: num,
    request: num.optional(),
    image: num.optional(),
    web_search: num.optional(),
    internal_reasoning: num.optional(),
    input_cache_read: num.optional(),
    input_cache_write: num.optional(),
    max_prompt_cost: num.optional(),
    max_completion_cost: num.optional(),
    max_cost: num.optional(),
  })
  .loose();

export const architectureSchema = z
  .object({
    modality: z.string(),
    input_modalities: z.array(z.string()),
    output_modalities: z.array(z.string()),
    tokenizer: z.string(),
    instruct_type: z.string().nullable().optional(),
  })
  .loose();

export const topProviderSchema = z
  .object({
    context_length: z.number().int().nullable().optional(),
    max_completion_tokens: z.number().int().nullable().optional(),
    is_moderated: z.boolean().nullable().optional(),
  })
  .loose();

/** routstr-core `Model` (the fields core-as-client requires are required here too). */
export const modelSchema = z
  .object({
    id: z.string().min(1),
    name: z.string(),
    created: z.number().int(),
    description: z.string(),
    context_length: z.number().int(),
    architecture: architectureSchema,
    pricing: pricingSchema,
    sats_pricing: pricingSchema.nullable().optional(),
    per_request_limits: z.record(z.string(), z.unknown()).nullable().optional(),
    top_provider: topProviderSchema.nullable().optional(),
    enabled: z.boolean().optional(),
    upstream_provider_id: z.union([z.string(), z.number().int()]).nullable().optional(),
    canonical_slug: z.string().nullable().optional(),
    alias_ids: z.array(z.string()).nullable().optional(),
    forwarded_model_id: z.string().nullable().optional(),
  })
  .loose();

export const modelsBodySchema = z.object({ data: z.array(z.unknown()) }).loose();

export type Pricing = z.infer<typeof pricingSchema>;
export type Architecture = z.infer<typeof architectureSchema>;
export type TopProvider = z.infer<typeof topProviderSchema>;
export type Model = z.infer<typeof modelSchema>;

/** Parses one Model; errors name the field (`pricing.prompt`). */
export function parseModel(input: unknown, field = ''): Model {
  return parseWith(modelSchema, input, field);
}

/** Parses a `/v1/models` body; the first bad model throws, naming `data.<i>.<field>`. */
export function parseModelsBody(input: unknown): Model[] {
  const body = parseWith(modelsBodySchema, input);
  return body.data.map((m, i) => parseModel(m, `data.${i}`));
}

/** Parses a `/v1/models` body keeping the good models and reporting the bad ones. */
export function parseModelsBodyLenient(input: unknown): { models: Model[]; rejected: { index: number; error: ProtocolError }[] } {
  const body = parseWith(modelsBodySchema, input);
  const models: Model[] = [];
  const rejected: { index: number; error: ProtocolError }[] = [];
  body.data.forEach((m, index) => {
    const result = modelSchema.safeParse(m);
    if (result.success) models.push(result.data);
    else rejected.push({ index, error: fromZodError(result.error, `data.${index}`) });
  });
  return { models, rejected };
}

/** All 11 pricing keys in routstr-core order, missing ones as 0 (pydantic defaults). */
export function fullPricing(p: Partial<Record<PricingKey, number>> & { prompt: number; completion: number }): Record<PricingKey, number> {
  const out = {} as Record<PricingKey, number>;
  for (const key of PRICING_KEYS) out[key] = p[key] ?? 0;
  return out;
}

/** What a node needs to describe a model. */
export interface ModelInput {
  readonly id: string;
  readonly name: string;
  readonly created: number;
  readonly description: string;
  readonly context_length: number;
  readonly architecture: {
    modality: string;
    input_modalities: string[];
    output_modalities: string[];
    tokenizer: string;
    instruct_type?: string | null;
  };
  readonly pricing: Partial<Record<PricingKey, number>> & { prompt: number; completion: number };
  readonly sats_pricing?: (Partial<Record<PricingKey, number>> & { prompt: number; completion: number }) | null;
  readonly per_request_limits?: Record<string, unknown> | null;
  readonly top_provider?: { context_length?: number | null; max_completion_tokens?: number | null; is_moderated?: boolean | null } | null;
  readonly enabled?: boolean;
  readonly upstream_provider_id?: string | number | null;
  readonly canonical_slug?: string | null;
  readonly alias_ids?: string[] | null;
  readonly forwarded_model_id?: string | null;
}

/** A Model object in routstr-core's key order with pydantic's defaults filled in. */
export function buildModel(input: ModelInput): Model {
  const top = input.top_provider;
  return {
    id: input.id,
    name: input.name,
    created: input.created,
    description: input.description,
    context_length: input.context_length,
    architecture: {
      modality: input.architecture.modality,
      input_modalities: input.architecture.input_modalities,
      output_modalities: input.architecture.output_modalities,
      tokenizer: input.architecture.tokenizer,
      instruct_type: input.architecture.instruct_type ?? null,
    },
    pricing: fullPricing(input.pricing),
    sats_pricing: input.sats_pricing ? fullPricing(input.sats_pricing) : null,
    per_request_limits: input.per_request_limits ?? null,
    top_provider: top
      ? { context_length: top.context_length ?? null, max_completion_tokens: top.max_completion_tokens ?? null, is_moderated: top.is_moderated ?? null }
      : null,
    enabled: input.enabled ?? true,
    upstream_provider_id: input.upstream_provider_id ?? null,
    canonical_slug: input.canonical_slug ?? null,
    alias_ids: input.alias_ids ?? null,
    forwarded_model_id: input.forwarded_model_id ?? null,
  };
}

/** `{"data":[…]}` (no `object: "list"`, as routstr-core). */
export function buildModelsBody(models: readonly ModelInput[]): { data: Model[] } {
  return { data: models.map(buildModel) };
}

const isPricingFloat = (path: readonly string[]): boolean =>
  path.length === 4 && path[0] === 'data' && (path[2] === 'pricing' || path[2] === 'sats_pricing');

/** The exact bytes routstr-core (FastAPI) sends for a `/v1/models` body: compact, Python float repr. */
export function serializeModelsBody(body: { data: readonly Model[] }): string {
  return fastApiJson(body, isPricingFloat);
}

/**
 * routstr-core's `_calculate_usd_max_costs`: max prompt, completion and total cost per request
 * from the per-token prices and the model's limits (floats, same operation order).
 */
export function calculateMaxCosts(
  pricing: { prompt: number; completion: number; request?: number; image?: number; web_search?: number; internal_reasoning?: number },
  limits: { context_length?: number | null; top_provider?: { context_length?: number | null; max_completion_tokens?: number | null } | null },
  minRequestMsat = 1,
): { max_prompt_cost: number; max_completion_cost: number; max_cost: number } {
  const p = pricing.prompt;
  const c = pricing.completion;
  const top = limits.top_provider;
  const result = (a: number, b: number, m: number) => ({ max_prompt_cost: a, max_completion_cost: b, max_cost: m });
  if (top && (top.context_length || top.max_completion_tokens)) {
    const cl = top.context_length;
    const mct = top.max_completion_tokens;
    if (cl && mct) {
      if (cl <= mct) return result(cl * p, cl * c, cl * Math.max(c, p));
      return result(cl * p, mct * c, (cl - mct) * p + mct * c);
    }
    if (cl) return result(cl * p, cl * c, cl * Math.max(c, p));
    if (mct) return result(mct * p, mct * c, mct * c);
  } else if (limits.context_length) {
    const l = limits.context_length;
    return result(l * p, l * c, l * Math.max(c, p));
  }
  const minReqUsd = Math.max(1, Math.trunc(minRequestMsat)) / 1_000_000;
  const pp = p * 1_000_000;
  const cc = c * 32_000;
  const r = (pricing.request ?? 0) * 100_000;
  const i = (pricing.image ?? 0) * 100;
  const w = (pricing.web_search ?? 0) * 1000;
  const ir = (pricing.internal_reasoning ?? 0) * 100;
  return result(pp, cc, Math.max(pp + cc + r + i + w + ir, minReqUsd));
}

/**
 * routstr-core's `_update_model_sats_pricing`: every USD figure ÷ (BTC/USD ÷ 1e8); `request`
 * at least `min_request_msat/1000`, `max_cost` at least the same.
 */
export function satsPricingFromUsd(pricing: Record<PricingKey, number>, btcUsd: number, minRequestMsat = 1): Record<PricingKey, number> {
  if (!(btcUsd > 0)) throw new ProtocolError('invalid_value', 'btcUsd', 'BTC/USD rate must be positive');
  const satsToUsd = btcUsd / 1e8;
  const minReqSats = Math.max(1, Math.trunc(minRequestMsat)) / 1000;
  const sats = {} as Record<PricingKey, number>;
  for (const key of PRICING_KEYS) sats[key] = pricing[key] / satsToUsd;
  if (sats.request <= 0) sats.request = minReqSats;
  if (sats.max_cost < minReqSats) sats.max_cost = minReqSats;
  return sats;
}

/** `pricing` and `sats_pricing` for one of our asks (msat/Mtok), computed the way routstr-core does. */
export function pricingFromAsk(
  ask: { prompt: MsatPerMtok; completion: MsatPerMtok },
  btcUsd: number,
  limits: { context_length?: number | null; top_provider?: { context_length?: number | null; max_completion_tokens?: number | null } | null },
  minRequestMsat = 1,
): { pricing: Record<PricingKey, number>; sats_pricing: Record<PricingKey, number> } {
  const base = { prompt: msatPerMtokToUsdPerToken(ask.prompt, btcUsd), completion: msatPerMtokToUsdPerToken(ask.completion, btcUsd) };
  const pricing = fullPricing({ ...base, ...calculateMaxCosts(base, limits, minRequestMsat) });
  return { pricing, sats_pricing: satsPricingFromUsd(pricing, btcUsd, minRequestMsat) };
}
