/**
 * The order book: per model, one ask per provider. Each provider can quote a model from three
 * sources; the effective ask is a live tick, else the `/v1/models` price (what the node bills),
 * else the announcement's `model` tag. Ingest is the hot path: no sorting, no allocation when
 * nobody listens; queries sort lazily and cache per model.
 */
import { msat, type Msat, type MsatPerMtok } from '../money/index.ts';
import { ChangeStream, type ChangeIterationOptions } from './change-stream.ts';
import { systemClock, type MarketClock } from './clock.ts';
import { ModelIdResolver } from './model-id.ts';

/** Where a price came from. */
export type AskSource = 'announcement' | 'models' | 'tick';

/** Precedence of sources, strongest first. */
const SOURCE_ORDER: readonly AskSource[] = ['tick', 'models', 'announcement'];

/** A price for one model as a source states it (the shape of protocol's `ModelAsk`). */
export interface AskQuote {
  readonly model: string;
  readonly prompt: MsatPerMtok;
  readonly completion: MsatPerMtok;
}

/** One provider's live ask for one model. */
export interface Ask {
  readonly provider: string;
  /** The book key (vendor prefix stripped, aliases applied). */
  readonly model: string;
  /** The id the provider itself uses (send this one in the request body). */
  readonly providerModelId: string;
  readonly prompt: MsatPerMtok;
  readonly completion: MsatPerMtok;
  readonly source: AskSource;
  /** Epoch ms after which this price no longer holds; undefined = until replaced. */
  readonly expiresAt: number | undefined;
  /** Epoch ms when this price was set. */
  readonly since: number;
  /** The tick's event id (usable as `X-Routstr-Quote`), for tick asks. */
  readonly quoteId: string | undefined;
  readonly seq: number | undefined;
}

/** Expected tokens of a request; prices for a shape are msats, rounded up. */
export interface RequestShape {
  readonly inputTokens: number;
  readonly outputTokens: number;
}

/** Ranking shape when none is given: one million tokens each way, so the price is prompt + completion. */
export const DEFAULT_SHAPE: RequestShape = { inputTokens: 1_000_000, outputTokens: 1_000_000 };

/** An ask with its price for a request shape. */
export interface PricedAsk extends Ask {
  readonly priceMsat: Msat;
}

/** The market price of a model for a shape: median of live asks and their spread. */
export interface MarketPrice {
  readonly model: string;
  readonly shape: RequestShape;
  readonly asks: number;
  readonly bestMsat: Msat;
  readonly medianMsat: Msat;
  readonly worstMsat: Msat;
  /** worst − best: with asks only (no bids) the spread is the range of asks. */
  readonly spreadMsat: Msat;
  readonly medianPrompt: MsatPerMtok;
  readonly medianCompletion: MsatPerMtok;
}

/** One provider's ask for one model changed (appeared, moved or left). */
export interface AskChange {
  readonly model: string;
  readonly provider: string;
  readonly previous: Ask | undefined;
  readonly current: Ask | undefined;
  readonly at: number;
}

/** The best ask (default shape) of a model changed. */
export interface BestAskChange {
  readonly model: string;
  readonly previous: Ask | undefined;
  readonly current: Ask | undefined;
  readonly at: number;
}

/** Options for setting a source's asks. */
export interface SetAsksOptions {
  /** Epoch ms after which these prices lapse. */
  readonly expiresAt?: number | undefined;
  /** Tick sequence; a tick whose seq is not above the provider's last one is ignored. */
  readonly seq?: number | undefined;
  readonly quoteId?: string | undefined;
}

export interface OrderBookOptions {
  readonly clock?: MarketClock;
  readonly resolver?: ModelIdResolver;
}

interface SourceEntry {
  readonly asks: Map<string, Ask>;
  readonly expiresAt: number | undefined;
}

interface ProviderEntry {
  readonly sources: Map<AskSource, SourceEntry>;
  lastSeq: number | undefined;
}

interface ModelEntry {
  readonly asks: Map<string, Ask>;
  best: Ask | undefined;
  sorted: PricedAsk[] | undefined;
}

