/**
 * The one table that tells a buyer what the market's typed errors mean and what to do about them.
 * Every adapter (AI SDK, LangChain, MCP) words its refusals from here, by the core error's `code`.
 */

/** What a buyer should read for each core error code a request can end in. */
export const ERROR_HINTS: Readonly<Record<string, string>> = {
  price_above_limit: 'every ask is above your price limit (maxPrice); nothing was spent. Raise it, or buy with a limit order to wait for the price.',
  budget_exceeded: 'the payment would exceed your budget; nothing was spent.',
  order_expired: 'the limit order reached its deadline before any ask crossed its limit; nothing was spent.',
  order_cancelled: 'the limit order was cancelled; nothing was spent.',
  all_providers_failed: 'no provider on the market could serve this request.',
  insufficient_funds: 'the wallet holds too little ecash for this request; fund it.',
  invalid_settings: 'the settings cannot work; nothing was spent.',
};

/** A core error as a buyer reads it: its stable `code`, its own message, and the hint for that code (if any). */
export interface Refusal {
  readonly code: string;
  readonly message: string;
  readonly hint: string | undefined;
}

/** `error` as a Refusal when it is a core error (an Error with a string `code`); undefined otherwise. */
export function refusalOf(error: unknown): Refusal | undefined {
  if (!(error instanceof Error)) return undefined;
  const code = (error as Error & { code?: unknown }).code;
  if (typeof code !== 'string') return undefined;
  return { code, message: error.message, hint: ERROR_HINTS[code] };
}

/** The one-line text of a refusal: `Routstr: <hint> (<message>)`, or `Routstr: <message>` when the code has no hint. */
export function refusalText(refusal: Refusal): string {
  return refusal.hint ? `Routstr: ${refusal.hint} (${refusal.message})` : `Routstr: ${refusal.message}`;
}
