/**
 * The final cost of a request from its usage, exactly as routstr-core's `calculate_cost`
 * (cost_calculation.py) does it for configured models: the upstream-USD path when the response
 * reports a USD cost, else the token path `ceil(Σ round(tokens/1000 · msat-per-1k, 3))`.
 * Plus the integer RIP-05 form for our asks, and the X-Cashu change.
 */
import { InvalidAmount, msat, pythonRound, type Msat } from '../money/index.ts';
import type { CostData } from '../protocol/cost.ts';
import type { AskPrices } from './gate.ts';
import { normalizeUsage, type NormalizedUsage } from './usage.ts';

/** Which path produced the cost. */
export type CostPath = 'no_usage' | 'usd' | 'tokens' | 'max_cost';


/** CostData plus the path that produced it. */
export interface CostResult extends CostData {
  readonly total_usd: number;
  readonly path: CostPath;
}

/** The `sats_pricing` fields the cost reads (sats per token). */
export interface CostSatsPricing {
  readonly prompt: number;
  readonly completion: number;
  readonly input_cache_read?: number;
  readonly input_cache_write?: number;
}

export interface CostOptions {
  /** The reservation (gate) in msats: billed when the model has zero rates. */
  readonly maxCostMsat: number;
  /** BTC/USD used for `total_usd` and the upstream-USD path (routstr-core's USD per sat × 1e8). */
  readonly btcUsd?: number;
  /** Provider fee multiplier applied on the upstream-USD path (default 1.01). */
  readonly providerFee?: number;
}

const ZERO = {
  base_msats: 0,
  input_msats: 0,
  output_msats: 0,
  total_msats: 0,
  total_usd: 0,
  input_tokens: 0,
  output_tokens: 0,
  cache_read_input_tokens: 0,
  cache_creation_input_tokens: 0,
  cache_read_msats: 0,
  cache_creation_msats: 0,
} as const satisfies CostData;

function coerceUsd(value: unknown): number {
  if (typeof value === 'number') return Number.isFinite(value) ? Math.max(0, value) : 0;
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) return Math.max(0, Number(value));
  return 0;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `_resolve_usd_cost`: cost_details.total_cost, then total_cost/cost in usage, then in the response. */
export function resolveUsdCost(response: Record<string, unknown>): number {
  const usage = isObject(response['usage']) ? response['usage'] : {};
  const details = usage['cost_details'];
  if (isObject(details)) {
    const c = coerceUsd(details['total_cost']);
    if (c > 0) return c;
  }
  for (const source of [usage, response]) {
    for (const field of ['total_cost', 'cost']) {
      const c = coerceUsd(source[field]);
      if (c > 0) return c;
    }
  }
  return 0;
}

/** msats per 1k tokens for (input, output, cache read, cache write), as `_get_pricing_rates`. */
export function ratesPer1k(pricing: CostSatsPricing): [number, number, number, number] {
  const p = pricing.prompt * 1_000_000;
  const c = pricing.completion * 1_000_000;
  const cr = (pricing.input_cache_read ?? 0) > 0 ? (pricing.input_cache_read as number) * 1_000_000 : p;
  const cw = (pricing.input_cache_write ?? 0) > 0 ? (pricing.input_cache_write as number) * 1_000_000 : p;
  return [p, c, cr, cw];
}

/** The token path, `_calculate_from_tokens`. */
export function costFromTokens(usage: NormalizedUsage, pricing: CostSatsPricing, btcUsd?: number): Omit<CostResult, 'path'> {
  const [inRate, outRate, crRate, cwRate] = ratesPer1k(pricing);
  const input = pythonRound((usage.inputTokens / 1000) * inRate, 3);
  const output = pythonRound((usage.outputTokens / 1000) * outRate, 3);
  const cacheRead = pythonRound((usage.cacheReadTokens / 1000) * crRate, 3);
  const cacheWrite = pythonRound((usage.cacheWriteTokens / 1000) * cwRate, 3);
  const total = Math.ceil(input + output + cacheRead + cacheWrite);
  const visibleOutput = Math.trunc(output);
  return {
    base_msats: 0,
    input_msats: total - visibleOutput,
    output_msats: visibleOutput,
    total_msats: total,
    total_usd: btcUsd === undefined ? 0 : (total / 1000) * (btcUsd / 100_000_000),
    input_tokens: usage.inputTokens,
    output_tokens: usage.outputTokens,
    cache_read_input_tokens: usage.cacheReadTokens,
    cache_creation_input_tokens: usage.cacheWriteTokens,
    cache_read_msats: Math.trunc(cacheRead),
    cache_creation_msats: Math.trunc(cacheWrite),
  };
}

