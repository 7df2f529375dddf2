/**
 * The provider's refund routes as a buyer uses them: `POST /v1/wallet/refund` with
 * `X-Cashu: <original token>` re-delivers an X-Cashu request's change (425 + Retry-After while
 * it is being made, then 200 with the same token every time; 404 when none is owed or the token
 * is unknown), and with `Authorization: Bearer sk-…` refunds a session balance.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { parseNodeError, parseRefundResponse, type RoutstrNodeError } from '../../protocol/index.ts';
import { readBounded } from './bounded-body.ts';

const MAX_REFUND_ANSWER_BYTES = 256 << 10;

export type ChangeLookup =
  | { readonly state: 'token'; readonly token: string; readonly amountMsat: number }
  | { readonly state: 'none'; readonly reason: string }
  | { readonly state: 'pending' }
  | { readonly state: 'unreachable'; readonly error: unknown };

export interface RefundRouteOptions {
  readonly fetch?: typeof fetch;
  readonly signal?: AbortSignal;
  /** Polls while the node answers 425 (default 8). */
  readonly maxPolls?: number;
  /** Longest wait between polls whatever Retry-After says (default 2 000 ms). */
  readonly maxWaitMs?: number;
}

/** Seconds of a Retry-After header (delta-seconds or HTTP date), as ms. */
export function retryAfterMs(value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Asks `baseUrl` (ending in `/`) for the change of the X-Cashu request paid with `originalToken`. */
export async function changeByRefundRoute(baseUrl: string, originalToken: string, options: RefundRouteOptions = {}): Promise<ChangeLookup> {
  const doFetch = options.fetch ?? fetch;
  const polls = options.maxPolls ?? 8;
  for (let i = 0; ; i++) {
    let res: Response;
    try {
      res = await doFetch(`${baseUrl}v1/wallet/refund`, { method: 'POST', headers: { 'x-cashu': originalToken }, signal: options.signal ?? null });
    } catch (error) {
      return { state: 'unreachable', error };
    }
    // a refund answer is a token and a few fields: more than this is not read (memory stays bounded)
    const text = await readBounded(res, MAX_REFUND_ANSWER_BYTES).catch(() => '');
    if (res.status === 200) {
      const header = res.headers.get('x-cashu');
      try {
        const refund = parseRefundResponse(JSON.parse(text) as unknown);
        const token = refund.token ?? header ?? undefined;
        if (token) return { state: 'token', token, amountMsat: refund.amountMsat };
      } catch {
        if (header) return { state: 'token', token: header, amountMsat: 0 };
      }
      return { state: 'none', reason: 'refund answer without a token' };
    }
    if (res.status === 425) {
      if (i + 1 >= polls) return { state: 'pending' };
      const wait = Math.min(retryAfterMs(res.headers.get('retry-after')) ?? 1000, options.maxWaitMs ?? 2_000);
      try {
        await delay(wait, undefined, { signal: options.signal });
      } catch {
        return { state: 'pending' };
      }
      continue;
    }
    if (res.status === 404 || res.status === 410) return { state: 'none', reason: `${res.status}: ${parseNodeError(res.status, text).message}` };
    return { state: 'unreachable', error: parseNodeError(res.status, text) };
  }
}

/** A session refund: the token, or the node's typed error (400 "No balance to refund", 401 key_not_found, …). */
export async function refundSession(
  baseUrl: string,
  apiKey: string,
  options: { fetch?: typeof fetch; signal?: AbortSignal } = {},
): Promise<{ ok: true; token: string | undefined; amountMsat: number } | { ok: false; error: RoutstrNodeError }> {
  const doFetch = options.fetch ?? fetch;
  const res = await doFetch(`${baseUrl}v1/wallet/refund`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}` }, signal: options.signal ?? null });
  const text = await res.text();
  if (!res.ok) return { ok: false, error: parseNodeError(res.status, text) };
  const refund = parseRefundResponse(JSON.parse(text) as unknown);
  return { ok: true, token: refund.token, amountMsat: refund.amountMsat };
}
