/**
 * What `routstr-kit market` remembers beside the market's order book: each provider's load from
 * its last tick, each model's recent ticks, and the best ask's recent typical-request prices for
 * the sparkline. Relay input is untrusted, so every map is capped and evicts its oldest entry.
 */
import type { Market, PriceTick, RequestShape } from '@routstr-kit/core';

/** The "typical request" every price column is quoted for: 1 000 prompt + 500 completion tokens. */
export const TYPICAL_SHAPE: RequestShape = { inputTokens: 1_000, outputTokens: 500 };

/** One accepted tick, as it moved one model's ask. */
export interface TickEntry {
  readonly provider: string;
  readonly at: number;
  readonly promptMsatPerMtok: number;
  readonly completionMsatPerMtok: number;
  readonly load: number | null;
}

/** A provider's load as its last tick gave it. */
export interface ProviderLoad {
  readonly load: number;
  readonly at: number;
}

/** Caps on what the watch keeps. */
export interface MarketWatchLimits {
  readonly maxModels: number;
  readonly maxProviders: number;
  readonly ticksPerModel: number;
  readonly sparkPoints: number;
}

export const DEFAULT_WATCH_LIMITS: MarketWatchLimits = { maxModels: 2_000, maxProviders: 2_000, ticksPerModel: 50, sparkPoints: 24 };

/** Sets `key` as the newest entry of `map`, dropping the oldest past `cap` (insertion order is age). */
function putCapped<K, V>(map: Map<K, V>, key: K, value: V, cap: number): void {
  map.delete(key);
  map.set(key, value);
  while (map.size > cap) {
    const oldest = map.keys().next();
    if (oldest.done) break;
    map.delete(oldest.value);
  }
}

/** Follows a market's ticks and best asks; read by the views, fed by `attach`. */
export class MarketWatch {
  readonly #limits: MarketWatchLimits;
  readonly #loads = new Map<string, ProviderLoad>();
  /** model key → ticks, newest first */
  readonly #ticks = new Map<string, TickEntry[]>();
  /** model key → best typical-request msat, oldest first */
  readonly #spark = new Map<string, number[]>();

  constructor(limits: MarketWatchLimits = DEFAULT_WATCH_LIMITS) {
    this.#limits = limits;
  }

  /** Subscribes to `market` (ticks, ask changes, departures); calls `changed` after each; returns the unsubscribe. */
  attach(market: Market, now: () => number, changed: (model: string | undefined) => void): () => void {
    const offTick = market.ticks.on((tick) => {
      const models = this.recordTick(tick, now(), (id) => market.book.resolver.key(id));
      for (const m of models) changed(m);
    });
    const offAsk = market.onAskChange((c) => {
      this.recordBest(c.model, market.bestAsk(c.model, TYPICAL_SHAPE)?.priceMsat);
      changed(c.model);
    });
    const offGone = market.onDeparture((provider) => {
      this.#loads.delete(provider);
      changed(undefined);
    });
    for (const model of market.models()) this.recordBest(model, market.bestAsk(model, TYPICAL_SHAPE)?.priceMsat);
    return () => {
      offTick();
      offAsk();
      offGone();
    };
  }

  /** Records an accepted tick; returns the model keys it quoted. */
  recordTick(tick: PriceTick, at: number, keyOf: (model: string) => string): string[] {
    putCapped(this.#loads, tick.address, { load: tick.load, at }, this.#limits.maxProviders);
    const keys: string[] = [];
    for (const ask of tick.models) {
      const key = keyOf(ask.model);
      if (keys.includes(key)) continue;
      keys.push(key);
      const list = this.#ticks.get(key) ?? [];
      list.unshift({ provider: tick.address, at, promptMsatPerMtok: ask.prompt, completionMsatPerMtok: ask.completion, load: tick.load });
      if (list.length > this.#limits.ticksPerModel) list.length = this.#limits.ticksPerModel;
      putCapped(this.#ticks, key, list, this.#limits.maxModels);
    }
    return keys;
  }

  /** Appends the model's best typical-request price to its sparkline when it moved. */
  recordBest(model: string, priceMsat: number | undefined): void {
    if (priceMsat === undefined) return;
    const series = this.#spark.get(model) ?? [];
    if (series.at(-1) === priceMsat) return;
    series.push(priceMsat);
    if (series.length > this.#limits.sparkPoints) series.shift();
    putCapped(this.#spark, model, series, this.#limits.maxModels);
  }

  /** The provider's load from its last tick. */
  loadOf(provider: string): ProviderLoad | undefined {
    return this.#loads.get(provider);
  }

  /** The model's recent ticks, newest first. */
  ticks(model: string): readonly TickEntry[] {
    return this.#ticks.get(model) ?? [];
  }

  /** When the model's newest tick arrived. */
  lastTickAt(model: string): number | undefined {
    return this.#ticks.get(model)?.[0]?.at;
  }

  /** The model's best typical-request prices, oldest first. */
  spark(model: string): readonly number[] {
    return this.#spark.get(model) ?? [];
  }
}
