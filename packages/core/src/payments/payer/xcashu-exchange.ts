/**
 * The X-Cashu side of a paid request: a token per request in the `X-Cashu` header, the answer read
 * within the buyer's limits (size, time), the change collected (response header, the final
 * `: x-cashu` SSE comment, or the refund route) and verified at the mint before it counts, and a
 * token a node did not serve taken back (or carried to the next try when it came back unspent).
 */
import { parseNodeError } from '../../protocol/index.ts';
import { normalizeUsage } from '../../pricing/index.ts';
import { failpoint } from '../../wallet/failpoint.ts';
import type { EcashWallet, SentToken } from '../../wallet/index.ts';
import { readBounded } from './bounded-body.ts';
import type { ResponseLimits, Timeouts } from './buyer-guards.ts';
import { changeFace, refusedChange } from './change-check.ts';
import { RequestTimeout, ResponseTooLarge, StreamLimitExceeded } from './errors.ts';
import { holdStreamEnd } from './held-stream.ts';
import type { PayerStore } from './payer-store.ts';
import { errorMessage, headersWithout, type ChangeResult, type Outcome, type ProviderTry, type ReceiptInput, type RequestContext, safeCost } from './payer-types.ts';
import type { ProviderDirectory } from './provider-directory.ts';
import { checkCharge, expectedCost, type Receipt, type ReceiptProblem } from './receipt.ts';
import { changeByRefundRoute, retryAfterMs } from './refund-route.ts';
import { SseTap } from './sse-tap.ts';
import { clampUsage, isInflated, usageBounds } from './usage-check.ts';

/** What the X-Cashu exchange uses of its payer. */
export interface XCashuDeps {
  readonly wallet: EcashWallet;
  readonly store: PayerStore;
  readonly directory: ProviderDirectory;
  /** This payer instance (`pid:uuid`), recorded with every token a provider holds. */
  readonly owner: string;
  readonly fetch: typeof fetch;
  readonly limits: Required<ResponseLimits>;
  readonly timeouts: Required<Timeouts>;
  readonly maxRetryAfterMs: number;
  /** Journal ids of tokens in flight (recovery leaves them alone). */
  readonly inflight: Set<string>;
  settleHold(journalId: string, keptSat: number): void;
  distrust(provider: string, reason: string): void;
  refundSignal(ctx: RequestContext | undefined): AbortSignal;
  limitedStream(body: ReadableStream<Uint8Array>, guard: AbortController, problems: ReceiptProblem[]): ReadableStream<Uint8Array>;
  finish(t: ProviderTry, r: ReceiptInput): Receipt;
  track(p: Promise<unknown>): void;
}

/** Pays and settles X-Cashu requests for a Payer. */
export class XCashuExchange {
  readonly #d: XCashuDeps;

  constructor(deps: XCashuDeps) {
    this.#d = deps;
  }

