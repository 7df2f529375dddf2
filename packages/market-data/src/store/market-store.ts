/**
 * Where the market price index lives: one schema and one interface over node:sqlite and
 * PostgreSQL. Rows are the per-second index (best ask and median of live asks, typical-request
 * msat); OHLC candles are computed by the database (GROUP BY bucket).
 */
import type { Candle } from '../api-types.ts';

/** The market for one model at one second. */
export interface IndexRow {
  readonly model: string;
  readonly at: number;
  /** undefined: no live ask at that moment. */
  readonly bestMsat: number | undefined;
  readonly medianMsat: number | undefined;
  readonly asks: number;
}

/** Candles of the best ask and of the median, oldest first, only buckets with data. */
export interface CandleSeries {
  readonly bestAsk: Candle[];
  readonly median: Candle[];
}

/** The price index store. Every method may be called while another is pending; writes apply in call order. */
export interface MarketStore {
  readonly kind: 'sqlite' | 'postgres';
  /** Inserts (or replaces, same model and time) index rows; the rows of one call have distinct (model, at). */
  recordIndex(rows: readonly IndexRow[]): Promise<void>;
  /** OHLC per `intervalMs` bucket over [from, to). */
  candles(model: string, from: number, to: number, intervalMs: number): Promise<CandleSeries>;
  /** The newest best ask (typical msat) recorded at or before `at`, if any. */
  bestAskAt(model: string, at: number): Promise<number | undefined>;
  /** Whether any row names `model`. */
  hasModel(model: string): Promise<boolean>;
  /** Deletes rows older than `before`; returns how many. */
  prune(before: number): Promise<number>;
  close(): Promise<void>;
}

/** The schema, in SQL both databases read alike. */
export const SCHEMA = `
CREATE TABLE IF NOT EXISTS price_index (
  model TEXT NOT NULL,
  at BIGINT NOT NULL,
  best_msat BIGINT,
  median_msat BIGINT,
  asks INTEGER NOT NULL,
  PRIMARY KEY (model, at)
);
CREATE INDEX IF NOT EXISTS price_index_at ON price_index (at);
`;

/** Upsert of one row (`?` placeholders; the PostgreSQL store numbers them). */
export const UPSERT_INDEX = `INSERT INTO price_index (model, at, best_msat, median_msat, asks) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (model, at) DO UPDATE SET best_msat = excluded.best_msat, median_msat = excluded.median_msat, asks = excluded.asks`;

/**
 * OHLC of best and median per bucket: the bucket's first and last rows give open and close,
 * MIN/MAX give low and high. Parameters: interval, model, from, to, model, model.
 */
export const CANDLES = `
SELECT b.t AS t, o.best_msat AS bo, b.bh AS bh, b.bl AS bl, c.best_msat AS bc,
       o.median_msat AS mo, b.mh AS mh, b.ml AS ml, c.median_msat AS mc
FROM (
  SELECT s.t AS t, MIN(s.at) AS first_at, MAX(s.at) AS last_at,
         MAX(s.best_msat) AS bh, MIN(s.best_msat) AS bl, MAX(s.median_msat) AS mh, MIN(s.median_msat) AS ml
  FROM (
    SELECT at - at % ? AS t, at, best_msat, median_msat FROM price_index
    WHERE model = ? AND at >= ? AND at < ? AND best_msat IS NOT NULL
  ) s
  GROUP BY s.t
) b
JOIN price_index o ON o.model = ? AND o.at = b.first_at
JOIN price_index c ON c.model = ? AND c.at = b.last_at
ORDER BY b.t`;

export const BEST_AT = `SELECT best_msat FROM price_index WHERE model = ? AND at <= ? AND best_msat IS NOT NULL ORDER BY at DESC LIMIT 1`;
export const HAS_MODEL = `SELECT 1 AS one FROM price_index WHERE model = ? LIMIT 1`;
export const PRUNE = `DELETE FROM price_index WHERE at < ?`;

/** Parameters of CANDLES in placeholder order. */
export function candleParams(model: string, from: number, to: number, intervalMs: number): (string | number)[] {
  return [intervalMs, model, from, to, model, model];
}

/** One CANDLES row (numbers may come back as strings or bigints from a driver) → two candles. */
export function candlesFromRow(row: Record<string, unknown>, into: CandleSeries): void {
  const n = (v: unknown): number => Number(v);
  const t = n(row['t']);
  into.bestAsk.push({ t, o: n(row['bo']), h: n(row['bh']), l: n(row['bl']), c: n(row['bc']) });
  if (row['mo'] !== null && row['mc'] !== null && row['mh'] !== null) {
    into.median.push({ t, o: n(row['mo']), h: n(row['mh']), l: n(row['ml']), c: n(row['mc']) });
  }
}

/** Whether `store` names a PostgreSQL database. */
export function isPostgresUrl(store: string): boolean {
  return /^postgres(ql)?:\/\//i.test(store);
}
