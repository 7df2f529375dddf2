/**
 * The buyer side of a paid request: route it (market selection, failover order), size and pay it
 * (X-Cashu token per request, or a session key), collect the change (response header, the final
 * `: x-cashu` SSE comment, or the refund route), verify the charge, and fail over when a
 * provider fails — never paying twice for one logical request: a token a node did not redeem is
 * carried to the next try or taken back, and change a node owes is fetched from its refund route.
 * `send()` resolves each request to its response and its own receipt promise (PaidResponse).
 * Every token is journaled before it leaves (wallet) and every provider holding one is recorded
 * (payer store), so `recover()` on the next start finds anything a crash left behind.
 */
import { randomUUID } from 'node:crypto';
import PQueue from 'p-queue';
import { sat, satsPerTokenToMsatPerMtok } from '../../money/index.ts';
import type { RankedProvider } from '../../market/index.ts';
import { BudgetExceeded, type EcashWallet, type SentToken } from '../../wallet/index.ts';
import { InvalidPayOptions, PayerClosed, PriceAboveLimit, ResponseTooLarge, UnroutableRequest } from './errors.ts';
import { BudgetLedger, walletTotalSpend, type Reservation } from './budget-ledger.ts';
import { DEFAULT_RESPONSE_LIMITS, DEFAULT_TIMEOUTS, tokenCap, type MaxPrice, type ResponseLimits, type Timeouts } from './buyer-guards.ts';
import { limitStream } from './bounded-body.ts';
import { PayerStore } from './payer-store.ts';
import { errorMessage, receiptSlot, type Outcome, type PaidResponse, type PayerMarket, type PayerOptions, type PayerRecoveryReport, type PayOptions, type ProviderTry, type ReceiptInput, type RequestContext } from './payer-types.ts';
import { ProviderDirectory, findModel, pickMint, type ProviderFacts } from './provider-directory.ts';
import type { PaymentMode, Receipt, ReceiptProblem } from './receipt.ts';
import { SessionExchange } from './session-exchange.ts';
import { SessionBook, type LiveSession } from './session-book.ts';
import { quotedModel, requestShape, sizeRequest, type Sizing } from './sizing.ts';
import { XCashuExchange } from './xcashu-exchange.ts';
import { chooseProviders, pinnedProvider, withinLimits } from './provider-choice.ts';
import { buildReceipt, RecentReceipts, refusedChangeReceipt } from './receipt-book.ts';
import { emptyReport, recoverPayments } from './payment-recovery.ts';
import { failover } from './failover.ts';

export type { MaxPrice, PaidResponse, PayerMarket, PayerOptions, PayerRecoveryReport, PayOptions };

/** Pays for requests on the Routstr market; see PayerOptions. `createPayingFetch` wraps one in a `fetch`. */
export class Payer {
  readonly wallet: EcashWallet;
  readonly market: PayerMarket;
  readonly mode: PaymentMode;
  readonly store: PayerStore;
  readonly directory: ProviderDirectory;
  /** Resolves once the start-up recovery pass is done. */
  readonly ready: Promise<PayerRecoveryReport>;
  readonly #options: PayerOptions;
  readonly #owner = `${process.pid}:${randomUUID()}`;
  readonly #fetch: typeof fetch;
  /** One queue per provider host: its concurrency limit (a request holds its slot until its stream ends). */
  readonly #slots = new Map<string, PQueue>();
  readonly #sessions: SessionBook;
  readonly #background = new Set<Promise<unknown>>();
  readonly #inflight = new Set<string>();
  readonly #distrusted = new Set<string>();
  readonly #recent = new RecentReceipts();
  readonly #ledger: BudgetLedger;
  /** Budget reservations of tokens not settled yet, by journal id. */
  readonly #holds = new Map<string, Reservation>();
  readonly #limits: Required<ResponseLimits>;
  readonly #timeouts: Required<Timeouts>;
  readonly #xcashu: XCashuExchange;
  readonly #session: SessionExchange;
  #closed = false;

