/**
 * The session side of a paid request: a funded `sk-` key per provider (SessionBook), the request
 * sent with it, the answer read within the buyer's limits, and the node's debit verified. The
 * most a request can debit is reserved against the payer's total budget until its receipt.
 */
import { parseNodeError } from '../../protocol/index.ts';
import { normalizeUsage } from '../../pricing/index.ts';
import { failpoint } from '../../wallet/failpoint.ts';
import { WalletError } from '../../wallet/index.ts';
import type { Reservation } from './budget-ledger.ts';
import { readBounded } from './bounded-body.ts';
import type { ResponseLimits, Timeouts } from './buyer-guards.ts';
import { RequestTimeout, ResponseTooLarge, StreamLimitExceeded } from './errors.ts';
import { holdStreamEnd } from './held-stream.ts';
import { errorMessage, headersWithout, type Outcome, type ProviderTry, type ReceiptInput, safeCost } from './payer-types.ts';
import { checkCharge, expectedCost, type Receipt, type ReceiptProblem } from './receipt.ts';
import { retryAfterMs } from './refund-route.ts';
import { SessionFundingFailed, type LiveSession, type SessionBook } from './session-book.ts';
import { SseTap } from './sse-tap.ts';
import { clampUsage, isInflated, usageBounds } from './usage-check.ts';

/** What the session exchange uses of its payer. */
export interface SessionDeps {
  readonly sessions: SessionBook;
  readonly fetch: typeof fetch;
  readonly limits: Required<ResponseLimits>;
  readonly timeouts: Required<Timeouts>;
  readonly maxRetryAfterMs: number;
  /** Checks the per-request cap and reserves against the total budget. */
  reserve(amountSat: number): Reservation;
  /** Counts a debit beyond its reservation as spent. */
  countSpend(sat: number): void;
  limitedStream(body: ReadableStream<Uint8Array>, guard: AbortController, problems: ReceiptProblem[]): ReadableStream<Uint8Array>;
  finish(t: ProviderTry, r: ReceiptInput): Receipt;
}

/** Pays session-mode requests for a Payer. */
export class SessionExchange {
  readonly #d: SessionDeps;

  constructor(deps: SessionDeps) {
    this.#d = deps;
  }

