/** The `/history` query string: interval, from and to, checked (a bad one is a 400, never a guess). */
import { HISTORY_INTERVALS, type HistoryInterval } from './api-types.ts';

export const INTERVAL_MS: Readonly<Record<HistoryInterval, number>> = {
  '1s': 1_000,
  '5s': 5_000,
  '15s': 15_000,
  '1m': 60_000,
  '5m': 300_000,
  '15m': 900_000,
  '1h': 3_600_000,
  '4h': 14_400_000,
  '1d': 86_400_000,
};

/** Most buckets one history answer may span. */
export const MAX_BUCKETS = 10_000;

/** A checked history request. */
export interface HistoryQuery {
  readonly interval: HistoryInterval;
  readonly intervalMs: number;
  readonly from: number;
  readonly to: number;
}

/** A query parameter that does not fit (the message names it). */
export class BadQuery extends Error {
  override readonly name = 'BadQuery';
}

function time(params: URLSearchParams, name: string): number | undefined {
  const text = params.get(name);
  if (text === null) return undefined;
  const value = Number(text);
  if (!/^\d{1,16}$/.test(text) || !Number.isSafeInteger(value)) throw new BadQuery(`${name} must be epoch milliseconds (a non-negative integer), got ${JSON.stringify(text.slice(0, 40))}`);
  return value;
}

/** Reads interval/from/to (defaults: 1m, to = now, from = to − 1 h); throws BadQuery. */
export function parseHistoryQuery(params: URLSearchParams, now: number): HistoryQuery {
  const intervalText = params.get('interval') ?? '1m';
  if (!(HISTORY_INTERVALS as readonly string[]).includes(intervalText)) {
    throw new BadQuery(`interval must be one of ${HISTORY_INTERVALS.join(', ')}, got ${JSON.stringify(intervalText.slice(0, 40))}`);
  }
  const interval = intervalText as HistoryInterval;
  const intervalMs = INTERVAL_MS[interval];
  const to = time(params, 'to') ?? now;
  const from = time(params, 'from') ?? Math.max(0, to - 3_600_000);
  if (from >= to) throw new BadQuery(`from (${from}) must be before to (${to})`);
  const buckets = Math.ceil((to - from) / intervalMs);
  if (buckets > MAX_BUCKETS) throw new BadQuery(`${buckets} buckets of ${interval} between from and to; at most ${MAX_BUCKETS} (use a larger interval)`);
  return { interval, intervalMs, from, to };
}
