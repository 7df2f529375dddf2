/**
 * The price board: what the HTTP node reads to bill and advertise, and what the market maker
 * writes. Prices are integer msat per million tokens, per served model.
 */
import { msatPerMtok, type MsatPerMtok } from '@routstr-kit/core';
import { QuoteBook, type QuoteStore } from './quote-book.ts';

export interface ModelPrice {
  model: string;
  prompt: MsatPerMtok;
  completion: MsatPerMtok;
}

export type QuoteLookup =
  | { ok: true; quoteId: string; prices: ReadonlyMap<string, ModelPrice>; expiresAt: number /* unix s */ }
  | { ok: false; reason: 'unknown' | 'expired' | 'model_not_quoted' };

/** What the HTTP node reads to bill and advertise; what the market maker writes. */
export interface PriceBoard {
  /** Prices in force now, by served model id. */
  current(): ReadonlyMap<string, ModelPrice>;
  /** A signed tick we published (kind 28421 event id) used as a quote: its prices while unexpired (async when quotes are shared). */
  quote(quoteId: string, model: string, nowS?: number): QuoteLookup | Promise<QuoteLookup>;
  /** Called on every price change (after the board is updated). Returns an unsubscribe function. */
  onChange(listener: (prices: ReadonlyMap<string, ModelPrice>) => void): () => void;
}

/** The node's own load counters, written by the HTTP node, read by the market maker's load monitor. */
export interface NodeLoad {
  capacity: number;
  inFlight: number;
  queued: number;
  /** 429s in the last `windowMs` */
  rejectedRecently(windowMs: number): number;
}

/** A board the market maker writes: prices in force and the quotes (published ticks) behind them. */
export interface WritablePriceBoard extends PriceBoard {
  /** Puts new prices in force; listeners hear of it only when something changed. Returns whether it did. */
  set(prices: readonly ModelPrice[]): boolean;
  /** Remembers a published tick as a quote until `expiresAt` (unix s); settled once any reader can honour it. */
  rememberQuote(quoteId: string, prices: readonly ModelPrice[], expiresAt: number): void | Promise<void>;
}

function checked(prices: readonly ModelPrice[]): Map<string, ModelPrice> {
  const map = new Map<string, ModelPrice>();
  for (const p of prices) {
    if (typeof p.model !== 'string' || p.model === '') throw new RangeError('a model price needs a model id');
    if (map.has(p.model)) throw new RangeError(`model ${p.model} is priced twice`);
    map.set(p.model, { model: p.model, prompt: msatPerMtok(p.prompt), completion: msatPerMtok(p.completion) });
  }
  return map;
}

function samePrices(a: ReadonlyMap<string, ModelPrice>, b: ReadonlyMap<string, ModelPrice>): boolean {
  if (a.size !== b.size) return false;
  for (const [model, p] of a) {
    const q = b.get(model);
    if (!q || q.prompt !== p.prompt || q.completion !== p.completion) return false;
  }
  return true;
}

/** A board whose prices the owner sets; keeps the most recent `quoteCapacity` quotes (in memory unless `quotes` is given). */
export function createPriceBoard(initial: readonly ModelPrice[], options: { quoteCapacity?: number; quotes?: QuoteStore } = {}): WritablePriceBoard {
  let prices: ReadonlyMap<string, ModelPrice> = checked(initial);
  const quotes: QuoteStore = options.quotes ?? new QuoteBook(options.quoteCapacity);
  const listeners = new Set<(prices: ReadonlyMap<string, ModelPrice>) => void>();
  return {
    current: () => prices,
    quote: (quoteId, model, nowS = Math.floor(Date.now() / 1000)) => quotes.lookup(quoteId, model, nowS),
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    set(next) {
      const map = checked(next);
      if (samePrices(map, prices)) return false;
      prices = map;
      for (const listener of [...listeners]) listener(prices);
      return true;
    },
    rememberQuote: (quoteId, quoted, expiresAt) => quotes.remember(quoteId, quoted, expiresAt),
  };
}

/** Limit sell at constant prices (no quotes unless ticks are published). */
export function createFixedPriceBoard(prices: ModelPrice[]): PriceBoard {
  return createPriceBoard(prices);
}