  constructor(options: PayerOptions) {
    this.#options = options;
    this.wallet = options.wallet;
    this.market = options.market;
    this.mode = options.mode ?? 'xcashu';
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
    this.#ledger = new BudgetLedger(options.budget ?? {}, walletTotalSpend(this.wallet.store));
    this.#limits = { ...DEFAULT_RESPONSE_LIMITS, ...options.responseLimits };
    this.#timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
    this.store = new PayerStore(options.wallet.store);
    this.directory = new ProviderDirectory({ fetch: this.#fetch });
    this.wallet.owners.register(this.#owner);
    this.#sessions = new SessionBook({
      wallet: this.wallet,
      store: this.store,
      owner: this.#owner,
      fetch: this.#fetch,
      options: options.session ?? {},
      beforeDeposit: (amount) => this.#ledger.check(amount),
      background: (p) => this.#track(p),
    });
    const maxRetryAfterMs = options.maxRetryAfterMs ?? 5_000;
    const limitedStream = (body: ReadableStream<Uint8Array>, guard: AbortController, problems: ReceiptProblem[]): ReadableStream<Uint8Array> => this.#limitedStream(body, guard, problems);
    const finish = (t: ProviderTry, r: ReceiptInput): Receipt => this.#finish(t, r);
    this.#xcashu = new XCashuExchange({
      wallet: this.wallet,
      store: this.store,
      directory: this.directory,
      owner: this.#owner,
      fetch: this.#fetch,
      limits: this.#limits,
      timeouts: this.#timeouts,
      maxRetryAfterMs,
      inflight: this.#inflight,
      settleHold: (id, kept) => this.#settleHold(id, kept),
      holdChange: (amount) => this.#ledger.hold(amount),
      distrust: (provider, reason) => this.#distrust(provider, reason),
      refundSignal: (ctx) => this.#refundSignal(ctx),
      limitedStream,
      finish,
      track: (p) => this.#track(p),
      changeRefused: (provider, receipt, problem) => this.#changeRefused(provider, receipt, problem),
    });
    this.#session = new SessionExchange({
      sessions: this.#sessions,
      fetch: this.#fetch,
      limits: this.#limits,
      timeouts: this.#timeouts,
      maxRetryAfterMs,
      reserve: (amount) => this.#reserve(amount),
      countSpend: (kept) => this.#ledger.count(kept),
      limitedStream,
      finish,
    });
    this.ready = options.recoverOnStart === false ? Promise.resolve(emptyReport()) : this.recover();
    this.ready.catch(() => undefined);
  }

  /** The most recent receipts of this payer (at most RECENT_RECEIPTS, 1 000), oldest first; each request's own is `send().receipt`. */
  receipts(): readonly Receipt[] {
    return this.#recent.list();
  }

  /** Provider ids this payer no longer uses (they overcharged, kept or forged change, hung, or sent too much). */
  distrusted(): string[] {
    return [...this.#distrusted];
  }

  /** Sats this payer's requests took: Σ receipts' charge (rounded up to the sat) plus what failed tries lost. */
  spentSat(): number {
    return this.#ledger.spentSat;
  }

  /** Live session keys (session mode). */
  sessions(): readonly LiveSession[] {
    return this.#sessions.live();
  }

  /** Session mode: how often a request waited for a top-up (the key could not cover it) and how many top-ups ran ahead in the background. */
  sessionFunding(): { readonly topUpsWaited: number; readonly topUpsAhead: number } {
    return this.#sessions.stats();
  }

  /** Waits for background work: change still being collected, top-ups, idle refunds. */
  async settled(): Promise<void> {
    while (this.#background.size > 0) await Promise.allSettled([...this.#background]);
  }

  /** Refunds every session, waits for background work, and stops. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.settled();
      await this.#sessions.refundAll();
      await this.settled();
    } finally {
      this.#ledger.flush(); // the counted spend is written even when a refund failed
      this.wallet.owners.release(this.#owner);
    }
  }

  /**
   * Pays for one request to `path` (e.g. `/v1/chat/completions`) with a JSON `body` naming a model:
   * the provider's answer with this request's own receipt (see PayOptions, PaidResponse).
   */
  async send(path: string, body: Record<string, unknown>, options: PayOptions = {}): Promise<PaidResponse> {
    if (this.#closed) throw new PayerClosed();
    await this.ready.catch(() => undefined);
    const model = body['model'];
    if (typeof model !== 'string' || model === '') throw new UnroutableRequest('the request body names no model');
    const { signal, ask, maxPriceMsat } = options;
    if (maxPriceMsat !== undefined && !(Number.isFinite(maxPriceMsat) && maxPriceMsat >= 0)) throw new InvalidPayOptions(`maxPriceMsat must be a number of msats ≥ 0, got ${maxPriceMsat}`);
    if (options.requestId !== undefined && (typeof options.requestId !== 'string' || options.requestId === '' || options.requestId.length > 200)) {
      throw new InvalidPayOptions('requestId must be a non-empty string of at most 200 characters');
    }
    signal?.throwIfAborted();
    const ctx: RequestContext = {
      requestId: options.requestId ?? randomUUID(),
      model,
      path: path.replace(/^\//, ''),
      stream: body['stream'] === true,
      signal,
      body,
      attempts: [],
      receipt: receiptSlot(),
      refusals: [],
      maxPriceMsat,
      pinned: ask !== undefined,
    };
    const parts = { market: this.market, options: this.#options, mints: this.wallet.mints, distrusted: this.#distrusted };
    const providers = ask ? pinnedProvider(parts, model, body, ask, maxPriceMsat) : chooseProviders(parts, model, body, maxPriceMsat);
    const response = await failover(ctx, providers, {
      market: this.market,
      maxAttempts: this.#options.maxAttempts ?? 4,
      onAttemptFailed: this.#options.onAttemptFailed,
      tryProvider: (candidate, url, pubkey, useQuote, carry) => this.#tryProvider(ctx, candidate, url, pubkey, useQuote, carry),
      takeBack: (token) => this.#xcashu.takeBack(token, undefined),
    });
    return { requestId: ctx.requestId, response, receipt: ctx.receipt.promise, attempts: [...ctx.attempts] };
  }

  /** Checks the per-request cap and reserves `amountSat` against the total budget (one synchronous step). */
  #reserve(amountSat: number): Reservation {
    const perRequest = this.#options.budget?.perRequestMaxSat;
    if (perRequest !== undefined && amountSat > perRequest) {
      throw new BudgetExceeded({ kind: 'per_request', limit: sat(perRequest) }, sat(amountSat - perRequest));
    }
    return this.#ledger.reserve(amountSat);
  }

  /** Settles the budget reservation of a token: `keptSat` counts as spent, the rest is released. */
  #settleHold(journalId: string, keptSat: number): void {
    const hold = this.#holds.get(journalId);
    if (!hold) return;
    this.#holds.delete(journalId);
    hold.settle(keptSat);
  }

  /** Stops using a provider for this payer's life and puts it on the market's cooldown. */
  #distrust(provider: string, reason: string): void {
    this.#distrusted.add(provider);
    this.market.reportFailure(provider, { wholeProvider: true, reason });
  }

  /**
   * Change a provider sent that the mint refused, found by the wallet's background redeem after the
   * request was done: its receipt is amended (nothing returned, the verdict), the provider distrusted.
   */
  #changeRefused(provider: string, receipt: Receipt | undefined, problem: 'change_forged' | 'change_spent'): void {
    this.#distrust(provider, problem);
    if (!receipt) return;
    const amended = refusedChangeReceipt(receipt, problem);
    this.#recent.replace(receipt, amended);
    this.#options.onOvercharge?.(amended);
  }

  /** The caller's signal joined with a timeout (for refund-route lookups after a try ended). */
  #refundSignal(ctx: RequestContext | undefined): AbortSignal {
    const timeout = AbortSignal.timeout(this.#timeouts.refundMs);
    return ctx?.signal ? AbortSignal.any([ctx.signal, timeout]) : timeout;
  }

  async #tryProvider(ctx: RequestContext, candidate: RankedProvider, url: string, pubkey: string, useQuote: boolean, carry: SentToken | undefined): Promise<Outcome> {
    const fail = (code: string, message: string, wholeProvider: boolean, keep?: SentToken): Outcome => ({
      ok: false,
      record: { provider: candidate.provider, url, status: undefined, code, message, paidSat: 0, returnedSat: 0, tokenReused: keep !== undefined, pendingRecovery: false },
      ...(keep ? { carry: keep } : {}),
      wholeProvider,
    });
    let facts: ProviderFacts;
    try {
      facts = await abortable(this.directory.get(url), ctx.signal);
    } catch (error) {
      ctx.signal?.throwIfAborted();
      return fail('network', `cannot read ${url}v1/models: ${errorMessage(error)}`, true, carry);
    }
    const advertised = findModel(facts, candidate.ask.providerModelId) ?? findModel(facts, ctx.model);
    if (!advertised) {
      this.directory.invalidate(url);
      return fail('invalid_model', `${url} does not list ${candidate.ask.providerModelId}`, false, carry);
    }
    const quoteId = useQuote && candidate.ask.source === 'tick' ? candidate.ask.quoteId : undefined;
    // A quote the node refused is retried at its current price only if that price is within the buyer's limits
    // (the choice's own check, on the price the node now advertises).
    if (candidate.ask.source === 'tick' && !quoteId) {
      const sats = advertised.sats_pricing;
      const current = sats ? { prompt: satsPerTokenToMsatPerMtok(sats.prompt), completion: satsPerTokenToMsatPerMtok(sats.completion) } : undefined;
      if (!current || !withinLimits(this.#options.maxPrice, ctx.maxPriceMsat, current, requestShape(ctx.body, this.#options.sizing))) {
        return fail('price_above_limit', `${url} refused the quote and its current price is above the limit`, false, carry);
      }
    }
    const model = quoteId ? quotedModel(advertised, candidate.ask) : advertised;
    const body = { ...ctx.body, model: advertised.id };
    const sized = sizeRequest(model, body, this.#options.sizing);
    // the buyer's limits cap the token, whatever the provider advertises (its limits set its gate)
    const cap = tokenCap(requestShape(ctx.body, this.#options.sizing), { maxPrice: this.#options.maxPrice, perRequestMaxSat: this.#options.budget?.perRequestMaxSat, requestMaxMsat: ctx.maxPriceMsat });
    const demandSat = Math.ceil(sized.gateMsat / 1000);
    if (demandSat > cap.capSat) {
      // a per-request cap (configured or default) refuses as the budget it is; a price limit as the price
      const refusal =
        cap.source === 'per_request'
          ? new BudgetExceeded({ kind: 'per_request', limit: sat(cap.capSat) }, sat(demandSat - cap.capSat))
          : new PriceAboveLimit(ctx.model, candidate.ask, cap.capSat * 1000, { demandSat });
      ctx.refusals.push(refusal);
      return fail(refusal.code, refusal.message, false, carry);
    }
    const sizing: Sizing = { ...sized, amountSat: Math.min(sized.amountSat, cap.capSat) };
    const mint = pickMint(facts, this.wallet.mints);
    if (!mint) return fail('mint', `${url} accepts none of the wallet's mints`, false, carry);
    const t: ProviderTry = { ctx, candidate, url, pubkey, body, model, sizing, quoteId, mint, started: performance.now() };
    if (this.mode === 'session') {
      if (carry) await this.#xcashu.takeBack(carry, undefined);
      return this.#limited(url, (release) => this.#session.exchange(t, release));
    }
    let token = carry;
    if (token && (token.entry.mint !== mint || token.amount < Math.ceil(sizing.gateMsat / 1000) || token.amount > cap.capSat)) {
      await this.#xcashu.takeBack(token, undefined);
      token = undefined;
    }
    if (!token) {
      const hold = this.#reserve(sizing.amountSat);
      try {
        token = await this.wallet.send(sat(sizing.amountSat), { purpose: 'x-cashu', requestId: ctx.requestId, mint });
      } catch (error) {
        hold.settle(0);
        throw error;
      }
      this.#holds.set(token.entry.id, hold);
    }
    const paid = token;
    return this.#limited(url, (release) => this.#xcashu.exchange(t, paid, carry === paid, release));
  }

  /**
   * Runs `fn` in a slot of the provider's queue; the slot is held until `release` (stream end). A
   * free slot starts `fn` in the same turn (p-queue; Bottleneck waited a timer turn, ~4 ms, per request).
   */
  #limited(url: string, fn: (release: () => void) => Promise<Outcome>): Promise<Outcome> {
    const host = new URL(url).host;
    let queue = this.#slots.get(host);
    if (!queue) {
      const minTimeMs = this.#options.limits?.minTimeMs ?? 0;
      const created = new PQueue({ concurrency: this.#options.limits?.maxConcurrent ?? 4, ...(minTimeMs > 0 ? { interval: minTimeMs, intervalCap: 1 } : {}) });
      // An idle provider's queue is let go (memory stays bounded however many providers a market
      // announces); with a minimum spacing, only once that spacing has passed with nothing new.
      created.addEventListener('idle', () => {
        const drop = (): void => {
          if (created.size === 0 && created.pending === 0 && this.#slots.get(host) === created) this.#slots.delete(host);
        };
        if (minTimeMs > 0) setTimeout(drop, minTimeMs).unref();
        else drop();
      });
      this.#slots.set(host, created);
      queue = created;
    }
    const slots = queue;
    return new Promise<Outcome>((resolve, reject) => {
      slots
        .add(
          () =>
            new Promise<void>((done) => {
              let released = false;
              const release = (): void => {
                if (!released) {
                  released = true;
                  done();
                }
              };
              fn(release).then(
                (out) => {
                  if (!out.ok) release();
                  resolve(out);
                },
                (error: unknown) => {
                  release();
                  reject(error);
                },
              );
            }),
        )
        .catch(reject);
    });
  }

  /** `body` within the stream limits; crossing one records the problem and aborts the connection through `guard`. */
  #limitedStream(body: ReadableStream<Uint8Array>, guard: AbortController, problems: ReceiptProblem[]): ReadableStream<Uint8Array> {
    return limitStream(body, {
      maxBytes: this.#limits.maxStreamBytes,
      maxLineBytes: this.#limits.maxLineBytes,
      idleMs: this.#timeouts.streamIdleMs,
      totalMs: this.#timeouts.streamTotalMs,
      onLimit: (error) => {
        problems.push(error instanceof ResponseTooLarge ? 'response_too_large' : 'stream_timeout');
        guard.abort(error);
      },
    });
  }

  // --- receipts -------------------------------------------------------------------------------

  /** Writes the served try's receipt and hands it to its request (and to observers); judges the provider by it. */
  #finish(t: ProviderTry, r: ReceiptInput): Receipt {
    const receipt = buildReceipt(t, r, this.mode);
    this.#recent.add(receipt);
    t.ctx.receipt.resolve(receipt);
    const took = (r.verification.verdict === 'overcharged' && !r.changePending) || r.verification.verdict === 'change_forged' || r.verification.verdict === 'change_spent';
    const cutOff = r.problems.includes('response_too_large') || r.problems.includes('stream_timeout');
    if (took || cutOff) {
      this.#distrust(t.candidate.provider, took ? r.verification.verdict : (r.problems[0] as string));
      if (took) this.#options.onOvercharge?.(receipt);
    } else {
      this.market.reportSuccess(t.candidate.provider, Math.round(performance.now() - t.started));
    }
    this.#options.onReceipt?.(receipt);
    return receipt;
  }

  #track(p: Promise<unknown>): void {
    const tracked = p.catch(() => undefined).finally(() => this.#background.delete(tracked));
    this.#background.add(tracked);
  }

  /**
   * Settles what earlier runs (or failed tries of this one) left: X-Cashu tokens a provider holds
   * (change collected from its refund route), tokens that never left (taken back), and session
   * keys (refunded). Skips records of live payers and requests in flight.
   */
  recover(): Promise<PayerRecoveryReport> {
    return recoverPayments({
      wallet: this.wallet,
      store: this.store,
      xcashu: this.#xcashu,
      liveSessions: new Set(this.#sessions.live().map((s) => s.id)),
      inflight: this.#inflight,
      fetch: this.#fetch,
      mayRecover: (owner) => owner === this.#owner || this.wallet.owners.gone(owner),
    });
  }
}

/** `p`, or the signal's reason as soon as it aborts (the work behind `p` is shared and goes on). */
function abortable<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
