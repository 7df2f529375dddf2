import type { ModelPrice, QuoteLookup } from './price-board.ts';

interface Quote {
  readonly prices: ReadonlyMap<string, ModelPrice>;
  readonly expiresAt: number;
}

/**
 * Where published ticks are kept as quotes: in this process's memory (QuoteBook, the default) or
 * shared by every process of a provider (SharedQuoteBook, in PostgreSQL; its calls are async).
 */
export interface QuoteStore {
  /** Remembers a published tick's prices until `expiresAt` (unix s); done once it can be honoured. */
  remember(quoteId: string, prices: readonly ModelPrice[], expiresAt: number): void | Promise<void>;
  /** A quote's prices while it is live (NIP-40: live strictly before `expiresAt`). */
  lookup(quoteId: string, model: string, nowS: number): QuoteLookup | Promise<QuoteLookup>;
}

/** The recent ticks we published, kept as quotes a buyer may pin (`X-Routstr-Quote: <tick id>`). */
export class QuoteBook implements QuoteStore {
  private readonly quotes = new Map<string, Quote>();
  private readonly capacity: number;

  constructor(capacity = 64) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError(`quote capacity must be a positive integer, got ${String(capacity)}`);
    this.capacity = capacity;
  }

  /** Remembers a published tick's prices until `expiresAt` (unix s); the oldest quote goes when full. */
  remember(quoteId: string, prices: readonly ModelPrice[], expiresAt: number): void {
    this.quotes.delete(quoteId);
    this.quotes.set(quoteId, { prices: new Map(prices.map((p) => [p.model, { ...p }])), expiresAt });
    // Map keeps insertion order, so the first key is the oldest quote
    while (this.quotes.size > this.capacity) this.quotes.delete(this.quotes.keys().next().value as string);
  }

  /** A quote's prices while it is live (NIP-40: live strictly before `expiresAt`). */
  lookup(quoteId: string, model: string, nowS: number): QuoteLookup {
    const quote = this.quotes.get(quoteId);
    if (!quote) return { ok: false, reason: 'unknown' };
    if (!(nowS < quote.expiresAt)) return { ok: false, reason: 'expired' };
    if (!quote.prices.has(model)) return { ok: false, reason: 'model_not_quoted' };
    return { ok: true, quoteId, prices: quote.prices, expiresAt: quote.expiresAt };
  }

  /** How many quotes are kept now. */
  get size(): number {
    return this.quotes.size;
  }
}
