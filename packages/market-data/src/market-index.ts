/**
 * The live view of the market the API serves: per model a summary (best ask, median, spread,
 * providers, last tick, 1 h and 24 h change) recomputed when its asks change, recent ticks per
 * model, and each provider's last load. Changes are coalesced: a burst of ingests costs one
 * recompute per model per flush, and `GET /api/models` reads a prebuilt JSON string.
 */
import { priceForShape, type Market, type MarketClock } from '@routstr-kit/core/market';
import type { PriceTick } from '@routstr-kit/core/protocol';
import type { BookEvent, ModelSummary, TickView } from './api-types.ts';
import { TYPICAL_SHAPE, priceView, satRoundedUp, sortedMedian } from './price-view.ts';

/** Listeners of summary and book changes (the SSE stream). */
export interface IndexListener {
  model(summary: ModelSummary): void;
  book(event: BookEvent): void;
}

export interface MarketIndexOptions {
  readonly market: Market;
  readonly clock: MarketClock;
  /** Models summarised at once; newcomers beyond it wait until a model has no ask left. */
  readonly maxModels: number;
  /** Ticks kept per model, newest first. */
  readonly maxTicksPerModel: number;
  /** Changes within this window are flushed together (default 100 ms). */
  readonly flushDelayMs?: number;
}

/** What the index reports about one provider's ticks. */
export interface ProviderTickState {
  readonly load: number;
  readonly at: number;
}

/** Reference prices for the change columns: the best ask 1 h and 24 h ago. */
export interface ChangeRefs {
  readonly h1: number | undefined;
  readonly h24: number | undefined;
}

function relativeChange(now: number, then: number | undefined): number | null {
  if (then === undefined || then <= 0) return null;
  return Math.round(((now - then) / then) * 1e6) / 1e6;
}

/** Live per-model summaries, ticks and loads over a Market. */
export class MarketIndex {
  readonly #market: Market;
  readonly #clock: MarketClock;
  readonly #maxModels: number;
  readonly #maxTicks: number;
  readonly #flushDelayMs: number;
  readonly #summaries = new Map<string, ModelSummary>();
  readonly #summaryJson = new Map<string, string>();
  readonly #ticks = new Map<string, TickView[]>();
  readonly #lastTickAt = new Map<string, number>();
  readonly #providerTicks = new Map<string, ProviderTickState>();
  readonly #refs = new Map<string, ChangeRefs>();
  readonly #dirty = new Set<string>();
  readonly #listeners = new Set<IndexListener>();
  readonly #unsubscribe: (() => void)[] = [];
  #modelsJson = '[]';
  /** Some model found the index full and waits for a place. */
  #waiting = false;
  #flushTimer: ReturnType<typeof setTimeout> | undefined;
  #lastFlushAt = Number.NEGATIVE_INFINITY;
  #pause = 0;

  constructor(options: MarketIndexOptions) {
    this.#market = options.market;
    this.#clock = options.clock;
    this.#maxModels = options.maxModels;
    this.#maxTicks = options.maxTicksPerModel;
    this.#flushDelayMs = options.flushDelayMs ?? 100;
    this.#unsubscribe.push(
      this.#market.onAskChange((c) => this.#markDirty(c.model)),
      this.#market.ticks.on((t) => this.#onTick(t)),
      this.#market.onDeparture((provider) => this.#providerTicks.delete(provider)),
    );
    for (const model of this.#market.models()) this.#dirty.add(model);
    this.flush();
  }

