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

const HINTS: Record<string, string> = {
  price_above_limit: 'the market is above your maxPrice; nothing was paid. Raise maxPrice or use order: "limit" to wait for the price.',
  budget_exceeded: 'the payment would exceed your budget; nothing was paid.',
  order_expired: 'the limit order reached its deadline before any ask crossed maxPrice; nothing was paid.',
  order_cancelled: 'the limit order was cancelled; nothing was paid.',
  all_providers_failed: 'no provider on the market could serve this request.',
  insufficient_funds: 'the wallet holds too little ecash for this request; fund it.',
};

/** `error` as a RoutstrError when it came from the market (it has a core `code`); aborts and other errors pass through. */
export function toRoutstrError(error: unknown): unknown {
  if (error instanceof RoutstrError || !(error instanceof Error)) return error;
  if (error.name === 'AbortError') return error;
  const raw = (error as Error & { code?: unknown }).code;
  if (typeof raw !== 'string') return error;
  const hint = HINTS[raw];
  return new RoutstrError(raw, hint ? `Routstr: ${hint} (${error.message})` : `Routstr: ${error.message}`, error);
}