/** msats for `shape` at an ask's prices, rounded up (integer math). */
export function priceForShape(ask: { readonly prompt: number; readonly completion: number }, shape: RequestShape): Msat {
  const micro = shape.inputTokens * ask.prompt + shape.outputTokens * ask.completion;
  if (Number.isSafeInteger(micro)) {
    // float division can land one off near integers; settle on the exact floor quotient
    let q = Math.floor(micro / 1_000_000);
    if (q * 1_000_000 > micro) q -= 1;
    else if ((q + 1) * 1_000_000 <= micro) q += 1;
    return msat(q * 1_000_000 === micro ? q : q + 1);
  }
  const big = BigInt(shape.inputTokens) * BigInt(ask.prompt) + BigInt(shape.outputTokens) * BigInt(ask.completion);
  return msat(Number((big + 999_999n) / 1_000_000n));
}

function checkShape(shape: RequestShape): void {
  for (const v of [shape.inputTokens, shape.outputTokens]) {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`token counts must be non-negative integers, got ${String(v)}`);
  }
}

// cheaper first; equal prices ordered by provider id so every reader sees the same book
function better(a: Ask, b: Ask): boolean {
  const pa = a.prompt + a.completion;
  const pb = b.prompt + b.completion;
  return pa < pb || (pa === pb && a.provider < b.provider);
}

function samePrice(a: Ask, b: Ask): boolean {
  return (
    a.prompt === b.prompt &&
    a.completion === b.completion &&
    a.source === b.source &&
    a.providerModelId === b.providerModelId &&
    a.quoteId === b.quoteId
  );
}

function medianOf(values: number[]): number {
  values.sort((x, y) => x - y);
  const mid = values.length >> 1;
  // even count: lower of the two middles plus half the gap, rounded down (integers stay integers)
  return values.length % 2 === 1 ? (values[mid] as number) : Math.floor(((values[mid - 1] as number) + (values[mid] as number)) / 2);
}

/** Asks per model, one per provider; usable standalone (fed parsed asks) or inside a market. */
export class OrderBook {
  readonly resolver: ModelIdResolver;
  readonly askChanges = new ChangeStream<AskChange>();
  readonly bestAskChanges = new ChangeStream<BestAskChange>();
  readonly #clock: MarketClock;
  readonly #providers = new Map<string, ProviderEntry>();
  readonly #models = new Map<string, ModelEntry>();
  readonly #expiring = new Set<string>();
  #nextExpiry = Number.POSITIVE_INFINITY;
  #sweeping = false;

  constructor(options: OrderBookOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    this.resolver = options.resolver ?? new ModelIdResolver();
  }

