import { refusalOf, refusalText } from '@routstr-kit/core';

/**
 * A request the market refused or could not serve. `code` is the core's stable code
 * (`price_above_limit`, `budget_exceeded`, `all_providers_failed`, `order_expired`, …) and
 * `cause` the core's typed error.
 */
export class RoutstrError extends Error {
  readonly code: string;
  constructor(code: string, message: string, cause: unknown) {
    super(message, { cause });
    this.name = 'RoutstrError';
    this.code = code;
  }
}

/** `error` as a RoutstrError when it came from the market (it has a core `code`); aborts and other errors pass through. */
export function toRoutstrError(error: unknown): unknown {
  if (error instanceof RoutstrError || !(error instanceof Error)) return error;
  if (error.name === 'AbortError') return error;
  // worded by core's one hint table, as every adapter words it
  const refusal = refusalOf(error);
  if (!refusal) return error;
  return new RoutstrError(refusal.code, refusalText(refusal), error);
}
