/**
 * The gate: the least a request must be able to pay (token face value for X-Cashu, reservation
 * for Bearer), exactly as routstr-core computes it (`get_max_cost_for_model` then
 * `calculate_discounted_max_cost`, helpers.py). The float steps are reproduced in the same
 * order as Python so the integer msats match bit for bit. Plus the integer RIP-05 form for asks.
 */
import { InvalidAmount, msat, type Msat, type MsatPerMtok } from '../money/index.ts';

/** The `sats_pricing` fields the gate reads (sats per token; max_* sats per request). */
export interface GateSatsPricing {
  readonly prompt: number;
  readonly completion: number;
  readonly max_prompt_cost?: number;
  readonly max_completion_cost?: number;
  readonly max_cost?: number;
}

/** The parts of a `/v1/models` Model the gate reads. */
export interface GateModel {
  readonly sats_pricing?: GateSatsPricing | null;
  readonly context_length?: number | null;
  readonly top_provider?: { readonly context_length?: number | null; readonly max_completion_tokens?: number | null } | null;
}

/** Node settings that change the gate (routstr-core defaults). */
export interface GateSettings {
  /** TOLERANCE_PERCENTAGE, default 1. */
  readonly tolerancePercent?: number;
  /** MIN_REQUEST_MSAT, default 1. */
  readonly minRequestMsat?: number;
  /** FIXED_PRICING, default false. */
  readonly fixedPricing?: boolean;
  /** FIXED_COST_PER_REQUEST in sats, default 1 (also the unknown-model fallback). */
  readonly fixedCostPerRequestSat?: number;
}

/** Step 1, `get_max_cost_for_model`: the model's envelope in msats (`undefined` model = unknown). */
export function maxCostForModel(model: GateModel | undefined, settings: GateSettings = {}): Msat {
  const minRequest = settings.minRequestMsat ?? 1;
  const fixed = (settings.fixedCostPerRequestSat ?? 1) * 1000;
  if (settings.fixedPricing || !model || !model.sats_pricing) return msat(Math.max(minRequest, fixed));
  const tolerance = settings.tolerancePercent ?? 1;
  const maxCost = (model.sats_pricing.max_cost ?? 0) * 1000 * (1 - tolerance / 100);
  return msat(Math.max(minRequest, Math.trunc(maxCost)));
}

/** routstr-core's `estimate_tokens`: characters of string contents and text parts, integer-divided by 3. */
export function estimatePromptTokens(messages: unknown): number {
  if (!Array.isArray(messages)) return 0;
  let total = 0;
  for (const msg of messages) {
    if (typeof msg !== 'object' || msg === null) continue;
    const content = (msg as Record<string, unknown>)['content'];
    if (typeof content === 'string') total += codePoints(content);
    else if (Array.isArray(content)) {
      for (const item of content) {
        if (typeof item === 'object' && item !== null && (item as Record<string, unknown>)['type'] === 'text') {
          const text = (item as Record<string, unknown>)['text'];
          if (typeof text === 'string') total += codePoints(text);
        }
      }
    }
  }
  return Math.floor(total / 3);
}

// Python len() counts code points, JS .length counts UTF-16 units
function codePoints(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/** OpenAI vision tokens for one image, as routstr-core's `_calculate_image_tokens`. */
export function imageTokens(width: number, height: number, detail = 'auto'): number {
  if (detail === 'low') return 85;
  let w = width;
  let h = height;
  for (const bound of [2048, 768]) {
    if (w > bound || h > bound) {
      const aspect = w / h;
      if (w > h) {
        w = bound;
        h = Math.trunc(w / aspect);
      } else {
        h = bound;
        w = Math.trunc(h * aspect);
      }
    }
  }
  const tiles = Math.floor((w + 511) / 512) * Math.floor((h + 511) / 512);
  return 85 + 170 * tiles;
}

// Python int() on a JSON value, or undefined where it would raise (then the node ignores max_tokens)
function pythonInt(value: unknown): number | undefined {
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'number') return Number.isFinite(value) ? Math.trunc(value) : undefined;
  if (typeof value === 'string' && /^\s*[+-]?\d+(_\d+)*\s*$/.test(value)) return Number(value.trim().replace(/_/g, ''));
  return undefined;
}

/** The fields of a request body that bound its output tokens (each per choice). */
export const OUTPUT_BOUND_FIELDS = ['max_tokens', 'max_completion_tokens', 'n_predict'] as const;
/** The fields that multiply the output (choices generated). */
export const OUTPUT_CHOICE_FIELDS = ['n', 'best_of'] as const;

/** How much output a request may produce: `perChoice` tokens (undefined: unbounded) times `choices`. */
export interface OutputBound {
  readonly perChoice: number | undefined;
  readonly choices: number;
}

