/** Buying tools as plain functions over core Orders: market buy, limit orders and their views (no MCP here). */
import { limitMsat, OrderError, refusalOf, UnreadableOrder, requestShape, type LimitOrder, type LimitOrderRecord, type MarketFetch, type MaxPrice, type Orders, type Receipt } from '@routstr-kit/core';
import { clip } from './bounded-echo.ts';
import type { McpBudget } from './config.ts';
import { requireModel } from './market-tools.ts';
import { ToolError } from './tool-error.ts';

export type MaxPriceInput = number | { prompt_msat_per_mtok: number; completion_msat_per_mtok: number };

export interface ChatInput {
  model: string;
  messages: Array<Record<string, unknown>>;
  max_tokens?: number | undefined;
}

/** The receipt fields a tool result carries. */
export function receiptView(r: Receipt) {
  return {
    request_id: r.requestId,
    provider: r.provider.id,
    provider_url: r.provider.url,
    model: r.model,
    price: { prompt_msat_per_mtok: r.price.prompt, completion_msat_per_mtok: r.price.completion, source: r.price.source, ...(r.price.quoteId ? { quote_id: r.price.quoteId } : {}) },
    ...(r.usage ? { input_tokens: r.usage.inputTokens, output_tokens: r.usage.outputTokens } : {}),
    paid_sat: r.paidSat,
    change_sat: r.changeSat,
    charged_msat: r.chargedMsat,
    verdict: r.verification.verdict,
  };
}

/** The assistant text of an OpenAI chat completion. */
export function answerOf(response: Record<string, unknown>): { answer: string; finish_reason?: string } {
  const choice = (response['choices'] as Array<Record<string, unknown>> | undefined)?.[0];
  const message = choice?.['message'] as Record<string, unknown> | undefined;
  const content = message?.['content'];
  const finish = choice?.['finish_reason'];
  return { answer: typeof content === 'string' ? content : JSON.stringify(content ?? ''), ...(typeof finish === 'string' ? { finish_reason: finish } : {}) };
}

/** Converts the tool's price limit to core's MaxPrice (msat for the shape, or msat/Mtok each way). */
export function toMaxPrice(p: MaxPriceInput): MaxPrice {
  return typeof p === 'number' ? p : { prompt: p.prompt_msat_per_mtok, completion: p.completion_msat_per_mtok };
}

function requestOf(input: ChatInput): { model: string; messages: Array<Record<string, unknown>>; max_tokens?: number } {
  return { model: input.model, messages: input.messages, ...(input.max_tokens !== undefined ? { max_tokens: input.max_tokens } : {}) };
}

/** Refusals a tool reports in core's words (the one hint table); other errors pass through. */
const REFUSED = new Set(['budget_exceeded', 'price_above_limit', 'insufficient_funds', 'all_providers_failed']);

/** Maps core refusals to tool errors worded by core's hint table (which says whether anything was spent). */
export function refusal(error: unknown): never {
  const r = refusalOf(error);
  if (!r || !REFUSED.has(r.code)) throw error;
  // budgets are the server's: no tool argument can raise them
  const where = r.code === 'budget_exceeded' ? " (budgets are set in the server's configuration, not by tools)" : '';
  throw new ToolError(r.code, `${r.message}; ${r.hint ?? ''}${where}`);
}

/** Buys one chat completion now at the market, through the same market-fetch as the framework adapters; refuses above `max_price` or the configured budget. */
export async function chatCompletion(marketFetch: MarketFetch, input: ChatInput & { max_price?: MaxPriceInput | undefined }, signal?: AbortSignal) {
  requireModel((await marketFetch.open()).market, input.model);
  try {
    const settings = input.max_price !== undefined ? { maxPrice: toMaxPrice(input.max_price) } : {};
    const bought = await marketFetch.buy('v1/chat/completions', { ...requestOf(input), stream: false }, settings, signal);
    const response = JSON.parse(await bought.response.text()) as Record<string, unknown>;
    return { ...answerOf(response), receipt: receiptView(await bought.receipt) };
  } catch (error) {
    refusal(error);
  }
}

/** Places a limit buy that rests until the market is at or below `max_price`, or `deadline` passes. */
export function placeOrder(orders: Orders, budget: McpBudget, input: ChatInput & { max_price: MaxPriceInput; deadline: string | number }, now = orders.clock.now()): LimitOrder {
  requireModel(orders.market, input.model);
  const deadline = typeof input.deadline === 'number' ? now + input.deadline * 1000 : Date.parse(input.deadline);
  if (!Number.isFinite(deadline) || deadline <= now) throw new ToolError('invalid_deadline', `deadline ${clip(JSON.stringify(input.deadline))} is not in the future`);
  const maxPrice = toMaxPrice(input.max_price);
  const request = requestOf(input);
  // a limit the budget could never pay is refused up front rather than left to fail at fill time
  const cap = budget.perRequestMaxSat;
  const limit = limitMsat(maxPrice, requestShape(request));
  if (cap !== undefined && limit > cap * 1000) {
    throw new ToolError('budget_exceeded', `a limit of ${limit} msat is above the per-request budget of ${cap} sat; nothing was spent (budgets are set in the server's configuration, not by tools)`);
  }
  try {
    return orders.runWhenCheaper(request, { maxPrice, deadline });
  } catch (error) {
    if (error instanceof OrderError) throw new ToolError(error.code, `${error.message}; nothing was stored or spent`);
    throw error;
  }
}

