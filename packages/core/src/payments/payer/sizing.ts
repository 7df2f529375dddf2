/**
 * How much to pay a provider for one request: at least the gate the node will compute from its
 * own `/v1/models` entry (routstr-core's formula, core `pricing`), raised to an estimate of the
 * real cost (the SDK's chars/2.84 prompt heuristic plus chat-template overhead, max_tokens of
 * output) and a small margin, capped at the model's `max_cost`. A quoted request is sized at the
 * quote's prices.
 */
import type { MsatPerMtok } from '../../money/index.ts';
import { requestGate, type GateModel } from '../../pricing/index.ts';
import { pricingFromAsk, type Model } from '../../protocol/index.ts';
import type { RequestShape } from '../../market/index.ts';

/** How generously to size a payment above the gate. */
export interface SizingOptions {
  /** Percent on top of the estimate (default 5, as the routstr SDK). */
  readonly marginPercent?: number;
  /** Whole sats on top (default 1: sat tokens round the charge up, so leave room for it). */
  readonly extraSat?: number;
  /** Output tokens assumed when the body sets no max_tokens (default 256). */
  readonly defaultMaxTokens?: number;
}

/** What a request will be sized at. */
export interface Sizing {
  /** The node's gate, msats (what the token must at least cover). */
  readonly gateMsat: number;
  /** Estimated real cost, msats. */
  readonly estimateMsat: number;
  /** Face value to pay, sats. */
  readonly amountSat: number;
  /** `max_cost` of the model, sats (the amount never exceeds it unless the gate does). */
  readonly capSat: number;
}

/** Tokens a chat template adds per message and per request (generous: small models' templates are verbose). */
const TEMPLATE_TOKENS_PER_MESSAGE = 8;
const TEMPLATE_TOKENS_PER_REQUEST = 8;

function textChars(body: Record<string, unknown>): { chars: number; messages: number } {
  let chars = 0;
  let messages = 0;
  const count = (v: unknown): void => {
    if (typeof v === 'string') chars += [...v].length;
    else if (Array.isArray(v)) v.forEach(count);
    else if (typeof v === 'object' && v !== null) {
      const o = v as Record<string, unknown>;
      if (typeof o['text'] === 'string') count(o['text']);
      if (o['content'] !== undefined) count(o['content']);
    }
  };
  if (Array.isArray(body['messages'])) {
    for (const m of body['messages']) {
      messages += 1;
      count(m);
      const calls = (m as Record<string, unknown> | null)?.['tool_calls'];
      if (calls !== undefined) chars += JSON.stringify(calls).length;
    }
  }
  if (body['tools'] !== undefined) chars += JSON.stringify(body['tools']).length;
  for (const key of ['prompt', 'input']) count(body[key]);
  return { chars, messages };
}

/** Expected prompt and output tokens of a request body (the selection shape too). */
export function requestShape(body: Record<string, unknown>, options: SizingOptions = {}): RequestShape {
  const { chars, messages } = textChars(body);
  const inputTokens = Math.ceil(chars / 2.84) + messages * TEMPLATE_TOKENS_PER_MESSAGE + (messages > 0 ? TEMPLATE_TOKENS_PER_REQUEST : 0);
  const raw = body['max_tokens'] ?? body['max_completion_tokens'];
  const maxTokens = typeof raw === 'number' && Number.isSafeInteger(raw) && raw >= 0 ? raw : (options.defaultMaxTokens ?? 256);
  return { inputTokens, outputTokens: maxTokens };
}

/** Sizes a payment for `body` at `model`'s advertised (or quoted) sats pricing. */
export function sizeRequest(model: Model, body: Record<string, unknown>, options: SizingOptions = {}): Sizing {
  const gateMsat = requestGate(model as GateModel, body);
  const sats = model.sats_pricing;
  const shape = requestShape(body, options);
  const estimateMsat = sats ? Math.ceil(shape.inputTokens * sats.prompt * 1000 + shape.outputTokens * sats.completion * 1000) : gateMsat;
  const margin = 1 + (options.marginPercent ?? 5) / 100;
  const wanted = Math.ceil((Math.max(gateMsat, estimateMsat) * margin) / 1000) + (options.extraSat ?? 1);
  const gateSat = Math.ceil(gateMsat / 1000);
  const maxCost = sats?.max_cost ?? 0;
  const capSat = maxCost > 0 ? Math.max(gateSat, Math.ceil(maxCost)) : Number.MAX_SAFE_INTEGER;
  return { gateMsat, estimateMsat, amountSat: Math.max(gateSat, Math.min(wanted, capSat)), capSat };
}

/**
 * The Model as the node bills it under a quote (`X-Routstr-Quote`): its limits, the quote's
 * prices, converted the way routstr-core converts (the node's BTC/USD read back from its own
 * `pricing` ÷ `sats_pricing`, so the sats figures match).
 */
export function quotedModel(model: Model, ask: { prompt: MsatPerMtok; completion: MsatPerMtok }): Model {
  const sats = model.sats_pricing;
  const btcUsd = sats && sats.completion > 0 && model.pricing.completion > 0 ? (model.pricing.completion / sats.completion) * 1e8 : 100_000;
  const limits = { context_length: model.context_length, top_provider: model.top_provider ?? null };
  const { pricing, sats_pricing } = pricingFromAsk(ask, btcUsd, limits);
  // keep the Model's shape; only the prices move
  return { ...model, pricing: { ...model.pricing, ...pricing }, sats_pricing: { ...(model.sats_pricing ?? {}), ...sats_pricing } } as Model;
}
