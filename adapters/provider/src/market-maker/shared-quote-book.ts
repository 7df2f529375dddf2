/**
 * Quotes shared by every node process of a provider: the leader stores each tick it publishes in
 * PostgreSQL before the tick goes out, so a buyer pinning it (`X-Routstr-Quote`) is honoured by
 * whichever process its request reaches. This process's own ticks are also kept in memory (no
 * round trip for them); any other id is looked up in the database.
 */
import type { ClusterStore } from './cluster-store.ts';
import type { ModelPrice, QuoteLookup } from './price-board.ts';
import { QuoteBook, type QuoteStore } from './quote-book.ts';

/** A tick id is a Nostr event id: 64 lowercase hex digits. Anything else is unknown without a query. */
const EVENT_ID = /^[0-9a-f]{64}$/;

/** Quotes in PostgreSQL (bounded to the newest `capacity`, expired ones pruned) with this process's in memory. */
export class SharedQuoteBook implements QuoteStore {
  readonly #store: ClusterStore;
  readonly #own: QuoteBook;
  readonly #capacity: number;
  readonly #nowS: () => number;

  /** `nowS` (unix s) dates the pruning of expired quotes. */
  constructor(store: ClusterStore, capacity: number, nowS: () => number) {
    this.#own = new QuoteBook(capacity);
    this.#store = store;
    this.#capacity = capacity;
    this.#nowS = nowS;
  }

  async remember(quoteId: string, prices: readonly ModelPrice[], expiresAt: number): Promise<void> {
    this.#own.remember(quoteId, prices, expiresAt);
    await this.#store.insertQuote(quoteId, prices, expiresAt, this.#nowS(), this.#capacity);
  }

  async lookup(quoteId: string, model: string, nowS: number): Promise<QuoteLookup> {
    const own = this.#own.lookup(quoteId, model, nowS);
    if (own.ok || own.reason !== 'unknown' || !EVENT_ID.test(quoteId)) return own;
    const stored = await this.#store.quote(quoteId);
    if (!stored) return { ok: false, reason: 'unknown' };
    if (!(nowS < stored.expiresAt)) return { ok: false, reason: 'expired' };
    const prices = new Map(stored.prices.map((p) => [p.model, p]));
    if (!prices.has(model)) return { ok: false, reason: 'model_not_quoted' };
    return { ok: true, quoteId, prices, expiresAt: stored.expiresAt };
  }
}
