/**
 * The session side of a paid request: a funded `sk-` key per provider (SessionBook), the request
 * sent with it, the answer read within the buyer's limits, and the node's debit verified. The
 * most a request may cost (its sizing: the gate, or the estimate of its real cost when that is
 * higher) is kept free on the key and reserved against the payer's budgets until its receipt, so
 * concurrent requests on one key never run it dry (a node charges a cost above its gate only as
 * far as the balance goes, and the receipt would then say more than was taken).
 */
import { WalletError } from '../../wallet/index.ts';
import type { Reservation } from './budget-ledger.ts';
import { readBounded } from './bounded-body.ts';
import type { ResponseLimits, Timeouts } from './buyer-guards.ts';
import { ResponseTooLarge } from './errors.ts';
import { errorMessage, type Outcome, type ProviderTry, type ReceiptInput, safeCost } from './payer-types.ts';
import { endCode, heldAnswer, isStream, judgeUsage, parseAnswer, postTry, readRefusal, rewrap, tryGuard, type Retry, type TryGuard } from './provider-answer.ts';
import { checkCharge, type Receipt, type ReceiptProblem } from './receipt.ts';
import { SessionFundingFailed, type LiveSession, type SessionBook } from './session-book.ts';
import { SseTap } from './sse-tap.ts';

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

/** One try on a session key: the key, what the try keeps free on it (msats) and its budget reservation. */
interface KeyedTry {
  readonly t: ProviderTry;
  readonly s: LiveSession;
  readonly needMsat: number;
  readonly hold: Reservation;
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
    // the most this request may cost is kept free on the key and reserved against the budgets until its receipt
    const needMsat = Math.max(sizing.gateMsat, sizing.amountSat * 1000);
    const hold = this.#d.reserve(Math.ceil(needMsat / 1000));
    let s: LiveSession;
    try {
      s = await this.#d.sessions.acquire(url, t.mint, needMsat, sizing.amountSat, ctx.signal);
    } catch (error) {
      hold.settle(0);
      if (error instanceof WalletError) throw error; // budgets, funds: refused before anything left
      if (error instanceof SessionFundingFailed) return fail(t, error.nodeError?.status, error.nodeError?.code ?? 'session_funding_failed', error.message, !error.nodeError);
      throw error;
    }
    const g = tryGuard(ctx, this.#d.timeouts.requestMs);
    try {
      return await this.#request({ t, s, needMsat, hold }, release, g);
    } finally {
      g.clear();
    }
  }

  async #request(k: KeyedTry, release: () => void, g: TryGuard): Promise<Outcome> {
    const { t, s, hold } = k;
    let res: Response;
    try {
      res = await postTry(this.#d.fetch, t, { authorization: `Bearer ${s.apiKey}` }, g.signal);
    } catch (error) {
      this.#end(k, undefined);
      hold.settle(hold.amountSat); // the node may have debited it: count the most
      return fail(t, undefined, endCode(t.ctx, g), errorMessage(error), true);
    }
    if (!res.ok) {
      const { err, code, retry } = await readRefusal(res, this.#d.limits, this.#d.maxRetryAfterMs);
      this.#end(k, 0);
      hold.settle(0);
      if (err.code === 'insufficient_balance') {
        await this.#d.sessions.refreshBalance(s).catch(() => undefined);
        return fail(t, res.status, err.code, err.message, false, { waitMs: 0, dropQuote: false });
      }
      return fail(t, res.status, code, err.message, false, retry);
    }
    if (isStream(t.ctx, res)) {
      const tap = new SseTap();
      const problems: ReceiptProblem[] = [];
      let done = false;
      const settle = async (): Promise<void> => {
        if (done) return;
        done = true;
        try {
          this.#end(k, tap.costMsat);
          release();
          this.#complete(k, { usage: tap.usage }, tap.costMsat, problems);
        } catch (error) {
          t.ctx.receipt.reject(error); // the request's receipt settles either way
          throw error;
        }
      };
      const response = heldAnswer(res, tap, (body) => this.#d.limitedStream(body, g.guard, problems), {
        settle,
        broken: () => {
          if (!done) problems.push('broken_off');
          void settle().catch(() => undefined);
        },
      });
      return { ok: true, response };
    }
    let text: string;
    try {
      text = await readBounded(res, this.#d.limits.maxBodyBytes);
    } catch (error) {
      g.guard.abort(error);
      release();
      this.#end(k, undefined);
      if (error instanceof ResponseTooLarge) {
        error.receipt = this.#complete(k, undefined, undefined, ['response_too_large']);
        throw error;
      }
      hold.settle(hold.amountSat);
      return fail(t, res.status, endCode(t.ctx, g), errorMessage(error), true);
    }
    release();
    const json = parseAnswer(text);
    const cost = safeCost(json, res.headers);
    this.#end(k, cost);
    this.#complete(k, json, cost);
    return { ok: true, response: rewrap(res, text) };
  }

  /** Ends the try on its key: `costMsat` debited (undefined: unknown, the balance is read again). */
  #end(k: KeyedTry, costMsat: number | undefined): void {
    this.#d.sessions.release(k.s, k.needMsat, costMsat, k.t.sizing.amountSat);
  }

  #complete(k: KeyedTry, json: unknown, costMsat: number | undefined, problems: readonly ReceiptProblem[] = []): Receipt {
    const { t, hold } = k;
    const judged = judgeUsage(t, json, problems);
    const charged = costMsat ?? t.sizing.gateMsat;
    const chargedSat = Math.ceil(charged / 1000);
    hold.settle(chargedSat);
    if (chargedSat > hold.amountSat) this.#d.countSpend(chargedSat - hold.amountSat);
    return this.#d.finish(t, {
      paidSat: chargedSat,
      changeSat: 0,
      chargedMsat: charged,
      costMsat,
      expectedCostMsat: judged.expectedMsat,
      usage: judged.usage,
      verification: checkCharge(judged.expectedMsat, charged, 0, judged.problems),
      changePending: false,
      problems: judged.problems,
    });
  }
}

/** A failed try on a session: nothing was paid by it (the key keeps its balance). */
function fail(t: ProviderTry, status: number | undefined, code: string, message: string, wholeProvider: boolean, retry?: Retry): Outcome {
  return {
    ok: false,
    record: { provider: t.candidate.provider, url: t.url, status, code, message, paidSat: 0, returnedSat: 0, tokenReused: false, pendingRecovery: false },
    ...(retry ? { retry } : {}),
    wholeProvider,
  };
}
