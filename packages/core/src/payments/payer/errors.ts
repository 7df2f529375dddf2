import type { PricedAsk } from '../../market/index.ts';
import type { Receipt } from './receipt.ts';

/** Base class of the buyer side's errors; `code` is stable and safe to branch on. */
export class PayerError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'PayerError';
  }
}

/** What happened to one try of a logical request at one provider. */
export interface AttemptRecord {
  readonly provider: string;
  readonly url: string;
  /** HTTP status, when the provider answered. */
  readonly status: number | undefined;
  /** `ok`, a node error code (`minimum_balance_required`, …), `network`, `rate_limited`, `aborted`, … */
  readonly code: string;
  readonly message: string;
  /** Face value of the token (or session debit) this try put at risk, sats. */
  readonly paidSat: number;
  /** What came back from it: reclaimed, refunded or change, sats. */
  readonly returnedSat: number;
  /** True when the token was carried unspent to the next try (no new payment). */
  readonly tokenReused: boolean;
  /** True when money is still owed by the provider and left for recovery (refund endpoint). */
  readonly pendingRecovery: boolean;
}

/** Every provider in the selection failed; `attempts` says how, in order. */
export class AllProvidersFailed extends PayerError {
  readonly model: string;
  readonly attempts: readonly AttemptRecord[];
  constructor(model: string, attempts: readonly AttemptRecord[], message?: string) {
    super('all_providers_failed', message ?? `all providers failed for ${model}: ${attempts.map((a) => `${a.url} ${a.code}`).join('; ') || 'none available'}`);
    this.name = 'AllProvidersFailed';
    this.model = model;
    this.attempts = attempts;
  }
}

/** Which limit refused a price: `maxPrice`/`maxPriceMsat`, the market-median guard, or the token a provider demands. */
export type PriceLimitKind = 'max_price' | 'median' | 'demand';

/**
 * THE price refusal of the buyer side (the Payer is the only place that raises it): the ask for
 * this request is above the buyer's limit — `PayerOptions.maxPrice`, `PayOptions.maxPriceMsat`, or
 * `maxAskOverMedian` × the market median — or the token the provider demands for this request
 * (its gate) is above what that limit allows (`limit: 'demand'`). Nothing was paid.
 */
export class PriceAboveLimit extends PayerError {
  readonly model: string;
  /** The ask refused (the cheapest one when every ask was refused). */
  readonly bestAsk: PricedAsk;
  /** Its provider. */
  readonly provider: string;
  /** The limit, msats for this request. */
  readonly maxPriceMsat: number;
  readonly limit: PriceLimitKind;
  /** `demand` only: the token the provider demands for this request, sats. */
  readonly demandSat: number | undefined;
  constructor(model: string, bestAsk: PricedAsk, maxPriceMsat: number, detail: { limit?: PriceLimitKind; demandSat?: number } = {}) {
    super(
      'price_above_limit',
      detail.demandSat !== undefined
        ? `${bestAsk.provider} needs a ${detail.demandSat} sat token for this ${model} request, above the price limit of ${maxPriceMsat} msat (set max_tokens, or raise the limit)`
        : `best ask for ${model} is ${bestAsk.priceMsat} msat for this request, above the limit of ${maxPriceMsat} msat`,
    );
    this.name = 'PriceAboveLimit';
    this.model = model;
    this.bestAsk = bestAsk;
    this.provider = bestAsk.provider;
    this.maxPriceMsat = maxPriceMsat;
    this.limit = detail.limit ?? (detail.demandSat !== undefined ? 'demand' : 'max_price');
    this.demandSat = detail.demandSat;
  }
}

/** The request is not one the paying fetch can route (no model, not JSON). */
export class UnroutableRequest extends PayerError {
  constructor(message: string) {
    super('unroutable_request', message);
    this.name = 'UnroutableRequest';
  }
}

/** A PayOptions value a request cannot be paid with (a price limit that is not a number of msats, an empty request id). */
export class InvalidPayOptions extends PayerError {
  constructor(message: string) {
    super('invalid_pay_options', message);
    this.name = 'InvalidPayOptions';
  }
}

/** The paying fetch was closed. */
export class PayerClosed extends PayerError {
  constructor() {
    super('payer_closed', 'the paying fetch is closed');
    this.name = 'PayerClosed';
  }
}

/** The answer (or one SSE line of it) went past the buyer's size limit; it was cut off there. */
export class ResponseTooLarge extends PayerError {
  readonly limitBytes: number;
  /** The receipt of the cut-off request, when it was paid. */
  receipt: Receipt | undefined;
  constructor(limitBytes: number, what: 'body' | 'line' = 'body') {
    super('response_too_large', `the provider's answer went past the ${what} limit of ${limitBytes} bytes and was cut off`);
    this.name = 'ResponseTooLarge';
    this.limitBytes = limitBytes;
  }
}

/** A stream went silent for too long, or ran past its total time; it was cut off there. */
export class StreamLimitExceeded extends PayerError {
  readonly limit: 'idle' | 'total';
  readonly limitMs: number;
  constructor(limit: 'idle' | 'total', limitMs: number) {
    super('stream_timeout', limit === 'idle' ? `the stream was silent for ${limitMs} ms and was cut off` : `the stream ran past ${limitMs} ms and was cut off`);
    this.name = 'StreamLimitExceeded';
    this.limit = limit;
    this.limitMs = limitMs;
  }
}

/** No answer (headers, or a whole non-streamed body) within the request timeout. */
export class RequestTimeout extends PayerError {
  readonly limitMs: number;
  constructor(limitMs: number) {
    super('timeout', `no answer within ${limitMs} ms`);
    this.name = 'RequestTimeout';
    this.limitMs = limitMs;
  }
}
