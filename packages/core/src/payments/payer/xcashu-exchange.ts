/**
 * The X-Cashu side of a paid request: a token per request in the `X-Cashu` header, the answer read
 * within the buyer's limits (size, time), the change collected (response header, the final
 * `: x-cashu` SSE comment, or the refund route) and kept durably in the wallet's incoming journal
 * — the request is done then, not when the mint has swapped it — and a token a node did not serve
 * taken back (or carried to the next try when it came back unspent). The mint's verdict on the
 * change comes from the wallet's background redeem: change it refuses is reported then
 * (`changeRefused`: the receipt amended, the provider distrusted, the budget charged).
 */
import { failpoint } from '../../wallet/failpoint.ts';
import type { EcashWallet, SentToken } from '../../wallet/index.ts';
import { readBounded } from './bounded-body.ts';
import type { ResponseLimits, Timeouts } from './buyer-guards.ts';
import { changeProblem, unusableChange } from './change-check.ts';
import { ResponseTooLarge } from './errors.ts';
import type { Reservation } from './budget-ledger.ts';
import type { PayerStore } from './payer-store.ts';
import { errorMessage, type ChangeResult, type Outcome, type ProviderTry, type ReceiptInput, type RequestContext, safeCost } from './payer-types.ts';
import type { ProviderDirectory } from './provider-directory.ts';
import { endCode, heldAnswer, isStream, judgeUsage, parseAnswer, postTry, readRefusal, rewrap, tryGuard, type Retry } from './provider-answer.ts';
import { checkCharge, type Receipt, type ReceiptProblem } from './receipt.ts';
import { changeByRefundRoute } from './refund-route.ts';
import { SseTap } from './sse-tap.ts';

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
  /** Keeps `sat` reserved against the budgets (no check: they were at risk already) until settled. */
  holdChange(sat: number): Reservation;
  distrust(provider: string, reason: string): void;
  refundSignal(ctx: RequestContext | undefined): AbortSignal;
  limitedStream(body: ReadableStream<Uint8Array>, guard: AbortController, problems: ReceiptProblem[]): ReadableStream<Uint8Array>;
  finish(t: ProviderTry, r: ReceiptInput): Receipt;
  track(p: Promise<unknown>): void;
  /** Kept change the mint refused (background redeem): `receipt` is the request's, when it was served. */
  changeRefused(provider: string, receipt: Receipt | undefined, problem: 'change_forged' | 'change_spent', changeSat: number): void;
}

