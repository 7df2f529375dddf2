/** Recent best and median prices per model, as points in time (bounded ring per model). */
import type { Msat } from '../money/index.ts';

/** The market for one model at one moment (default shape prices). */
export interface HistoryPoint {
  readonly at: number;
  readonly bestMsat: Msat | undefined;
  readonly medianMsat: Msat | undefined;
  readonly asks: number;
  readonly bestProvider: string | undefined;
}

export interface PriceHistoryOptions {
  /** Points kept per model (default 1 000). */
  readonly maxPoints?: number;
  /** Points closer together than this replace the previous one, unless the best provider changed (default 1 000 ms). */
  readonly resolutionMs?: number;
}

/** Per-model time series of best and median. */
export class PriceHistory {
  readonly #points = new Map<string, HistoryPoint[]>();
  readonly #max: number;
  readonly #resolution: number;

  constructor(options: PriceHistoryOptions = {}) {
    this.#max = options.maxPoints ?? 1_000;
    this.#resolution = options.resolutionMs ?? 1_000;
  }

  /** Adds a point for `model`; a point within the resolution of the last one replaces it when the best seller is unchanged. */
  record(model: string, point: HistoryPoint): void {
    let list = this.#points.get(model);
    if (!list) {
      list = [];
      this.#points.set(model, list);
    }
    const last = list[list.length - 1];
    if (last && point.at - last.at < this.#resolution && last.bestProvider === point.bestProvider && last.bestMsat === point.bestMsat) {
      list[list.length - 1] = point;
      return;
    }
    list.push(point);
    if (list.length > this.#max) list.splice(0, list.length - this.#max);
  }

  /** Points for `model` from `now − windowMs` on, oldest first. */
  query(model: string, windowMs: number, now: number): HistoryPoint[] {
    const list = this.#points.get(model) ?? [];
    const from = now - windowMs;
    return list.filter((p) => p.at >= from);
  }
}