  /** Sends one try on the provider's session key (opened or topped up first); `release` frees the provider's slot. */
  async exchange(t: ProviderTry, release: () => void): Promise<Outcome> {
    const { ctx, url, sizing } = t;
    const required = sizing.amountSat;
    const fail = (status: number | undefined, code: string, message: string, wholeProvider: boolean, retry?: { waitMs: number; dropQuote: boolean }): Outcome => ({
      ok: false,
      record: { provider: t.candidate.provider, url, status, code, message, paidSat: 0, returnedSat: 0, tokenReused: false, pendingRecovery: false },
      ...(retry ? { retry } : {}),
      wholeProvider,
    });
    // the most this request can debit is reserved against the total budget until its receipt
    const hold = this.#d.reserve(Math.ceil(sizing.gateMsat / 1000));
    let s: LiveSession;
    try {
      s = await this.#d.sessions.acquire(url, t.mint, sizing.gateMsat, required, ctx.signal);
    } catch (error) {
      hold.settle(0);
      if (error instanceof WalletError) throw error; // budgets, funds: refused before anything left
      if (error instanceof SessionFundingFailed) return fail(error.nodeError?.status, error.nodeError?.code ?? 'session_funding_failed', error.message, !error.nodeError);
      throw error;
    }
    const guard = new AbortController();
    const signal = ctx.signal ? AbortSignal.any([ctx.signal, guard.signal]) : guard.signal;
    const timer = setTimeout(() => guard.abort(new RequestTimeout(this.#d.timeouts.requestMs)), this.#d.timeouts.requestMs);
    try {
      return await this.#request(t, s, hold, release, guard, signal, fail);
    } finally {
      clearTimeout(timer);
    }
  }

  async #request(
    t: ProviderTry,
    s: LiveSession,
    hold: Reservation,
    release: () => void,
    guard: AbortController,
    signal: AbortSignal,
    fail: (status: number | undefined, code: string, message: string, wholeProvider: boolean, retry?: { waitMs: number; dropQuote: boolean }) => Outcome,
  ): Promise<Outcome> {
    const { ctx, url, sizing } = t;
    const required = sizing.amountSat;
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      accept: ctx.stream ? 'text/event-stream' : 'application/json',
      authorization: `Bearer ${s.apiKey}`,
    };
    if (t.quoteId) headers['x-routstr-quote'] = t.quoteId;
    let res: Response;
    try {
      res = await this.#d.fetch(`${url}${ctx.path}`, { method: 'POST', headers, body: JSON.stringify(t.body), signal });
    } catch (error) {
      this.#d.sessions.release(s, sizing.gateMsat, undefined, required);
      hold.settle(Math.ceil(sizing.gateMsat / 1000)); // the node may have debited it: count the most
      return fail(undefined, ctx.signal?.aborted ? 'aborted' : guard.signal.aborted ? 'timeout' : 'network', errorMessage(error), true);
    }
    if (!res.ok) {
      const text = await readBounded(res, this.#d.limits.maxErrorBytes).catch(() => '');
      const err = parseNodeError(res.status, text);
      this.#d.sessions.release(s, sizing.gateMsat, 0, required);
      hold.settle(0);
      if (err.code === 'insufficient_balance') {
        await this.#d.sessions.refreshBalance(s).catch(() => undefined);
        return fail(res.status, err.code, err.message, false, { waitMs: 0, dropQuote: false });
      }
      const ra = retryAfterMs(res.headers.get('retry-after'));
      const retry = res.status === 429 && ra !== undefined && ra <= this.#d.maxRetryAfterMs ? { waitMs: ra, dropQuote: false } : typeof err.providerCode === 'string' && err.providerCode.startsWith('quote_') ? { waitMs: 0, dropQuote: true } : undefined;
      return fail(res.status, res.status === 429 ? 'rate_limited' : err.code, err.message, false, retry);
    }
    const isSse = (res.headers.get('content-type') ?? '').includes('text/event-stream');
    if (ctx.stream && isSse && res.body) {
      const tap = new SseTap();
      const problems: ReceiptProblem[] = [];
      let done = false;
      const finish = async (): Promise<void> => {
        if (done) return;
        done = true;
        try {
          this.#d.sessions.release(s, sizing.gateMsat, tap.costMsat, required);
          release();
          this.#complete(t, hold, { usage: tap.usage }, tap.costMsat, problems);
        } catch (error) {
          t.ctx.receipt.reject(error); // the request's receipt settles either way
          throw error;
        }
      };
      const limited = this.#d.limitedStream(res.body, guard, problems);
      const out = holdStreamEnd(limited, tap, {
        first: () => failpoint('payer:mid-stream'),
        settle: finish,
        broken: () => void finish(),
        settlesOnError: (error) => error instanceof ResponseTooLarge || error instanceof StreamLimitExceeded,
      });
      return { ok: true, response: new Response(out, { status: res.status, statusText: res.statusText, headers: headersWithout(res.headers, 'content-length', 'content-encoding') }) };
    }
    let text: string;
    try {
      text = await readBounded(res, this.#d.limits.maxBodyBytes);
    } catch (error) {
      guard.abort(error);
      release();
      this.#d.sessions.release(s, sizing.gateMsat, undefined, required);
      if (error instanceof ResponseTooLarge) {
        error.receipt = this.#complete(t, hold, undefined, undefined, ['response_too_large']);
        throw error;
      }
      hold.settle(Math.ceil(sizing.gateMsat / 1000));
      return fail(res.status, ctx.signal?.aborted ? 'aborted' : guard.signal.aborted ? 'timeout' : 'network', errorMessage(error), true);
    }
    release();
    let json: unknown;
    try {
      json = JSON.parse(text) as unknown;
    } catch {
      json = undefined;
    }
    const cost = safeCost(json, res.headers);
    this.#d.sessions.release(s, sizing.gateMsat, cost, required);
    this.#complete(t, hold, json, cost);
    return { ok: true, response: new Response(text, { status: res.status, statusText: res.statusText, headers: headersWithout(res.headers, 'content-length', 'content-encoding') }) };
  }

  #complete(t: ProviderTry, hold: Reservation, json: unknown, costMsat: number | undefined, problems: readonly ReceiptProblem[] = []): Receipt {
    const usage = typeof json === 'object' && json !== null ? (json as Record<string, unknown>)['usage'] : undefined;
    const bounds = usageBounds(t.body);
    const all: ReceiptProblem[] = [...problems];
    if (isInflated(normalizeUsage(usage), bounds)) all.push('usage_inflated');
    const expected = expectedCost(t.model, clampUsage(usage, bounds), t.sizing.gateMsat);
    const charged = costMsat ?? t.sizing.gateMsat;
    const chargedSat = Math.ceil(charged / 1000);
    hold.settle(chargedSat);
    if (chargedSat > hold.amountSat) this.#d.countSpend(chargedSat - hold.amountSat);
    return this.#d.finish(t, {
      paidSat: chargedSat,
      changeSat: 0,
      chargedMsat: charged,
      costMsat,
      expectedCostMsat: expected,
      usage,
      verification: checkCharge(expected, charged, 0, all),
      changePending: false,
      problems: all,
    });
  }
}