  /** Sends one try paid with `token` (`reused`: carried from a failed try); `release` frees the provider's slot. */
  async exchange(t: ProviderTry, token: SentToken, reused: boolean, release: () => void): Promise<Outcome> {
    const { ctx, url } = t;
    this.#d.inflight.add(token.entry.id);
    let handedOff = false;
    // our own limits abort the connection through `guard`; the caller's signal aborts it too
    const guard = new AbortController();
    const signal = ctx.signal ? AbortSignal.any([ctx.signal, guard.signal]) : guard.signal;
    const timer = setTimeout(() => guard.abort(new RequestTimeout(this.#d.timeouts.requestMs)), this.#d.timeouts.requestMs);
    const failed = (status: number | undefined, code: string, message: string, header?: string): Promise<Outcome> =>
      this.#failed(t, token, reused, { status, code, message, header, refundToken: undefined, retryAfter: undefined, providerCode: undefined });
    try {
      this.#d.store.markSent(token.entry.id, ctx.requestId, url, this.#d.owner);
      failpoint('payer:before-send');
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        accept: ctx.stream ? 'text/event-stream' : 'application/json',
        'x-cashu': token.token,
        // issue 13: ask for the streamed change as an SSE comment (the node engineer's wire extension)
        'x-routstr-stream-change': 'sse',
      };
      if (t.quoteId) headers['x-routstr-quote'] = t.quoteId;
      let res: Response;
      try {
        ctx.signal?.throwIfAborted();
        res = await this.#d.fetch(`${url}${ctx.path}`, { method: 'POST', headers, body: JSON.stringify(t.body), signal });
      } catch (error) {
        const code = ctx.signal?.aborted ? 'aborted' : guard.signal.aborted ? 'timeout' : 'network';
        return await failed(undefined, code, guard.signal.aborted ? errorMessage(guard.signal.reason) : errorMessage(error));
      }
      failpoint('payer:after-send');
      const changeHeader = res.headers.get('x-cashu')?.trim() || undefined;
      if (!res.ok) {
        const text = await readBounded(res, this.#d.limits.maxErrorBytes).catch(() => '');
        const err = parseNodeError(res.status, text);
        return await this.#failed(t, token, reused, {
          status: res.status,
          code: res.status === 429 ? 'rate_limited' : err.code,
          message: err.message,
          header: changeHeader,
          refundToken: err.refundToken,
          retryAfter: retryAfterMs(res.headers.get('retry-after')),
          providerCode: err.providerCode,
        });
      }
      const isSse = (res.headers.get('content-type') ?? '').includes('text/event-stream');
      if (ctx.stream && isSse && res.body) {
        clearTimeout(timer);
        handedOff = true;
        return { ok: true, response: this.#stream(t, token, res, release, guard) };
      }
      let text: string;
      try {
        text = await readBounded(res, this.#d.limits.maxBodyBytes);
      } catch (error) {
        if (error instanceof ResponseTooLarge) {
          // served but too big: cut off, change collected, recorded, and the provider avoided
          guard.abort(error);
          release();
          const change = await this.#collectChange(url, token, changeHeader, undefined, ctx);
          error.receipt = this.#complete(t, token, undefined, undefined, change, ['response_too_large']);
          throw error;
        }
        const code = ctx.signal?.aborted ? 'aborted' : guard.signal.aborted ? 'timeout' : 'network';
        return await failed(res.status, code, guard.signal.aborted ? errorMessage(guard.signal.reason) : errorMessage(error), changeHeader);
      }
      clearTimeout(timer);
      release();
      let json: unknown;
      try {
        json = JSON.parse(text) as unknown;
      } catch {
        json = undefined;
      }
      const reported = safeCost(json, res.headers);
      const change = await this.#collectChange(url, token, changeHeader, reported, ctx);
      this.#complete(t, token, json, reported, change);
      return { ok: true, response: new Response(text, { status: res.status, statusText: res.statusText, headers: headersWithout(res.headers, 'content-length', 'content-encoding') }) };
    } finally {
      clearTimeout(timer);
      if (!handedOff) this.#d.inflight.delete(token.entry.id);
    }
  }

  /** Takes back (or collects the refund of) a token after a failed try; an echoed unspent token is carried on. */
  async #failed(
    t: ProviderTry,
    token: SentToken,
    reused: boolean,
    f: { status: number | undefined; code: string; message: string; header: string | undefined; refundToken: string | undefined; retryAfter: number | undefined; providerCode: string | number | undefined },
  ): Promise<Outcome> {
    let carry: SentToken | undefined;
    let returned = 0;
    let pending = false;
    if (f.header !== undefined && f.header === token.token) {
      carry = token; // the node did not redeem it (routstr-core echoes the unspent original)
      returned = token.amount;
    } else if (f.header ?? f.refundToken) {
      const got = await this.receiveChange(token, (f.header ?? f.refundToken) as string);
      returned = got.changeSat;
      pending = got.pending;
      if (got.problem) this.#d.distrust(t.candidate.provider, got.problem);
    } else {
      const back = await this.takeBack(token, t.url, t.ctx);
      returned = back.returnedSat;
      pending = back.pending;
    }
    // what the provider kept of a token it did not serve counts against the budget
    if (!carry) this.#d.settleHold(token.entry.id, token.amount - returned);
    // a provider that took the token and then did not answer in time is not asked again
    if (f.code === 'timeout') this.#d.distrust(t.candidate.provider, 'timeout');
    let retry: { waitMs: number; dropQuote: boolean } | undefined;
    if (f.status === 429 && f.retryAfter !== undefined && f.retryAfter <= this.#d.maxRetryAfterMs) retry = { waitMs: f.retryAfter, dropQuote: false };
    if (f.status === 400 && typeof f.providerCode === 'string' && f.providerCode.startsWith('quote_')) retry = { waitMs: 0, dropQuote: true };
    if (f.status === 402 || f.code === 'invalid_model') this.#d.directory.invalidate(t.url);
    return {
      ok: false,
      record: {
        provider: t.candidate.provider,
        url: t.url,
        status: f.status,
        code: f.code,
        message: f.message,
        paidSat: token.amount,
        returnedSat: returned,
        tokenReused: reused,
        pendingRecovery: pending,
      },
      ...(carry ? { carry } : {}),
      ...(retry ? { retry } : {}),
      wholeProvider: f.code === 'network' || f.code === 'mint_unreachable',
    };
  }

  /**
   * Takes a token back: unspent proofs are swapped back into the wallet; if the node redeemed it,
   * its refund route is asked for the change; what cannot be settled now stays for recovery.
   */
  async takeBack(token: SentToken, url: string | undefined, ctx?: RequestContext): Promise<{ returnedSat: number; pending: boolean }> {
    const out = await this.#takeBackOnce(token, url, ctx);
    this.#d.settleHold(token.entry.id, token.amount - out.returnedSat);
    return out;
  }

  async #takeBackOnce(token: SentToken, url: string | undefined, ctx: RequestContext | undefined): Promise<{ returnedSat: number; pending: boolean }> {
    let back: number;
    try {
      back = await this.#d.wallet.reclaim(token.entry);
    } catch {
      return { returnedSat: 0, pending: true };
    }
    const entry = this.#d.wallet.journal({ requestId: token.entry.requestId ?? undefined }).find((e) => e.id === token.entry.id);
    if (back > 0 || entry?.status === 'reclaimed') {
      this.#d.store.markDone(token.entry.id);
      return { returnedSat: back, pending: false };
    }
    const rec = this.#d.store.xcashu(token.entry.id);
    const at = url ?? rec?.providerUrl;
    if (!at) return { returnedSat: 0, pending: true };
    const look = await changeByRefundRoute(at, token.token, { fetch: this.#d.fetch, maxPolls: 3, signal: this.#d.refundSignal(ctx) });
    if (look.state === 'token') {
      const got = await this.receiveChange(token, look.token);
      return { returnedSat: got.changeSat, pending: got.pending };
    }
    if (look.state === 'none') {
      this.#d.wallet.settle(token.entry.id);
      this.#d.store.markDone(token.entry.id);
      return { returnedSat: 0, pending: false };
    }
    return { returnedSat: 0, pending: true };
  }

  /**
   * Stores a change token: kept in the payer table first, then redeemed, then the payment settled.
   * Change counts only once the mint took it: a token the mint refuses (forged proofs, unknown
   * keyset, spent by someone else) is recorded as such and counts as nothing returned.
   */
  async receiveChange(token: Pick<SentToken, 'entry'>, change: string): Promise<ChangeResult> {
    this.#d.store.saveChange(token.entry.id, change);
    failpoint('payer:before-change-stored');
    let credited: number;
    try {
      credited = await this.#d.wallet.receive(change);
    } catch (error) {
      const problem = refusedChange(error, this.#d.wallet, change);
      if (problem === 'stored') credited = changeFace(change); // redeemed by this wallet before a crash
      else if (problem === undefined) return { changeSat: 0, pending: true }; // mint unreachable: try again at recovery
      else {
        this.#d.wallet.settle(token.entry.id);
        this.#d.store.markDone(token.entry.id);
        return { changeSat: 0, pending: false, problem };
      }
    }
    this.#d.wallet.settle(token.entry.id);
    this.#d.store.markDone(token.entry.id);
    return { changeSat: credited, pending: false };
  }

  /**
   * The change of a served request: from the header/comment if it came, else from the refund route
   * when some is owed. `ctx` (the caller's signal) is left out where the lookup runs in the background.
   */
  async #collectChange(url: string, token: SentToken, change: string | undefined, reportedMsat: number | undefined, ctx: RequestContext | undefined): Promise<ChangeResult> {
    if (change) return this.receiveChange(token, change);
    const owed = reportedMsat === undefined || token.amount > Math.ceil(reportedMsat / 1000);
    if (owed) {
      const look = await changeByRefundRoute(url, token.token, { fetch: this.#d.fetch, signal: this.#d.refundSignal(ctx) });
      if (look.state === 'token') return this.receiveChange(token, look.token);
      if (look.state !== 'none') return { changeSat: 0, pending: true };
    }
    this.#d.wallet.settle(token.entry.id);
    this.#d.store.markDone(token.entry.id);
    return { changeSat: 0, pending: false };
  }

  /** Passes an X-Cashu stream through as it arrives; the change is stored before the caller sees its end. */
  #stream(t: ProviderTry, token: SentToken, res: Response, release: () => void, guard: AbortController): Response {
    const tap = new SseTap();
    tap.onChange = (change) => this.#d.store.saveChange(token.entry.id, change);
    const problems: ReceiptProblem[] = [];
    let finished: Promise<void> | undefined;
    const finish = (): Promise<void> =>
      (finished ??= (async () => {
        try {
          tap.end();
          // runs after the caller's last read (or its abort): bounded by the refund timeout alone, so change still comes back
          const change = await this.#collectChange(t.url, token, tap.changeToken, problems.length > 0 ? undefined : tap.costMsat, undefined);
          this.#complete(t, token, { usage: tap.usage }, tap.costMsat, change, problems);
        } catch (error) {
          t.ctx.receipt.reject(error); // the request's receipt settles either way
          throw error;
        } finally {
          release();
          this.#d.inflight.delete(token.entry.id);
        }
      })());
    const limited = this.#d.limitedStream(res.body as ReadableStream<Uint8Array>, guard, problems);
    // broken off (abort, network): the node bills what it generated; its refund route has the change
    const out = holdStreamEnd(limited, tap, {
      first: () => failpoint('payer:mid-stream'),
      settle: finish,
      broken: () => this.#d.track(finish()),
      // cut off by a limit: the change is collected and the receipt written before the caller sees the error
      settlesOnError: (error) => error instanceof ResponseTooLarge || error instanceof StreamLimitExceeded,
    });
    return new Response(out, { status: res.status, statusText: res.statusText, headers: headersWithout(res.headers, 'content-length', 'content-encoding') });
  }

  #complete(t: ProviderTry, token: SentToken, json: unknown, reportedMsat: number | undefined, change: ChangeResult, problems: readonly ReceiptProblem[] = []): Receipt {
    const raw = typeof json === 'object' && json !== null ? (json as Record<string, unknown>)['usage'] : undefined;
    const bounds = usageBounds(t.body);
    const all: ReceiptProblem[] = [...problems];
    if (change.problem) all.push(change.problem);
    if (isInflated(normalizeUsage(raw), bounds)) all.push('usage_inflated');
    // inflated usage is priced as the most the request allows, never as reported
    const expected = expectedCost(t.model, clampUsage(raw, bounds), t.sizing.gateMsat);
    const paidMsat = token.amount * 1000;
    const verification = checkCharge(expected, paidMsat, change.changeSat * 1000, all);
    // what the provider kept of the token counts against the budget, the rest is released
    this.#d.settleHold(token.entry.id, token.amount - Math.min(token.amount, change.changeSat));
    return this.#d.finish(t, {
      paidSat: token.amount,
      changeSat: change.changeSat,
      chargedMsat: paidMsat - Math.min(paidMsat, change.changeSat * 1000),
      costMsat: reportedMsat,
      expectedCostMsat: expected,
      usage: raw,
      verification,
      changePending: change.pending,
      problems: all,
    });
  }
}
