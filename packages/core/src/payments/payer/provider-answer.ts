/**
 * What the X-Cashu and the session exchange do alike with one try's answer: send it under a guard
 * (the request timeout and the caller's signal), classify how a failed try ended, decide whether a
 * refusal allows a retry, read a whole answer, pass a stream through with its end held until the
 * request is settled, and judge the usage a node reports. Only how each pays differs.
 */
import { failpoint } from '../../wallet/failpoint.ts';
import { parseNodeError, type RoutstrNodeError } from '../../protocol/index.ts';
import { normalizeUsage } from '../../pricing/index.ts';
import { readBounded } from './bounded-body.ts';
import type { ResponseLimits } from './buyer-guards.ts';
import { RequestTimeout, ResponseTooLarge, StreamLimitExceeded } from './errors.ts';
import { holdStreamEnd } from './held-stream.ts';
import { headersWithout, type ProviderTry, type RequestContext } from './payer-types.ts';
import { expectedCost, type ReceiptProblem } from './receipt.ts';
import { retryAfterMs } from './refund-route.ts';
import { SseTap } from './sse-tap.ts';
import { clampUsage, isInflated, usageBounds } from './usage-check.ts';

/** A retry a refusal allows: wait and ask the same provider again, possibly without the quote. */
export interface Retry {
  readonly waitMs: number;
  readonly dropQuote: boolean;
}

/** One try's connection guard: our own limits abort through `guard`, the caller's signal through `signal` too. */
export interface TryGuard {
  readonly guard: AbortController;
  readonly signal: AbortSignal;
  /** Stops the request timeout (the answer's headers, or a whole body, arrived). */
  clear(): void;
}

/** Starts a try's guard: the request timeout, joined with the caller's signal. */
export function tryGuard(ctx: RequestContext, requestMs: number): TryGuard {
  const guard = new AbortController();
  const signal = ctx.signal ? AbortSignal.any([ctx.signal, guard.signal]) : guard.signal;
  const timer = setTimeout(() => guard.abort(new RequestTimeout(requestMs)), requestMs);
  return { guard, signal, clear: () => clearTimeout(timer) };
}

/** POSTs the try's body with `payment` (the X-Cashu header or a session key) under `signal`. */
export function postTry(doFetch: typeof fetch, t: ProviderTry, payment: Record<string, string>, signal: AbortSignal): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: t.ctx.stream ? 'text/event-stream' : 'application/json', ...payment };
  if (t.quoteId) headers['x-routstr-quote'] = t.quoteId;
  return doFetch(`${t.url}${t.ctx.path}`, { method: 'POST', headers, body: JSON.stringify(t.body), signal });
}

/** How a try's connection ended without an answer: the caller aborted, a limit of ours cut it, or the network. */
export function endCode(ctx: RequestContext, g: TryGuard): 'aborted' | 'timeout' | 'network' {
  return ctx.signal?.aborted ? 'aborted' : g.guard.signal.aborted ? 'timeout' : 'network';
}

/** A provider's refusal, read within the error-size limit, with the retry it allows. */
export async function readRefusal(res: Response, limits: Required<ResponseLimits>, maxRetryAfterMs: number): Promise<{ err: RoutstrNodeError; code: string; retry: Retry | undefined }> {
  const text = await readBounded(res, limits.maxErrorBytes).catch(() => '');
  const err = parseNodeError(res.status, text);
  const after = retryAfterMs(res.headers.get('retry-after'));
  // a 429 with a short Retry-After: the same provider again after it; a refused quote: once at the current price
  const retry =
    res.status === 429 && after !== undefined && after <= maxRetryAfterMs
      ? { waitMs: after, dropQuote: false }
      : typeof err.providerCode === 'string' && err.providerCode.startsWith('quote_')
        ? { waitMs: 0, dropQuote: true }
        : undefined;
  return { err, code: res.status === 429 ? 'rate_limited' : err.code, retry };
}

/** Whether the provider answered with a stream the caller asked for. */
export function isStream(ctx: RequestContext, res: Response): res is Response & { body: ReadableStream<Uint8Array> } {
  return ctx.stream && (res.headers.get('content-type') ?? '').includes('text/event-stream') && res.body !== null;
}

/** A whole answer's text parsed as JSON (undefined when it is not JSON). */
export function parseAnswer(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** `res` around a new body (its length and encoding dropped: the payer re-wraps what it read). */
export function rewrap(res: Response, body: string | ReadableStream<Uint8Array>): Response {
  return new Response(body, { status: res.status, statusText: res.statusText, headers: headersWithout(res.headers, 'content-length', 'content-encoding') });
}

/** The hooks of a held stream: how the request settles at its end, or in the background when broken off. */
export interface HeldHooks {
  settle(): Promise<void>;
  broken(): void;
}

/** Passes a paid stream to the caller within the stream limits; its end waits for `hooks.settle`. */
export function heldAnswer(
  res: Response & { body: ReadableStream<Uint8Array> },
  tap: SseTap,
  limited: (body: ReadableStream<Uint8Array>) => ReadableStream<Uint8Array>,
  hooks: HeldHooks,
): Response {
  const out = holdStreamEnd(limited(res.body), tap, {
    first: () => failpoint('payer:mid-stream'),
    settle: hooks.settle,
    broken: hooks.broken,
    // cut off by a limit: the change is collected and the receipt written before the caller sees the error
    settlesOnError: (error) => error instanceof ResponseTooLarge || error instanceof StreamLimitExceeded,
  });
  return rewrap(res, out);
}

/** The usage a node reported, judged: its problems (`usage_inflated` added) and the cost it should have had. */
export function judgeUsage(t: ProviderTry, json: unknown, problems: readonly ReceiptProblem[]): { usage: unknown; problems: ReceiptProblem[]; expectedMsat: number } {
  const usage = typeof json === 'object' && json !== null ? (json as Record<string, unknown>)['usage'] : undefined;
  const bounds = usageBounds(t.body);
  const all: ReceiptProblem[] = [...problems];
  if (isInflated(normalizeUsage(usage), bounds)) all.push('usage_inflated');
  // a stream broken off before its usage arrived cannot be priced from usage: an honest node bills what it
  // generated, so the most the request allows (its gate) is what the charge is held to
  if (usage === undefined && problems.includes('broken_off')) return { usage, problems: all, expectedMsat: t.sizing.gateMsat };
  // inflated usage is priced as the most the request allows, never as reported
  return { usage, problems: all, expectedMsat: expectedCost(t.model, clampUsage(usage, bounds), t.sizing.gateMsat) };
}
