/** Market read tools as plain functions over a core Market (no MCP here). */
import { DEFAULT_SHAPE, type Market, type PricedAsk, type RequestShape } from '@routstr-kit/core';
import { clip } from './bounded-echo.ts';
import { ToolError } from './tool-error.ts';

export const PRICE_UNITS = 'price_msat: msat for the request shape (1 sat = 1000 msat); *_msat_per_mtok: msat per million tokens (divide by 1000 for sats per million tokens)';

/** An ask as the tools report it. */
export interface AskView {
  provider: string;
  prompt_msat_per_mtok: number;
  completion_msat_per_mtok: number;
  price_msat: number;
  source: 'tick' | 'models' | 'announcement';
  quote_id?: string;
  age_ms: number;
  expires_at?: string;
}

/** Formats a priced ask for a tool result. */
export function askView(ask: PricedAsk, now = Date.now()): AskView {
  return {
    provider: ask.provider,
    prompt_msat_per_mtok: ask.prompt,
    completion_msat_per_mtok: ask.completion,
    price_msat: ask.priceMsat,
    source: ask.source,
    ...(ask.quoteId !== undefined ? { quote_id: ask.quoteId } : {}),
    age_ms: Math.max(0, now - ask.since),
    ...(ask.expiresAt !== undefined ? { expires_at: new Date(ask.expiresAt).toISOString() } : {}),
  };
}

/** Throws unknown_model when the book has no live ask for `model`. */
export function requireModel(market: Market, model: string): void {
  if (!market.bestAsk(model)) {
    const known = market.models();
    const hint = known.length > 0 ? `; models on offer: ${known.slice(0, 10).join(', ')}` : '; the market has no live asks yet';
    throw new ToolError('unknown_model', `no provider offers model "${clip(model)}"${hint}`);
  }
}

/** Best ask, median, spread and effective price of `model` for a request shape. */
export function getMarketPrice(market: Market, input: { model: string; input_tokens?: number | undefined; output_tokens?: number | undefined }) {
  requireModel(market, input.model);
  const shape: RequestShape = { inputTokens: input.input_tokens ?? DEFAULT_SHAPE.inputTokens, outputTokens: input.output_tokens ?? DEFAULT_SHAPE.outputTokens };
  const best = market.bestAsk(input.model, shape);
  const stats = market.marketPrice(input.model, shape);
  if (!best || !stats) throw new ToolError('unknown_model', `no provider offers model "${clip(input.model)}"`);
  return {
    model: input.model,
    providers: stats.asks,
    shape: { input_tokens: shape.inputTokens, output_tokens: shape.outputTokens },
    best: askView(best),
    median: { prompt_msat_per_mtok: stats.medianPrompt, completion_msat_per_mtok: stats.medianCompletion, price_msat: stats.medianMsat },
    spread_msat: stats.spreadMsat,
    price_msat: best.priceMsat,
    price_sat: Math.ceil(best.priceMsat / 1000),
    units: PRICE_UNITS,
  };
}

/** The `depth` cheapest asks of `model` (priced per million tokens each way). */
export function getOrderBook(market: Market, input: { model: string; depth?: number | undefined }) {
  requireModel(market, input.model);
  const now = Date.now();
  return { model: input.model, asks: market.depth(input.model, input.depth ?? 10).map((a) => askView(a, now)), units: PRICE_UNITS };
}

/** Models with live asks, optionally filtered by a substring. */
export function listModels(market: Market, input: { query?: string | undefined }) {
  const q = input.query?.toLowerCase();
  const models = market
    .models()
    .filter((m) => q === undefined || m.toLowerCase().includes(q))
    .sort()
    .flatMap((model) => {
      const asks = market.depth(model, 1000);
      const best = asks[0];
      if (!best) return [];
      return [{ model, providers: asks.length, best_prompt_msat_per_mtok: best.prompt, best_completion_msat_per_mtok: best.completion }];
    });
  return { models, units: 'msat per million tokens' };
}
