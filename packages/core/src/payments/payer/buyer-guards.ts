/**
 * The buyer's own limits, applied to every request whatever a provider advertises: the most one
 * token may carry (maxPrice for the request's shape, the per-request cap, a default cap for a
 * buyer who set none), a refusal of asks far above the market's median, response size limits and
 * timeouts. Defaults protect a buyer who configured nothing; each one can be changed.
 */
import { priceForShape, type PricedAsk, type RequestShape } from '../../market/index.ts';

/** Per-request cap (sats) when `budget.perRequestMaxSat` is not set: about a dollar's worth at 100 k$/BTC. */
export const DEFAULT_PER_REQUEST_MAX_SAT = 1_000;
/** Asks priced above this multiple of the median live ask (for the request's shape) are refused. */
export const DEFAULT_MAX_ASK_OVER_MEDIAN = 10;

/** Response size limits (bytes). */
export interface ResponseLimits {
  /** A non-streamed answer (default 16 MiB). */
  readonly maxBodyBytes?: number;
  /** A whole streamed answer (default 64 MiB). */
  readonly maxStreamBytes?: number;
  /** One SSE line (default 4 MiB). */
  readonly maxLineBytes?: number;
  /** An error answer (default 64 KiB; the rest is not read). */
  readonly maxErrorBytes?: number;
}

/** Timeouts (ms). */
export interface Timeouts {
  /** Until the response headers, and a non-streamed body (default 120 000). */
  readonly requestMs?: number;
  /** Longest silence inside a stream (default 60 000). */
  readonly streamIdleMs?: number;
  /** Longest stream (default 600 000). */
  readonly streamTotalMs?: number;
  /** One refund-route lookup, polls included (default 15 000). */
  readonly refundMs?: number;
}

export const DEFAULT_RESPONSE_LIMITS: Required<ResponseLimits> = {
  maxBodyBytes: 16 << 20,
  maxStreamBytes: 64 << 20,
  maxLineBytes: 4 << 20,
  maxErrorBytes: 64 << 10,
};

export const DEFAULT_TIMEOUTS: Required<Timeouts> = {
  requestMs: 120_000,
  streamIdleMs: 60_000,
  streamTotalMs: 600_000,
  refundMs: 15_000,
};

/** Most a request may cost: msats for its shape (prompt estimate + max_tokens), or msat/Mtok ceilings. */
export type MaxPrice = number | { readonly prompt: number; readonly completion: number };

/** Which of the buyer's limits set a request's cap. */
export type CapSource = 'max_price' | 'per_request';

/** The most one token for this request may carry, sats, and which limit set it. */
export function tokenCap(
  shape: RequestShape,
  limits: { maxPrice: MaxPrice | undefined; perRequestMaxSat: number | undefined; requestMaxMsat?: number | undefined },
): { capSat: number; source: CapSource } {
  let cap: { capSat: number; source: CapSource } = { capSat: limits.perRequestMaxSat ?? DEFAULT_PER_REQUEST_MAX_SAT, source: 'per_request' };
  const prices = [limits.maxPrice === undefined ? undefined : typeof limits.maxPrice === 'number' ? limits.maxPrice : priceForShape(limits.maxPrice, shape), limits.requestMaxMsat];
  for (const msat of prices) {
    if (msat === undefined) continue;
    // sat tokens cannot carry msats: a limit of 4 500 msat allows a 5 sat token
    const priceSat = Math.ceil(msat / 1000);
    if (priceSat < cap.capSat) cap = { capSat: priceSat, source: 'max_price' };
  }
  return cap;
}

/**
 * Drops asks above `factor` × the median of `all` live asks for the model (each priced for the
 * request's shape): a provider asking 10× what the market asks is refused, not paid.
 */
export function withinMedian<T extends { readonly ask: PricedAsk }>(candidates: readonly T[], all: readonly PricedAsk[], factor: number): { kept: T[]; medianMsat: number | undefined } {
  if (!(factor > 0) || !Number.isFinite(factor) || all.length === 0) return { kept: [...candidates], medianMsat: undefined };
  const sorted = all.map((a) => a.priceMsat).sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? (sorted[mid] as number) : Math.floor(((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2);
  return { kept: candidates.filter((c) => c.ask.priceMsat <= median * factor), medianMsat: median };
}