  /**
   * Replaces everything `provider` quotes through `source` with `quotes`. Returns false (and
   * changes nothing) for a tick whose `seq` is not above the last one seen from the provider.
   */
  setAsks(provider: string, source: AskSource, quotes: readonly AskQuote[], options: SetAsksOptions = {}): boolean {
    let entry = this.#providers.get(provider);
    if (source === 'tick' && options.seq !== undefined) {
      if (entry?.lastSeq !== undefined && options.seq <= entry.lastSeq) return false;
    }
    if (!entry) {
      entry = { sources: new Map(), lastSeq: undefined };
      this.#providers.set(provider, entry);
    }
    if (source === 'tick' && options.seq !== undefined) entry.lastSeq = options.seq;
    const now = this.#clock.now();
    const asks = new Map<string, Ask>();
    for (const quote of quotes) {
      const key = this.resolver.key(quote.model);
      if (asks.has(key)) continue;
      asks.set(key, {
        provider,
        model: key,
        providerModelId: quote.model,
        prompt: quote.prompt,
        completion: quote.completion,
        source,
        expiresAt: options.expiresAt,
        since: now,
        quoteId: options.quoteId,
        seq: options.seq,
      });
    }
    const old = entry.sources.get(source);
    if (asks.size > 0) entry.sources.set(source, { asks, expiresAt: options.expiresAt });
    else entry.sources.delete(source);
    if (options.expiresAt !== undefined && asks.size > 0) {
      this.#expiring.add(provider);
      if (options.expiresAt < this.#nextExpiry) this.#nextExpiry = options.expiresAt;
    }
    if (old) for (const key of old.asks.keys()) if (!asks.has(key)) this.#recompute(provider, entry, key, now);
    for (const key of asks.keys()) this.#recompute(provider, entry, key, now);
    if (entry.sources.size === 0 && entry.lastSeq === undefined) this.#providers.delete(provider);
    return true;
  }

  /** Drops what `provider` quotes through `source`. */
  removeSource(provider: string, source: AskSource): void {
    const entry = this.#providers.get(provider);
    const old = entry?.sources.get(source);
    if (!entry || !old) return;
    entry.sources.delete(source);
    const now = this.#clock.now();
    for (const key of old.asks.keys()) this.#recompute(provider, entry, key, now);
  }

  /** Takes a provider off the book entirely (its tick sequence is forgotten too). */
  removeProvider(provider: string): void {
    const entry = this.#providers.get(provider);
    if (!entry) return;
    const keys = new Set<string>();
    for (const s of entry.sources.values()) for (const k of s.asks.keys()) keys.add(k);
    entry.sources.clear();
    this.#providers.delete(provider);
    this.#expiring.delete(provider);
    const now = this.#clock.now();
    for (const key of keys) this.#recompute(provider, entry, key, now);
  }

  /** Applies expiries due at the clock's time (queries do this on their own); emits the changes. */
  sweep(): void {
    const now = this.#clock.now();
    // a listener that queries the book while a sweep emits must not start another sweep
    if (now < this.#nextExpiry || this.#sweeping) return;
    this.#sweeping = true;
    try {
      this.#sweepDue(now);
    } finally {
      this.#sweeping = false;
    }
  }

  #sweepDue(now: number): void {
    let next = Number.POSITIVE_INFINITY;
    // listeners may add expiring asks while this runs; setAsks lowers #nextExpiry for them
    this.#nextExpiry = Number.POSITIVE_INFINITY;
    for (const provider of [...this.#expiring]) {
      const entry = this.#providers.get(provider);
      if (!entry) {
        this.#expiring.delete(provider);
        continue;
      }
      let providerNext = Number.POSITIVE_INFINITY;
      for (const [source, s] of [...entry.sources]) {
        if (s.expiresAt === undefined) continue;
        if (s.expiresAt <= now) {
          entry.sources.delete(source);
          for (const key of s.asks.keys()) this.#recompute(provider, entry, key, now);
        } else if (s.expiresAt < providerNext) providerNext = s.expiresAt;
      }
      if (providerNext === Number.POSITIVE_INFINITY) this.#expiring.delete(provider);
      else if (providerNext < next) next = providerNext;
    }
    this.#nextExpiry = Math.min(this.#nextExpiry, next);
  }

  /** Epoch ms of the next expiry in the book (Infinity when none). */
  get nextExpiry(): number {
    return this.#nextExpiry;
  }

  /** The cheapest live ask for `model` (default shape: prompt + completion), with its price for `shape`. */
  bestAsk(model: string, shape?: RequestShape): PricedAsk | undefined {
    const m = this.#entry(model);
    if (!m) return undefined;
    if (!shape) return m.best ? { ...m.best, priceMsat: priceForShape(m.best, DEFAULT_SHAPE) } : undefined;
    checkShape(shape);
    let best: Ask | undefined;
    let bestPrice = Number.POSITIVE_INFINITY;
    for (const ask of m.asks.values()) {
      const p = priceForShape(ask, shape);
      if (p < bestPrice || (p === bestPrice && best !== undefined && ask.provider < best.provider)) {
        best = ask;
        bestPrice = p;
      }
    }
    return best ? { ...best, priceMsat: msat(bestPrice) } : undefined;
  }

  /** The `n` cheapest asks for `model` for `shape`, cheapest first. */
  depth(model: string, n: number, shape?: RequestShape): PricedAsk[] {
    return this.#sorted(model, shape).slice(0, Math.max(0, n));
  }

  /** Every live ask for `model`, cheapest first for `shape`. */
  asks(model: string, shape?: RequestShape): PricedAsk[] {
    return this.#sorted(model, shape).slice();
  }

  /** `provider`'s live ask for `model`. */
  askOf(provider: string, model: string): Ask | undefined {
    return this.#entry(model)?.asks.get(provider);
  }

  /** Median, best, worst and spread of the live asks for `model`. */
  marketPrice(model: string, shape: RequestShape = DEFAULT_SHAPE): MarketPrice | undefined {
    const sorted = this.#sorted(model, shape);
    const first = sorted[0];
    const last = sorted[sorted.length - 1];
    if (!first || !last) return undefined;
    return {
      model: first.model,
      shape,
      asks: sorted.length,
      bestMsat: first.priceMsat,
      medianMsat: msat(medianOf(sorted.map((a) => a.priceMsat))),
      worstMsat: last.priceMsat,
      spreadMsat: msat(last.priceMsat - first.priceMsat),
      medianPrompt: medianOf(sorted.map((a) => a.prompt)) as MsatPerMtok,
      medianCompletion: medianOf(sorted.map((a) => a.completion)) as MsatPerMtok,
    };
  }

  /** Model keys with at least one live ask, sorted. */
  models(): string[] {
    this.sweep();
    return [...this.#models.keys()].sort();
  }

  /** Providers quoting anything (any source). */
  providers(): string[] {
    return [...this.#providers.keys()];
  }

  /** Number of live asks across all models. */
  get size(): number {
    let n = 0;
    for (const m of this.#models.values()) n += m.asks.size;
    return n;
  }

  /** Ask changes as an async iterator. */
  iterateAskChanges(options?: ChangeIterationOptions): AsyncIterableIterator<AskChange> {
    return this.askChanges.iterate(options);
  }

  /** Best-ask changes as an async iterator. */
  iterateBestAskChanges(options?: ChangeIterationOptions): AsyncIterableIterator<BestAskChange> {
    return this.bestAskChanges.iterate(options);
  }

  #entry(model: string): ModelEntry | undefined {
    this.sweep();
    for (const key of this.resolver.lookupKeys(model)) {
      const m = this.#models.get(key);
      if (m) return m;
    }
    return undefined;
  }

  #sorted(model: string, shape: RequestShape | undefined): PricedAsk[] {
    const m = this.#entry(model);
    if (!m) return [];
    const useDefault = !shape || (shape.inputTokens === DEFAULT_SHAPE.inputTokens && shape.outputTokens === DEFAULT_SHAPE.outputTokens);
    if (useDefault && m.sorted) return m.sorted;
    const s = shape ?? DEFAULT_SHAPE;
    checkShape(s);
    const list: PricedAsk[] = [];
    for (const ask of m.asks.values()) list.push({ ...ask, priceMsat: priceForShape(ask, s) });
    list.sort((a, b) => a.priceMsat - b.priceMsat || (a.provider < b.provider ? -1 : a.provider > b.provider ? 1 : 0));
    if (useDefault) m.sorted = list;
    return list;
  }

  #effective(entry: ProviderEntry, key: string, now: number): Ask | undefined {
    for (const source of SOURCE_ORDER) {
      const s = entry.sources.get(source);
      if (!s || (s.expiresAt !== undefined && s.expiresAt <= now)) continue;
      const ask = s.asks.get(key);
      if (ask) return ask;
    }
    return undefined;
  }

  #recompute(provider: string, entry: ProviderEntry, key: string, now: number): void {
    const current = this.#effective(entry, key, now);
    let m = this.#models.get(key);
    const previous = m?.asks.get(provider);
    if (previous === current) return;
    if (!m) {
      if (!current) return;
      m = { asks: new Map(), best: undefined, sorted: undefined };
      this.#models.set(key, m);
    }
    m.sorted = undefined;
    if (current) m.asks.set(provider, current);
    else m.asks.delete(provider);
    // a re-probe that only refreshes the expiry is not a market change
    if (previous && current && samePrice(previous, current)) {
      if (m.best === previous) m.best = current;
      return;
    }
    const oldBest = m.best;
    let newBest = oldBest;
    if (oldBest && oldBest.provider === provider) {
      newBest = current && !better(oldBest, current) ? current : this.#scanBest(m);
    } else if (current && (!oldBest || better(current, oldBest))) {
      newBest = current;
    }
    m.best = newBest;
    if (m.asks.size === 0) this.#models.delete(key);
    if (this.askChanges.active) this.askChanges.emit({ model: key, provider, previous, current, at: now });
    if (newBest !== oldBest && this.bestAskChanges.active) {
      this.bestAskChanges.emit({ model: key, previous: oldBest, current: newBest, at: now });
    }
  }

  #scanBest(m: ModelEntry): Ask | undefined {
    let best: Ask | undefined;
    for (const ask of m.asks.values()) if (!best || better(ask, best)) best = ask;
    return best;
  }
}