/**
 * The real output bound of a request, read conservatively so no field can shrink the gate below
 * what the engine may generate: the LARGER of `max_tokens`, `max_completion_tokens` and llama.cpp's
 * `n_predict` (engines disagree on which wins), capped by the model's `max_completion_tokens`
 * (absent: the model's cap); a value that is not a positive integer counts as absent; `n` and
 * `best_of` multiply it. For a body with only `max_tokens` this is routstr-core's reading.
 */
export function outputBound(body: unknown, model: GateModel | undefined): OutputBound {
  const req = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
  const modelMax = model?.top_provider?.max_completion_tokens ?? undefined;
  let asked: number | undefined;
  for (const field of OUTPUT_BOUND_FIELDS) {
    const v = pythonInt(req[field]);
    if (v !== undefined && v > 0) asked = Math.max(asked ?? 0, v);
  }
  const perChoice = modelMax ? Math.min(asked ?? modelMax, modelMax) : asked;
  let choices = 1;
  for (const field of OUTPUT_CHOICE_FIELDS) {
    const v = pythonInt(req[field]);
    if (v !== undefined && v > 1) choices = Math.max(choices, v);
  }
  return { perChoice, choices };
}

/** Extra inputs the node measures itself. */
export interface DiscountOptions extends GateSettings {
  /** Image tokens in the messages (the node downloads images to size them; 85 when it cannot). */
  readonly imageTokens?: number;
}

/** Step 2, `calculate_discounted_max_cost`: the envelope minus unused prompt and completion budgets. */
export function discountedMaxCost(maxCost: Msat, body: unknown, model: GateModel | undefined, options: DiscountOptions = {}): Msat {
  const minRequest = options.minRequestMsat ?? 1;
  const pricing = model?.sats_pricing;
  if (options.fixedPricing || !model || !pricing) return maxCost;
  const req = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
  const tolFactor = Math.max(0, 1 - (options.tolerancePercent ?? 1) / 100);
  let maxPromptAllowed = (pricing.max_prompt_cost ?? 0) * tolFactor;
  const maxCompletionAllowed = (pricing.max_completion_cost ?? 0) * tolFactor;

  let promptLimit: number | undefined;
  const top = model.top_provider;
  if (top && (top.context_length || top.max_completion_tokens)) {
    const cl = top.context_length;
    const mct = top.max_completion_tokens;
    if (cl && mct) promptLimit = Math.max(0, cl - mct);
    else if (cl) promptLimit = cl;
    else if (mct) promptLimit = 0;
  } else if (model.context_length) {
    promptLimit = model.context_length;
  }
  if (promptLimit !== undefined) maxPromptAllowed = promptLimit * pricing.prompt * tolFactor;

  let adjusted: number = maxCost;
  const messages = req['messages'];
  if (isTruthy(messages)) {
    const promptTokens = estimatePromptTokens(messages) + (options.imageTokens ?? 0);
    const delta = maxPromptAllowed - promptTokens * pricing.prompt;
    if (delta > 0) adjusted -= Math.floor(delta * 1000);
  }
  const bound = outputBound(req, model);
  if (bound.perChoice !== undefined) {
    const delta = maxCompletionAllowed - bound.perChoice * bound.choices * pricing.completion;
    if (delta > 0) adjusted -= Math.floor(delta * 1000);
    // Beyond routstr-core (which reads n nowhere): several choices multiply the output, so the gate grows to cover them.
    else if (bound.choices > 1) adjusted += Math.ceil(-delta * 1000);
  }
  // a huge n or max_tokens saturates at the largest exact msat amount (the node refuses such a body anyway)
  return msat(Math.min(Number.MAX_SAFE_INTEGER, Math.max(minRequest, adjusted)));
}

function isTruthy(v: unknown): boolean {
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object' && v !== null) return Object.keys(v).length > 0;
  return Boolean(v);
}

/** The gate routstr-core applies to a request body for a model (steps 1 and 2). */
export function requestGate(model: GateModel | undefined, body: unknown, options: DiscountOptions = {}): Msat {
  return discountedMaxCost(maxCostForModel(model, options), body, model, options);
}

/** An ask in msat/Mtok (RIP-05 in integer form). */
export interface AskPrices {
  readonly prompt: MsatPerMtok;
  readonly completion: MsatPerMtok;
}

/**
 * RIP-05 gate for our own asks: `ceil((promptTokens·prompt + maxTokens·completion) / 1e6)` msats,
 * integer math, at least `minRequestMsat` (default 1).
 */
export function askGate(ask: AskPrices, request: { promptTokens: number; maxTokens: number }, minRequestMsat = 1): Msat {
  for (const [name, v] of [['promptTokens', request.promptTokens], ['maxTokens', request.maxTokens]] as const) {
    if (!Number.isSafeInteger(v) || v < 0) throw new InvalidAmount(`${name} must be a non-negative integer, got ${String(v)}`);
  }
  const micro = BigInt(request.promptTokens) * BigInt(ask.prompt) + BigInt(request.maxTokens) * BigInt(ask.completion);
  const gate = (micro + 999_999n) / 1_000_000n;
  return msat(Math.max(minRequestMsat, Number(gate)));
}
