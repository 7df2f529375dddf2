import { APICallError } from '@ai-sdk/provider';
import { refusalOf, refusalText } from '@routstr-kit/core';

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
  // worded by core's one hint table, as every adapter words it
  const refusal = refusalOf(error) ?? { code: 'routstr_error', message: error instanceof Error ? error.message : String(error), hint: undefined };
  const { code } = refusal;
  return new RoutstrCallError({ code, message: refusalText(refusal), url, requestBodyValues, cause: error, statusCode: code === 'price_above_limit' || code === 'budget_exceeded' ? 402 : undefined });
}