/** What taking a token back returned: sats back (change kept counts at face value until `verdict` says otherwise). */
export interface TakenBack {
  returnedSat: number;
  pending: boolean;
  verdict?: ChangeResult['verdict'];
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
    const g = tryGuard(ctx, this.#d.timeouts.requestMs);
    const ended = (status: number | undefined, error: unknown, header?: string): Promise<Outcome> =>
      this.#failed(t, token, reused, { status, code: endCode(ctx, g), message: errorMessage(g.guard.signal.aborted ? g.guard.signal.reason : error), header, refundToken: undefined, retry: undefined });
    try {
      this.#d.store.markSent(token.entry.id, ctx.requestId, url, this.#d.owner);
      failpoint('payer:before-send');
      let res: Response;
      try {
        ctx.signal?.throwIfAborted();
        // issue 13: ask for the streamed change as an SSE comment (the node engineer's wire extension)
        res = await postTry(this.#d.fetch, t, { 'x-cashu': token.token, 'x-routstr-stream-change': 'sse' }, g.signal);
      } catch (error) {
        return await ended(undefined, error);
      }
      failpoint('payer:after-send');
      const changeHeader = res.headers.get('x-cashu')?.trim() || undefined;
      if (!res.ok) {
        const { err, code, retry } = await readRefusal(res, this.#d.limits, this.#d.maxRetryAfterMs);
        return await this.#failed(t, token, reused, { status: res.status, code, message: err.message, header: changeHeader, refundToken: err.refundToken, retry });
      }
      if (isStream(ctx, res)) {
        g.clear();
        handedOff = true;
        return { ok: true, response: this.#stream(t, token, res, release, g.guard) };
      }
      let text: string;
      try {
        text = await readBounded(res, this.#d.limits.maxBodyBytes);
      } catch (error) {
        if (error instanceof ResponseTooLarge) {
          // served but too big: cut off, change collected, recorded, and the provider avoided
          g.guard.abort(error);
          release();
          const change = await this.#collectChange(url, token, changeHeader, undefined, ctx);
          error.receipt = this.#complete(t, token, undefined, undefined, change, ['response_too_large']);
          throw error;
        }
        return await ended(res.status, error, changeHeader);
      }
      g.clear();
      release();
      const json = parseAnswer(text);
      const reported = safeCost(json, res.headers);
      const change = await this.#collectChange(url, token, changeHeader, reported, ctx);
      this.#complete(t, token, json, reported, change);
      return { ok: true, response: rewrap(res, text) };
    } finally {
      g.clear();
      if (!handedOff) this.#d.inflight.delete(token.entry.id);
    }
  }

  /** Takes back (or collects the refund of) a token after a failed try; an echoed unspent token is carried on. */
  async #failed(
    t: ProviderTry,
    token: SentToken,
    reused: boolean,
    f: { status: number | undefined; code: string; message: string; header: string | undefined; refundToken: string | undefined; retry: Retry | undefined },
  ): Promise<Outcome> {
    let carry: SentToken | undefined;
    let returned = 0;
    let pending = false;
    let verdict: ChangeResult['verdict'];
    if (f.header !== undefined && f.header === token.token) {
      carry = token; // the node did not redeem it (routstr-core echoes the unspent original)
      returned = token.amount;
    } else if (f.header ?? f.refundToken) {
      const got = this.receiveChange(token, (f.header ?? f.refundToken) as string);
      returned = got.changeSat;
      pending = got.pending;
      verdict = got.verdict;
      if (got.problem) this.#d.distrust(t.candidate.provider, got.problem);
      this.#watch(t.candidate.provider, got, undefined);
    } else {
      const back = await this.takeBack(token, t.url, t.ctx);
      returned = back.returnedSat;
      pending = back.pending;
      this.#watch(t.candidate.provider, { changeSat: back.returnedSat, pending: back.pending, verdict: back.verdict }, undefined);
    }
    // what the provider kept of a token it did not serve counts against the budget
    if (!carry) this.#settle(token, returned, verdict);
    // a provider that took the token and then did not answer in time is not asked again
    if (f.code === 'timeout') this.#d.distrust(t.candidate.provider, 'timeout');
    const retry = f.retry;
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
  async takeBack(token: SentToken, url: string | undefined, ctx?: RequestContext): Promise<TakenBack> {
    const out = await this.#takeBackOnce(token, url, ctx);
    this.#settle(token, out.returnedSat, out.verdict);
    return out;
  }

  async #takeBackOnce(token: SentToken, url: string | undefined, ctx: RequestContext | undefined): Promise<TakenBack> {
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
      const got = this.receiveChange(token, look.token);
      return { returnedSat: got.changeSat, pending: got.pending, verdict: got.verdict };
    }
    if (look.state === 'none') {
      this.#d.wallet.settle(token.entry.id);
      this.#d.store.markDone(token.entry.id);
      return { returnedSat: 0, pending: false };
    }
    return { returnedSat: 0, pending: true };
  }

  /**
   * Stores a change token: kept as a string in the wallet's incoming journal, the payment settled
   * and the payer's record closed, in one transaction — then it is the buyer's money whatever
   * happens to this process; the wallet redeems it in the background (`verdict`). A token that is
   * not ecash of a mint we use is refused at once: nothing kept, nothing returned.
   */
  receiveChange(token: Pick<SentToken, 'entry'>, change: string): ChangeResult {
    failpoint('payer:before-change-stored');
    const done = (): void => {
      this.#d.wallet.settle(token.entry.id);
      this.#d.store.markDone(token.entry.id);
    };
    try {
      const kept = this.#d.store.tx(() => {
        this.#d.store.saveChange(token.entry.id, change);
        const entry = this.#d.wallet.keepIncoming(change, { purpose: 'x-cashu change', requestId: token.entry.requestId ?? undefined });
        done();
        return entry;
      });
      return { changeSat: kept.amount, pending: false, verdict: kept.redeemed };
    } catch (error) {
      if (!unusableChange(error)) throw error;
      this.#d.store.tx(done);
      return { changeSat: 0, pending: false, problem: 'change_forged' };
    }
  }

