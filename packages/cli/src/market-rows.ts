/**
 * The rows `routstr-kit market` shows, computed from the market and the watch: one per model for
 * the table, and one model's book. The shapes follow the market-data API (`/api/models`,
 * `/api/models/{id}/book`), so the piped JSON lines read like the service's answers.
 */
import { msat, msatToSatCeil, priceForShape, type Market } from '@routstr-kit/core';
import { TYPICAL_SHAPE, type MarketWatch, type TickEntry } from './market-watch.ts';

/** A price per million tokens and what the typical request costs at it. */
export interface PriceView {
  readonly promptMsatPerMtok: number;
  readonly completionMsatPerMtok: number;
  readonly typicalRequestMsat: number;
  readonly typicalRequestSat: number;
}

/** One line of the models table. */
export interface ModelRow {
  readonly id: string;
  readonly bestAsk: (PriceView & { readonly provider: string }) | null;
  readonly median: PriceView | null;
  /** Typical-request msat of the 2nd-best ask minus the best; null with fewer than 2 asks. */
  readonly spreadMsat: number | null;
  readonly providers: number;
  readonly lastTickAt: number | null;
  /** The best ask's recent typical-request msat, oldest first. */
  readonly spark: readonly number[];
}

/** One provider's ask in a model's book. */
export interface BookAsk extends PriceView {
  readonly provider: string;
  readonly pubkey: string;
  readonly name: string;
  readonly url: string;
  readonly source: string;
  readonly load: number | null;
  readonly latencyMs: number | null;
  readonly updatedAt: number;
}

/** A model's book: asks cheapest first (typical request), recent ticks newest first. */
export interface ModelBook {
  readonly model: string;
  readonly asks: readonly BookAsk[];
  readonly ticks: readonly TickEntry[];
}

export type SortOrder = 'price' | 'providers';
export const SORT_ORDERS: readonly SortOrder[] = ['price', 'providers'];

/** The price view of an ask (msat per million tokens). */
export function priceView(prompt: number, completion: number): PriceView {
  const typical = priceForShape({ prompt, completion }, TYPICAL_SHAPE);
  return { promptMsatPerMtok: prompt, completionMsatPerMtok: completion, typicalRequestMsat: typical, typicalRequestSat: msatToSatCeil(msat(typical)) };
}

/** The row of `model`, or undefined when it has no live ask. */
export function modelRow(market: Market, watch: MarketWatch, model: string): ModelRow | undefined {
  const asks = market.book.asks(model, TYPICAL_SHAPE);
  const best = asks[0];
  if (!best) return undefined;
  const price = market.marketPrice(model, TYPICAL_SHAPE);
  const second = asks[1];
  return {
    id: model,
    bestAsk: { provider: best.provider, ...priceView(best.prompt, best.completion) },
    median: price
      ? { promptMsatPerMtok: price.medianPrompt, completionMsatPerMtok: price.medianCompletion, typicalRequestMsat: price.medianMsat, typicalRequestSat: msatToSatCeil(price.medianMsat) }
      : null,
    spreadMsat: second ? second.priceMsat - best.priceMsat : null,
    providers: asks.length,
    lastTickAt: watch.lastTickAt(model) ?? null,
    spark: watch.spark(model),
  };
}

/** Every model with a live ask, sorted: by typical-request best ask, or by providers (most first); ties by id. */
export function modelRows(market: Market, watch: MarketWatch, sort: SortOrder): ModelRow[] {
  const rows = market.models().flatMap((m) => modelRow(market, watch, m) ?? []);
  const byPrice = (r: ModelRow): number => r.bestAsk?.typicalRequestMsat ?? Number.POSITIVE_INFINITY;
  return rows.sort((a, b) => (sort === 'price' ? byPrice(a) - byPrice(b) : b.providers - a.providers) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** `model`'s book: every live ask with its provider's name, load from ticks and probe latency. */
export function modelBook(market: Market, watch: MarketWatch, model: string): ModelBook {
  const key = market.book.resolver.key(model);
  const asks = market.book.asks(model, TYPICAL_SHAPE).map((a): BookAsk => {
    const record = market.registry.get(a.provider);
    return {
      provider: a.provider,
      pubkey: record?.pubkey ?? '',
      name: record?.announcement.name ?? '',
      url: record?.urls[0] ?? '',
      ...priceView(a.prompt, a.completion),
      source: a.source,
      load: watch.loadOf(a.provider)?.load ?? null,
      latencyMs: record?.latencyMs === undefined ? null : Math.round(record.latencyMs),
      updatedAt: a.since,
    };
  });
  return { model: key, asks, ticks: watch.ticks(key) };
}