/** The state of order `id` as tools report it (from the wallet's store, so it survives restarts). */
export function orderView(orders: Orders, id: string) {
  const rec = readable(() => orders.store.limit(id));
  if (!rec) throw new ToolError('unknown_order', `no order "${clip(id)}" in this wallet`);
  return recordView(orders, rec);
}

/** Runs a read of one stored order; a row that cannot be read is a tool error for that order alone. */
function readable<T>(read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (error instanceof UnreadableOrder) throw new ToolError('unreadable_order', `${error.message}; it is left as stored and not resumed`);
    throw error;
  }
}

/** The order `id` as an object that can be cancelled or awaited. */
function liveOrder(orders: Orders, id: string): LimitOrder {
  const order = readable(() => orders.get(id));
  if (!order) throw new ToolError('unknown_order', `no order "${clip(id)}" in this wallet`);
  return order;
}

function recordView(orders: Orders, rec: LimitOrderRecord) {
  const model = String(rec.request['model']);
  const best = rec.state === 'resting' ? orders.market.bestAsk(model, rec.shape) : undefined;
  const result = rec.result as { response?: Record<string, unknown>; receipt?: Receipt; fill?: { price: { msat: number }; provider: string; quote?: string; restedMs: number } } | null;
  const error = rec.error as { code: string; message: string; spentSat?: number } | null;
  const receipt = result?.receipt;
  const spent = receipt ? receipt.paidSat - receipt.changeSat : (error?.spentSat ?? 0);
  return {
    id: rec.id,
    state: rec.state,
    model,
    limit_msat: limitMsat(rec.maxPrice as MaxPrice, rec.shape),
    deadline: new Date(rec.deadline).toISOString(),
    ...(best ? { best_ask_msat: best.priceMsat } : {}),
    ...(result?.response ? { answer: answerOf(result.response).answer } : {}),
    ...(result?.fill
      ? { fill: { provider: result.fill.provider, price_msat: result.fill.price.msat, ...(result.fill.quote ? { quote_id: result.fill.quote } : {}), rested_ms: Math.max(0, Math.round(result.fill.restedMs)) } }
      : {}),
    ...(receipt ? { receipt: receiptView(receipt) } : {}),
    ...(error ? { error: { code: error.code, message: error.message, spent_sat: error.spentSat ?? 0 } } : {}),
    spent_sat: spent,
  };
}

export type OrderView = ReturnType<typeof orderView>;

/** Cancels a resting order (nothing spent); a filled or ended order is reported as it is. */
export function cancelOrder(orders: Orders, id: string): OrderView {
  const order = liveOrder(orders, id);
  if (!order.cancel() && order.state !== 'cancelled') {
    if (order.state === 'filling') throw new ToolError('order_filling', `order ${id} is filling now; it is cancelled only if that fill fails`);
    throw new ToolError('order_final', `order ${id} already ended (${order.state})`);
  }
  return orderView(orders, id);
}

/** Every limit order of this wallet, newest first. */
export function listOrders(orders: Orders): OrderView[] {
  return orders.store
    .limitsIn('resting', 'filling', 'filled', 'expired', 'cancelled', 'failed')
    .sort((a, b) => b.createdAt - a.createdAt)
    .map((r) => recordView(orders, r));
}

/** Settles when order `id` ends (filled, expired, cancelled, failed), calling `onProgress` on book changes while it rests. */
export async function waitForOrder(orders: Orders, id: string, onProgress: (view: OrderView) => void, signal?: AbortSignal): Promise<OrderView> {
  const order = liveOrder(orders, id);
  const model = order.model;
  const off = orders.market.onAskChange((c) => {
    if (order.state === 'resting' && orders.market.book.resolver.key(model) === c.model) onProgress(orderView(orders, id));
  });
  const onState = (): void => onProgress(orderView(orders, id));
  order.on('state', onState);
  onProgress(orderView(orders, id));
  try {
    await Promise.race([
      order.result.catch(() => undefined),
      new Promise((_, reject) => {
        if (signal?.aborted) reject(signal.reason);
        signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
      }),
    ]);
  } finally {
    off();
    order.off('state', onState);
  }
  return orderView(orders, id);
}