  /**
   * Settles a token's budget hold: what the provider kept counts as spent now; kept change stays
   * reserved until the mint took it (refused change then counts as spent too).
   */
  #settle(token: Pick<SentToken, 'entry' | 'amount'>, changeSat: number, verdict: ChangeResult['verdict']): void {
    const change = Math.min(token.amount, changeSat);
    if (verdict && change > 0) {
      const held = this.#d.holdChange(change);
      this.#d.track(verdict.then((o) => held.settle(changeProblem(o) ? change : 0)));
    }
    this.#d.settleHold(token.entry.id, token.amount - change);
  }

  /** Reports kept change the mint refuses when the background redeem decides (the request is long done). */
  #watch(provider: string, change: ChangeResult, receipt: Receipt | undefined): void {
    const verdict = change.verdict;
    if (!verdict) return;
    this.#d.track(verdict.then((outcome) => {
      const problem = changeProblem(outcome);
      if (problem) this.#d.changeRefused(provider, receipt, problem, change.changeSat);
    }));
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
    this.#d.store.tx(() => {
      this.#d.wallet.settle(token.entry.id);
      this.#d.store.markDone(token.entry.id);
    });
    return { changeSat: 0, pending: false };
  }

  /** Passes an X-Cashu stream through as it arrives; the change is stored before the caller sees its end. */
  #stream(t: ProviderTry, token: SentToken, res: Response & { body: ReadableStream<Uint8Array> }, release: () => void, guard: AbortController): Response {
    // the change comment is the stream's last event: stored the moment it arrives (a crash before the
    // caller reads to the end leaves it for recovery), and kept in the wallet (one transaction) when the stream ends
    const tap = new SseTap();
    tap.onChange = (change) => this.#d.store.saveChange(token.entry.id, change);
    const problems: ReceiptProblem[] = [];
    let finished: Promise<void> | undefined;
    const finish = (): Promise<void> =>
      (finished ??= (async () => {
        try {
          tap.end();
          // runs after the caller's last read (or its abort): bounded by the refund timeout alone, so change still comes back
          const change = await this.#collectChange(t.url, token, tap.changeToken, problems.some((p) => p !== 'broken_off') ? undefined : tap.costMsat, undefined);
          this.#complete(t, token, { usage: tap.usage }, tap.costMsat, change, problems);
        } catch (error) {
          t.ctx.receipt.reject(error); // the request's receipt settles either way
          throw error;
        } finally {
          release();
          this.#d.inflight.delete(token.entry.id);
        }
      })());
    // broken off (abort, network): the node bills what it generated; its refund route has the change
    return heldAnswer(res, tap, (body) => this.#d.limitedStream(body, guard, problems), {
      settle: finish,
      broken: () => {
        if (!finished) problems.push('broken_off');
        this.#d.track(finish());
      },
    });
  }

  #complete(t: ProviderTry, token: SentToken, json: unknown, reportedMsat: number | undefined, change: ChangeResult, problems: readonly ReceiptProblem[] = []): Receipt {
    const judged = judgeUsage(t, json, change.problem ? [...problems, change.problem] : problems);
    const paidMsat = token.amount * 1000;
    const verification = checkCharge(judged.expectedMsat, paidMsat, change.changeSat * 1000, judged.problems);
    this.#settle(token, change.changeSat, change.verdict);
    const receipt = this.#d.finish(t, {
      paidSat: token.amount,
      changeSat: change.changeSat,
      chargedMsat: paidMsat - Math.min(paidMsat, change.changeSat * 1000),
      costMsat: reportedMsat,
      expectedCostMsat: judged.expectedMsat,
      usage: judged.usage,
      verification,
      changePending: change.pending,
      problems: judged.problems,
    });
    this.#watch(t.candidate.provider, change, receipt);
    return receipt;
  }
}
