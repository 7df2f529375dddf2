import { APICallError } from '@ai-sdk/provider';

/**
 * A request the market refused or could not serve, as an AI SDK error. `code` is the core's
 * stable code (`price_above_limit`, `budget_exceeded`, `all_providers_failed`, `order_expired`,
 * `order_failed`, `invalid_settings`…) and `cause` the core's typed error. Never retryable:
 * the Payer already failed over, and a retry could pay twice.
 */
export class RoutstrCallError extends APICallError {
  readonly code: string;
  constructor(options: { code: string; message: string; url: string; requestBodyValues: unknown; cause: unknown; statusCode?: number }) {
    super({ ...options, isRetryable: false, data: { code: options.code } });
    this.name = 'RoutstrCallError';
    this.code = options.code;
  }
}

const HINTS: Record<string, string> = {
  price_above_limit: 'the market is above your maxPrice; nothing was paid. Raise maxPrice or use order: "limit" to wait for the price.',
  budget_exceeded: 'the payment would exceed your budget; nothing was paid.',
  order_expired: 'the limit order reached its deadline before any ask crossed maxPrice; nothing was paid.',
  order_cancelled: 'the limit order was cancelled; nothing was paid.',
  all_providers_failed: 'no provider on the market could serve this request.',
  insufficient_funds: 'the wallet holds too little ecash for this request; fund it.',
};

/** `error` (a core error, or anything thrown by the paying fetch) as a RoutstrCallError; aborts and AI SDK errors pass through. */
export function toRoutstrCallError(error: unknown, url: string, requestBodyValues: unknown): unknown {
  if (error instanceof RoutstrCallError) return error;
  if (error instanceof Error && (error.name === 'AbortError' || error.name === 'TimeoutError')) return error;
  if (APICallError.isInstance(error)) {
    const cause = (error as { cause?: unknown }).cause;
    // the SDK wrapped our error from fetch: unwrap it
    if (cause instanceof Error && typeof (cause as { code?: unknown }).code === 'string') return toRoutstrCallError(cause, url, requestBodyValues);
    return error;
  }
  const raw = error instanceof Error ? (error as Error & { code?: unknown }).code : undefined;
  const code = typeof raw === 'string' ? raw : 'routstr_error';
  const base = error instanceof Error ? error.message : String(error);
  const hint = HINTS[code];
  return new RoutstrCallError({ code, message: hint ? `Routstr: ${hint} (${base})` : `Routstr: ${base}`, url, requestBodyValues, cause: error, statusCode: code === 'price_above_limit' || code === 'budget_exceeded' ? 402 : undefined });
}
