/**
 * Writes the market price index to the store: every second, each model's best ask and median
 * (typical-request msat). A model whose index did not move is written again only once a minute,
 * so a quiet market costs little disk; history gaps never exceed that. Also refreshes the 1 h
 * and 24 h reference prices and prunes rows past retention.
 */
import type { MarketClock } from '@routstr-kit/core/market';
import type { MarketIndex } from './market-index.ts';
import type { IndexRow, MarketStore } from './store/market-store.ts';

export interface IndexRecorderOptions {
  readonly index: MarketIndex;
  readonly store: MarketStore;
  readonly clock: MarketClock;
  /** Sampling period (default 1 000 ms). */
  readonly intervalMs?: number;
  /** An unchanged index is written again after this (default 60 000 ms). */
  readonly heartbeatMs?: number;
  /** Rows older than this are pruned (default 400 days). */
  readonly retentionMs?: number;
  /** Reports store errors (the service keeps running; the next sample retries). */
  readonly onError: (error: unknown) => void;
}

const REFS_EVERY_MS = 10_000;
const PRUNE_EVERY_MS = 3_600_000;

interface Stored {
  readonly at: number;
  readonly best: number | undefined;
  readonly median: number | undefined;
}

/** Samples the index into the store on a timer. */
export class IndexRecorder {
  readonly #o: IndexRecorderOptions;
  readonly #interval: number;
  readonly #heartbeat: number;
  readonly #timer: ReturnType<typeof setInterval>;
  readonly #stored = new Map<string, Stored>();
  #busy: Promise<void> | undefined;
  #refreshing: Promise<void> | undefined;
  #refsAt = Number.NEGATIVE_INFINITY;
  #prunedAt = Number.NEGATIVE_INFINITY;
  #closed = false;

  constructor(options: IndexRecorderOptions) {
    this.#o = options;
    this.#interval = options.intervalMs ?? 1_000;
    this.#heartbeat = options.heartbeatMs ?? 60_000;
    this.#timer = setInterval(() => void this.sample(), this.#interval);
    this.#timer.unref();
  }

  /** Takes one sample now (skipped while the previous one is still writing); resolves when written. */
  sample(): Promise<void> {
    if (this.#busy || this.#closed) return this.#busy ?? Promise.resolve();
    this.#busy = this.#run()
      .catch((error: unknown) => this.#o.onError(error))
      .finally(() => {
        this.#busy = undefined;
      });
    return this.#busy;
  }

  /** Stops sampling after writing what is pending. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#busy;
    await this.#refreshing;
  }

  async #refreshRefs(models: string[], now: number): Promise<void> {
    const { index, store } = this.#o;
    for (const model of models) {
      if (this.#closed) return;
      const [h1, h24] = await Promise.all([store.bestAskAt(model, now - 3_600_000), store.bestAskAt(model, now - 86_400_000)]);
      index.setChangeRefs(model, { h1, h24 });
    }
  }

  async #run(): Promise<void> {
    const { index, store, clock } = this.#o;
    index.flush();
    // whole seconds: one row per model per second, whatever the timer's jitter
    const now = clock.now();
    const at = now - (now % 1_000);
    const rows: IndexRow[] = [];
    const live = new Set<string>();
    for (const s of index.summaries()) {
      live.add(s.id);
      const best = s.bestAsk?.typicalRequestMsat;
      const median = s.median?.typicalRequestMsat;
      const last = this.#stored.get(s.id);
      if (last && last.best === best && last.median === median && at - last.at < this.#heartbeat) continue;
      rows.push({ model: s.id, at, bestMsat: best, medianMsat: median, asks: s.providers });
    }
    // a model that left: one row saying so, then it is forgotten
    for (const model of this.#stored.keys()) if (!live.has(model)) rows.push({ model, at, bestMsat: undefined, medianMsat: undefined, asks: 0 });
    await store.recordIndex(rows);
    for (const r of rows) {
      if (r.asks === 0) this.#stored.delete(r.model);
      else this.#stored.set(r.model, { at: r.at, best: r.bestMsat, median: r.medianMsat });
    }
    // the reference prices take a query per model: refreshed beside the sampling, never delaying it
    if (now - this.#refsAt >= REFS_EVERY_MS && !this.#refreshing) {
      this.#refsAt = now;
      this.#refreshing = this.#refreshRefs([...live], now)
        .catch((error: unknown) => this.#o.onError(error))
        .finally(() => {
          this.#refreshing = undefined;
        });
    }
    if (now - this.#prunedAt >= PRUNE_EVERY_MS) {
      this.#prunedAt = now;
      await store.prune(now - (this.#o.retentionMs ?? 400 * 86_400_000));
    }
  }
}