/** The upstream-USD path, `_calculate_from_usd_cost` (without the informational cache split). */
export function costFromUsd(
  usdCost: number,
  parts: { inputUsd: number; outputUsd: number },
  usage: NormalizedUsage,
  btcUsd: number,
  providerFee = 1.01,
): Omit<CostResult, 'path'> {
  if (!(btcUsd > 0)) throw new InvalidAmount('BTC/USD rate must be positive');
  const usd = usdCost * providerFee;
  const inputUsd = parts.inputUsd * providerFee;
  const outputUsd = parts.outputUsd * providerFee;
  const satsPerUsd = 1.0 / (btcUsd / 100_000_000);
  const total = Math.ceil(usd * satsPerUsd * 1000);
  let inputMsats: number;
  let outputMsats: number;
  if (inputUsd > 0 || outputUsd > 0) {
    outputMsats = Math.floor((total * outputUsd) / (inputUsd + outputUsd));
    inputMsats = total - outputMsats;
  } else {
    const effectiveInput = usage.inputTokens + usage.cacheReadTokens + usage.cacheWriteTokens;
    const all = effectiveInput + usage.outputTokens;
    inputMsats = all > 0 ? Math.trunc((total * effectiveInput) / all) : 0;
    outputMsats = total - inputMsats;
  }
  return {
    ...ZERO,
    input_msats: inputMsats,
    output_msats: outputMsats,
    total_msats: total,
    total_usd: usd,
    input_tokens: usage.inputTokens,
    output_tokens: usage.outputTokens,
    cache_read_input_tokens: usage.cacheReadTokens,
    cache_creation_input_tokens: usage.cacheWriteTokens,
  };
}

/**
 * `calculate_cost` for a configured model: no usage → 0; reported USD (and a BTC/USD rate) →
 * USD path; zero rates → the whole reservation; else the token path.
 */
export function costFromResponse(response: unknown, pricing: CostSatsPricing, options: CostOptions): CostResult {
  const body = isObject(response) ? response : {};
  const usage = normalizeUsage(body['usage']);
  if (!usage) return { ...ZERO, path: 'no_usage' };
  const usd = resolveUsdCost(body);
  if (usd > 0 && options.btcUsd !== undefined) {
    if (usage.inputTokens === 0 && usage.outputTokens === 0 && usage.cacheReadTokens === 0 && usage.cacheWriteTokens === 0) {
      return { ...ZERO, path: 'usd' };
    }
    const details = isObject(body['usage']) && isObject(body['usage']['cost_details']) ? body['usage']['cost_details'] : {};
    const inputUsd = coerceUsd(details['input_cost'] || details['upstream_inference_prompt_cost']);
    const outputUsd = coerceUsd(details['output_cost'] || details['upstream_inference_completions_cost']);
    return { ...costFromUsd(usd, { inputUsd, outputUsd }, usage, options.btcUsd, options.providerFee), path: 'usd' };
  }
  if (!(pricing.prompt && pricing.completion)) {
    return {
      ...ZERO,
      base_msats: options.maxCostMsat,
      total_msats: options.maxCostMsat,
      input_tokens: usage.inputTokens,
      output_tokens: usage.outputTokens,
      cache_read_input_tokens: usage.cacheReadTokens,
      cache_creation_input_tokens: usage.cacheWriteTokens,
      path: 'max_cost',
    };
  }
  return { ...costFromTokens(usage, pricing, options.btcUsd), path: 'tokens' };
}

/** RIP-05 cost for our asks: `ceil(((input + cache) · prompt + output · completion) / 1e6)` msats, integer math. */
export function askCost(ask: AskPrices, usage: NormalizedUsage): Msat {
  const inputTokens = usage.inputTokens + usage.cacheReadTokens + usage.cacheWriteTokens;
  for (const v of [inputTokens, usage.outputTokens]) {
    if (!Number.isSafeInteger(v) || v < 0) throw new InvalidAmount(`token counts must be non-negative integers, got ${String(v)}`);
  }
  const micro = BigInt(inputTokens) * BigInt(ask.prompt) + BigInt(usage.outputTokens) * BigInt(ask.completion);
  return msat(Number((micro + 999_999n) / 1_000_000n));
}

/** X-Cashu change in the token's unit: msat tokens `amount − cost`, sat tokens `amount − ceil(cost/1000)`; never negative. */
export function xCashuChange(token: { amount: number; unit: 'sat' | 'msat' }, costMsat: number): number {
  const spent = token.unit === 'msat' ? costMsat : Math.ceil(costMsat / 1000);
  return Math.max(0, token.amount - spent);
}