  /** Stops listening to the market. */
  close(): void {
    for (const off of this.#unsubscribe) off();
    if (this.#flushTimer) clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    this.#listeners.clear();
  }

  /** Calls `listener` on every summary and book change until the returned function is called. */
  listen(listener: IndexListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The summaries as a JSON array, sorted by model id (prebuilt on change). */
  get modelsJson(): string {
    return this.#modelsJson;
  }

  summaries(): IterableIterator<ModelSummary> {
    return this.#summaries.values();
  }

  /** The book key of `model` if it is summarised (aliases and vendor prefixes resolved). */
  resolve(model: string): string | undefined {
    if (this.#summaries.has(model)) return model;
    for (const key of this.#market.book.resolver.lookupKeys(model)) if (this.#summaries.has(key)) return key;
    return undefined;
  }

  /** Recent ticks of a summarised model, newest first. */
  ticksOf(model: string): readonly TickView[] {
    return this.#ticks.get(model) ?? [];
  }

  /** The last tick of `provider`, if it ticked. */
  providerTick(provider: string): ProviderTickState | undefined {
    return this.#providerTicks.get(provider);
  }

  /** Sets the reference prices of the change columns; the model is recomputed if they moved. */
  setChangeRefs(model: string, refs: ChangeRefs): void {
    const old = this.#refs.get(model);
    if (old?.h1 === refs.h1 && old?.h24 === refs.h24) return;
    if (!this.#summaries.has(model)) return;
    this.#refs.set(model, refs);
    this.#markDirty(model);
  }

  /** Recomputes the changed models now and tells the listeners. */
  flush(): void {
    if (this.#flushTimer) clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    if (this.#dirty.size === 0) return;
    const started = performance.now();
    const dirty = [...this.#dirty];
    this.#dirty.clear();
    let changed = false;
    let freed = false;
    const at = this.#clock.now();
    for (const model of dirty) {
      const before = this.#summaryJson.get(model);
      const next = this.#compute(model);
      if (next === undefined) {
        if (before === undefined) continue;
        this.#forget(model);
        freed = true;
        this.#emitModel({ id: model, bestAsk: null, median: null, spreadMsat: null, providers: 0, lastTickAt: null, change1h: null, change24h: null });
      } else {
        if (before === undefined && this.#summaries.size >= this.#maxModels) {
          this.#ticks.delete(model);
          this.#lastTickAt.delete(model);
          this.#waiting = true;
          continue;
        }
        const json = JSON.stringify(next);
        this.#summaries.set(model, next);
        if (json !== before) {
          this.#summaryJson.set(model, json);
          changed = true;
          this.#emitModel(next);
        }
      }
      changed ||= before !== undefined && next === undefined;
      for (const l of this.#listeners) l.book({ model, at });
    }
    if (changed) this.#rebuildJson();
    if (freed && this.#waiting) this.#admitWaiting();
    // recomputing must not crowd out ingest: the next flush waits at least 9× this one's time
    const took = performance.now() - started;
    this.#lastFlushAt = this.#clock.now();
    this.#pause = Math.max(this.#flushDelayMs, Math.ceil(9 * took));
  }

  /** A model left: models that found the index full get the free places (in the next flush). */
  #admitWaiting(): void {
    let room = this.#maxModels - this.#summaries.size;
    let waiting = false;
    for (const model of this.#market.models()) {
      if (this.#summaries.has(model)) continue;
      if (room <= 0) {
        waiting = true;
        break;
      }
      this.#markDirty(model);
      room -= 1;
    }
    this.#waiting = waiting;
  }

  #rebuildJson(): void {
    const ids = [...this.#summaryJson.keys()].sort();
    this.#modelsJson = `[${ids.map((id) => this.#summaryJson.get(id)).join(',')}]`;
  }

  #forget(model: string): void {
    this.#summaries.delete(model);
    this.#summaryJson.delete(model);
    this.#ticks.delete(model);
    this.#lastTickAt.delete(model);
    this.#refs.delete(model);
  }

  #emitModel(summary: ModelSummary): void {
    for (const l of this.#listeners) l.model(summary);
  }

  // one linear pass and three numeric sorts: no per-ask objects, so a model with 10 000 asks stays cheap
  #compute(model: string): ModelSummary | undefined {
    const asks = this.#market.book.asks(model);
    const n = asks.length;
    if (n === 0) return undefined;
    const typical = new Float64Array(n);
    const prompt = new Float64Array(n);
    const completion = new Float64Array(n);
    let best = -1;
    let second = -1;
    const cheaper = (i: number, j: number): boolean =>
      typical[i]! < typical[j]! || (typical[i] === typical[j] && (asks[i]!.provider < asks[j]!.provider));
    for (let i = 0; i < n; i++) {
      const a = asks[i]!;
      typical[i] = priceForShape(a, TYPICAL_SHAPE);
      prompt[i] = a.prompt;
      completion[i] = a.completion;
      if (best < 0 || cheaper(i, best)) {
        second = best;
        best = i;
      } else if (second < 0 || cheaper(i, second)) second = i;
    }
    const bestAsk = asks[best]!;
    const bestTypical = typical[best]!;
    const medianTypical = sortedMedian(typical.slice());
    const refs = this.#refs.get(model);
    return {
      id: model,
      bestAsk: { provider: bestAsk.provider, ...priceView(bestAsk.prompt, bestAsk.completion) },
      median: {
        promptMsatPerMtok: sortedMedian(prompt),
        completionMsatPerMtok: sortedMedian(completion),
        typicalRequestMsat: medianTypical,
        typicalRequestSat: satRoundedUp(medianTypical),
      },
      spreadMsat: second >= 0 ? typical[second]! - bestTypical : null,
      providers: n,
      lastTickAt: this.#lastTickAt.get(model) ?? null,
      change1h: relativeChange(bestTypical, refs?.h1),
      change24h: relativeChange(bestTypical, refs?.h24),
    };
  }

  #markDirty(model: string): void {
    this.#dirty.add(model);
    if (this.#flushTimer) return;
    // the first change after a quiet spell goes out at once; a burst waits for the window
    const wait = Math.max(0, this.#lastFlushAt + this.#pause - this.#clock.now());
    this.#flushTimer = setTimeout(() => this.flush(), wait);
    this.#flushTimer.unref();
  }

  #onTick(t: PriceTick): void {
    // a tick dated ahead (allowed clock skew) counts from now, so ages are never negative
    const at = Math.min(t.createdAt * 1_000, this.#clock.now());
    this.#providerTicks.set(t.address, { load: t.load, at });
    for (const quote of t.models) {
      const model = this.#market.book.resolver.key(quote.model);
      // only models the index holds (or has room for) keep ticks: a flood of model names stays bounded
      if (!this.#summaries.has(model) && this.#ticks.size >= this.#maxModels) continue;
      let list = this.#ticks.get(model);
      if (!list) {
        list = [];
        this.#ticks.set(model, list);
      }
      list.unshift({ provider: t.address, at, promptMsatPerMtok: quote.prompt, completionMsatPerMtok: quote.completion, load: t.load });
      if (list.length > this.#maxTicks) list.length = this.#maxTicks;
      this.#lastTickAt.set(model, at);
      this.#markDirty(model);
    }
  }
}
