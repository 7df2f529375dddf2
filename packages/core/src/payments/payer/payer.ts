/**
 * The buyer side of a paid request: route it (market selection, failover order), size and pay it
 * (X-Cashu token per request, or a session key), collect the change (response header, the final
 * `: x-cashu` SSE comment, or the refund route), verify the charge, and fail over when a
 * provider fails — never paying twice for one logical request: a token a node did not redeem is
 * carried to the next try or taken back, and change a node owes is fetched from its refund route.
 * Every token is journaled before it leaves (wallet) and every provider holding one is recorded
 * (payer store), so `recover()` on the next start finds anything a crash left behind.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import Bottleneck from 'bottleneck';
import { sat, satsPerTokenToMsatPerMtok } from '../../money/index.ts';
import { priceForShape, type FailureReport, type PricedAsk, type RankedProvider, type RequestShape, type Selection, type SelectionProfile, type SelectionRequest } from '../../market/index.ts';
import { normalizeUsage } from '../../pricing/index.ts';
import { parseCashuToken, parseNodeError, readReportedCost, type Model } from '../../protocol/index.ts';
import { failpoint } from '../../wallet/failpoint.ts';
import { BudgetExceeded, WalletError, type EcashWallet, type SentToken } from '../../wallet/index.ts';
import { changeFace, refusedChange } from './change-check.ts';
import { AllProvidersFailed, DemandAboveLimit, PayerClosed, PriceAboveLimit, RequestTimeout, ResponseTooLarge, StreamLimitExceeded, UnroutableRequest, type AttemptRecord } from './errors.ts';
import { BudgetLedger, type Reservation } from './budget-ledger.ts';
import { DEFAULT_MAX_ASK_OVER_MEDIAN, DEFAULT_RESPONSE_LIMITS, DEFAULT_TIMEOUTS, tokenCap, withinMedian, type MaxPrice, type ResponseLimits, type Timeouts } from './buyer-guards.ts';
import { limitStream, readBounded } from './bounded-body.ts';
import { clampUsage, isInflated, usageBounds } from './usage-check.ts';
import { PayerStore } from './payer-store.ts';
import { ProviderDirectory, findModel, pickMint, type ProviderFacts } from './provider-directory.ts';
import { checkCharge, expectedCost, type PaymentMode, type Receipt, type ReceiptProblem } from './receipt.ts';
import { changeByRefundRoute, retryAfterMs } from './refund-route.ts';
import { SessionBook, SessionFundingFailed, refundRecord, type LiveSession, type SessionOptions } from './session-book.ts';
import { quotedModel, requestShape, sizeRequest, type Sizing, type SizingOptions } from './sizing.ts';
import { holdStreamEnd } from './held-stream.ts';
import { SseTap } from './sse-tap.ts';

/** What the payer needs of a market (`openMarket()` gives all of it). */
export interface PayerMarket {
  select(request: SelectionRequest): Selection;
  reportFailure(provider: string, report?: FailureReport): void;
  reportSuccess(provider: string, latencyMs: number): void;
  readonly registry: { get(id: string): { readonly urls: readonly string[]; readonly pubkey: string } | undefined };
  /** The `n` cheapest live asks for a model (the market median guard reads it; without it the selection is used). */
  depth?(model: string, n: number, shape?: RequestShape): PricedAsk[];
}

export type { MaxPrice };

export interface PayerOptions {
  wallet: EcashWallet;
  market: PayerMarket;
  /** `xcashu` (default): a token per request; `session`: a funded `sk-` key per provider. */
  mode?: PaymentMode;
  profile?: SelectionProfile;
  /** Draw the first choice among this many of the best (default 1 under `cheapest`, else the market's 3). */
  topN?: number;
  /** Most one request may cost; it also caps the token (rounded up to the sat), whatever the provider advertises. */
  maxPrice?: MaxPrice;
  /**
   * Caps of this payer, checked before any token leaves (the wallet's own budgets apply too).
   * `perRequestMaxSat` caps every token (default DEFAULT_PER_REQUEST_MAX_SAT, 1 000 sat);
   * `totalSat` is reserved when a token is made and settled at its receipt, so concurrent requests never overshoot it.
   */
  budget?: { perRequestMaxSat?: number; totalSat?: number };
  /** Refuse asks above this multiple of the median live ask for the request (default 10; 0 turns it off). */
  maxAskOverMedian?: number;
  /** Size limits of providers' answers (defaults DEFAULT_RESPONSE_LIMITS). */
  responseLimits?: ResponseLimits;
  /** Request, stream and refund-route timeouts (defaults DEFAULT_TIMEOUTS). */
  timeouts?: Timeouts;
  onReceipt?: (receipt: Receipt) => void;
  /** A provider charged more than its own prices allow (it is then avoided). */
  onOvercharge?: (receipt: Receipt) => void;
  onAttemptFailed?: (attempt: AttemptRecord) => void;
  sizing?: SizingOptions;
  /** Per-provider limits (a Bottleneck per host): concurrent requests (default 4) and ms between starts (default 0). */
  limits?: { maxConcurrent?: number; minTimeMs?: number };
  /** Most providers tried for one request (default 4). */
  maxAttempts?: number;
  /** Longest Retry-After honoured by waiting and retrying the same provider (default 5 000 ms). */
  maxRetryAfterMs?: number;
  session?: SessionOptions;
  /** Transport to providers (default globalThis.fetch). */
  fetch?: typeof fetch;
  /** Recover what a previous run left (default true; runs before the first request). */
  recoverOnStart?: boolean;
}

/** What a recovery pass did. */
export interface PayerRecoveryReport {
  /** X-Cashu tokens whose fate was settled (taken back, change collected, or nothing owed). */
  xcashuResolved: number;
  /** Sats that came back to the wallet (reclaimed tokens, change, session refunds). */
  recoveredSat: number;
  sessionsRefunded: number;
  /** Records still waiting on a provider (refund route not answering yet). */
  pending: number;
}

interface RequestContext {
  readonly requestId: string;
  readonly model: string;
  readonly path: string;
  readonly stream: boolean;
  readonly signal: AbortSignal | undefined;
  readonly body: Record<string, unknown>;
  readonly attempts: AttemptRecord[];
  readonly onReceipt: ((receipt: Receipt) => void) | undefined;
  /** Providers refused because their demand is above the buyer's limits (nothing was paid to them). */
  readonly refusals: Array<DemandAboveLimit | BudgetExceeded>;
  /** A limit of this request alone (market and limit buys), msats. */
  readonly maxPriceMsat: number | undefined;
}

interface ProviderTry {
  readonly ctx: RequestContext;
  readonly candidate: RankedProvider;
  readonly url: string;
  readonly pubkey: string;
  readonly body: Record<string, unknown>;
  readonly model: Model;
  readonly sizing: Sizing;
  readonly quoteId: string | undefined;
  readonly mint: string;
  readonly started: number;
}

type Outcome =
  | { ok: true; response: Response }
  | { ok: false; record: AttemptRecord; carry?: SentToken; retry?: { waitMs: number; dropQuote: boolean }; wholeProvider: boolean };

interface ChangeResult {
  changeSat: number;
  pending: boolean;
  /** The change the provider sent was refused by the mint. */
  problem?: 'change_forged' | 'change_spent';
}

const liveOwners = new Set<string>();

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function ownerGone(owner: string): boolean {
  const [pidText, instance] = owner.split(':');
  const pid = Number(pidText);
  if (pid === process.pid) return instance === undefined || !liveOwners.has(owner);
  return !pidAlive(pid);
}

const withSlash = (url: string): string => (url.endsWith('/') ? url : `${url}/`);

function headersWithout(headers: Headers, ...names: string[]): Headers {
  const out = new Headers(headers);
  for (const n of names) out.delete(n);
  return out;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

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
  readonly #group: Bottleneck.Group;
  readonly #sessions: SessionBook;
  readonly #background = new Set<Promise<unknown>>();
  readonly #inflight = new Set<string>();
  readonly #distrusted = new Set<string>();
  readonly #receipts: Receipt[] = [];
  readonly #ledger: BudgetLedger;
  /** Budget reservations of tokens not settled yet, by journal id. */
  readonly #holds = new Map<string, Reservation>();
  readonly #limits: Required<ResponseLimits>;
  readonly #timeouts: Required<Timeouts>;
  #closed = false;

  constructor(options: PayerOptions) {
    this.#options = options;
    this.wallet = options.wallet;
    this.market = options.market;
    this.mode = options.mode ?? 'xcashu';
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
    this.#ledger = new BudgetLedger(options.budget?.totalSat);
    this.#limits = { ...DEFAULT_RESPONSE_LIMITS, ...options.responseLimits };
    this.#timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
    this.store = new PayerStore(options.wallet.store);
    this.directory = new ProviderDirectory({ fetch: this.#fetch });
    this.#group = new Bottleneck.Group({ maxConcurrent: options.limits?.maxConcurrent ?? 4, minTime: options.limits?.minTimeMs ?? 0 });
    liveOwners.add(this.#owner);
    this.#sessions = new SessionBook({
      wallet: this.wallet,
      store: this.store,
      owner: this.#owner,
      fetch: this.#fetch,
      options: options.session ?? {},
      beforeDeposit: (amount) => this.#ledger.check(amount),
      background: (p) => this.#track(p),
    });
    this.ready = options.recoverOnStart === false ? Promise.resolve(emptyReport()) : this.recover();
    this.ready.catch(() => undefined);
  }

  /** Receipts of this payer, oldest first. */
  receipts(): readonly Receipt[] {
    return this.#receipts;
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

  /** Waits for background work: change still being collected, top-ups, idle refunds. */
  async settled(): Promise<void> {
    while (this.#background.size > 0) await Promise.allSettled([...this.#background]);
  }

  /** Refunds every session, waits for background work, and stops. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.settled();
    await this.#sessions.refundAll();
    await this.settled();
    liveOwners.delete(this.#owner);
  }

  /** Pays for one request to `path` (e.g. `/v1/chat/completions`) with a JSON `body` naming a model. */
  async request(
    path: string,
    body: Record<string, unknown>,
    init: { signal?: AbortSignal | null; onReceipt?: (receipt: Receipt) => void; /** This request's own price limit (msats), on top of `maxPrice`: it caps the token too. */ maxPriceMsat?: number } = {},
  ): Promise<Response> {
    if (this.#closed) throw new PayerClosed();
    await this.ready.catch(() => undefined);
    const model = body['model'];
    if (typeof model !== 'string' || model === '') throw new UnroutableRequest('the request body names no model');
    const signal = init.signal ?? undefined;
    signal?.throwIfAborted();
    const ctx: RequestContext = { requestId: randomUUID(), model, path: path.replace(/^\//, ''), stream: body['stream'] === true, signal, body, attempts: [], onReceipt: init.onReceipt, refusals: [], maxPriceMsat: init.maxPriceMsat };
    const providers = this.#select(model, body);
    const maxAttempts = this.#options.maxAttempts ?? 4;
    let carry: SentToken | undefined;
    try {
      for (const candidate of providers) {
        if (new Set(ctx.attempts.map((a) => a.provider)).size >= maxAttempts) break;
        const record = this.market.registry.get(candidate.provider);
        const first = record?.urls[0];
        if (!record || !first) continue;
        let useQuote = true;
        for (let retries = 0; ; retries++) {
          signal?.throwIfAborted();
          const out = await this.#tryProvider(ctx, candidate, withSlash(first), record.pubkey, useQuote, carry).catch((error: unknown) => {
            if (error instanceof ResponseTooLarge) carry = undefined; // served (and settled) with the carried token
            throw error;
          });
          if (out.ok) {
            carry = undefined;
            return out.response;
          }
          carry = out.carry;
          ctx.attempts.push(out.record);
          this.#options.onAttemptFailed?.(out.record);
          if (out.retry && retries < 1) {
            if (out.retry.dropQuote) useQuote = false;
            if (out.retry.waitMs > 0) await delay(out.retry.waitMs, undefined, { signal });
            continue;
          }
          this.market.reportFailure(candidate.provider, { model, wholeProvider: out.wholeProvider, reason: out.record.code });
          break;
        }
      }
      signal?.throwIfAborted();
      // every provider asked for more than the buyer's limits allow: say so (nothing was paid)
      const refusal = ctx.refusals[0];
      if (refusal && ctx.refusals.length === ctx.attempts.length) throw refusal;
      throw new AllProvidersFailed(model, ctx.attempts);
    } finally {
      if (carry) await this.#takeBack(carry, undefined);
    }
  }

  /** The failover order for a request, after the price limit. */
  #select(model: string, body: Record<string, unknown>): RankedProvider[] {
    const shape = requestShape(body, this.#options.sizing);
    const profile = this.#options.profile ?? 'balanced';
    const topN = this.#options.topN ?? (profile === 'cheapest' ? 1 : undefined);
    const selection = this.market.select({
      model,
      shape,
      profile,
      ...(topN !== undefined ? { topN } : {}),
      mints: this.wallet.mints,
      exclude: [...this.#distrusted],
    });
    // an ask far above what the market asks is refused before anything else (a buyer with no limits is protected too)
    const factor = this.#options.maxAskOverMedian ?? DEFAULT_MAX_ASK_OVER_MEDIAN;
    const live = this.market.depth ? this.market.depth(model, 1_000, shape) : selection.providers.map((p) => p.ask);
    const { kept, medianMsat } = withinMedian(selection.providers, live, factor);
    if (kept.length === 0 && selection.providers.length > 0 && medianMsat !== undefined) {
      const best = [...selection.providers].sort((a, b) => a.ask.priceMsat - b.ask.priceMsat)[0] as RankedProvider;
      throw new PriceAboveLimit(model, best.ask, medianMsat * factor);
    }
    const limit = this.#options.maxPrice;
    if (limit === undefined) return kept;
    const ok = kept.filter((p) => this.#withinLimit(p.ask, shape));
    if (ok.length === 0 && selection.providers.length > 0) {
      const best = [...selection.providers].sort((a, b) => a.ask.priceMsat - b.ask.priceMsat)[0] as RankedProvider;
      const limitMsat = typeof limit === 'number' ? limit : priceForShape(limit, shape);
      throw new PriceAboveLimit(model, best.ask, limitMsat);
    }
    return ok;
  }

  /** Whether a price (msat/Mtok) is within `maxPrice` for the request's shape; true without a limit. */
  #withinLimit(price: { prompt: number; completion: number }, shape: ReturnType<typeof requestShape>): boolean {
    const limit = this.#options.maxPrice;
    if (limit === undefined) return true;
    return typeof limit === 'number' ? priceForShape(price, shape) <= limit : price.prompt <= limit.prompt && price.completion <= limit.completion;
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
    // A quote the node refused is retried at its current price only if that price is within the buyer's limit.
    if (candidate.ask.source === 'tick' && !quoteId) {
      const sats = advertised.sats_pricing;
      const current = sats ? { prompt: satsPerTokenToMsatPerMtok(sats.prompt), completion: satsPerTokenToMsatPerMtok(sats.completion) } : undefined;
      if (!current || !this.#withinLimit(current, requestShape(ctx.body, this.#options.sizing))) {
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
      // a configured per-request cap refuses as the budget it is; maxPrice and the default cap as the demand
      const perRequest = this.#options.budget?.perRequestMaxSat;
      const refusal =
        cap.source === 'per_request' && perRequest !== undefined
          ? new BudgetExceeded({ kind: 'per_request', limit: sat(perRequest) }, sat(demandSat - perRequest))
          : new DemandAboveLimit(candidate.provider, demandSat, cap.capSat, cap.source);
      ctx.refusals.push(refusal);
      return fail(refusal.code, refusal.message, false, carry);
    }
    const sizing: Sizing = { ...sized, amountSat: Math.min(sized.amountSat, cap.capSat) };
    const mint = pickMint(facts, this.wallet.mints);
    if (!mint) return fail('mint', `${url} accepts none of the wallet's mints`, false, carry);
    const t: ProviderTry = { ctx, candidate, url, pubkey, body, model, sizing, quoteId, mint, started: performance.now() };
    if (this.mode === 'session') {
      if (carry) await this.#takeBack(carry, undefined);
      return this.#limited(url, (release) => this.#sessionExchange(t, release));
    }
    let token = carry;
    if (token && (token.entry.mint !== mint || token.amount < Math.ceil(sizing.gateMsat / 1000) || token.amount > cap.capSat)) {
      await this.#takeBack(token, undefined);
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
    return this.#limited(url, (release) => this.#xcashuExchange(t, paid, carry === paid, release));
  }

  /** Runs `fn` in the provider's Bottleneck slot; the slot is held until `release` (stream end). */
  #limited(url: string, fn: (release: () => void) => Promise<Outcome>): Promise<Outcome> {
    const limiter = this.#group.key(new URL(url).host);
    return new Promise<Outcome>((resolve, reject) => {
      limiter
        .schedule(
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

  // --- X-Cashu --------------------------------------------------------------------------------

  async #xcashuExchange(t: ProviderTry, token: SentToken, reused: boolean, release: () => void): Promise<Outcome> {
    const { ctx, url } = t;
    this.#inflight.add(token.entry.id);
    let handedOff = false;
    // our own limits abort the connection through `guard`; the caller's signal aborts it too
    const guard = new AbortController();
    const signal = ctx.signal ? AbortSignal.any([ctx.signal, guard.signal]) : guard.signal;
    const timer = setTimeout(() => guard.abort(new RequestTimeout(this.#timeouts.requestMs)), this.#timeouts.requestMs);
    const failed = (status: number | undefined, code: string, message: string, header?: string): Promise<Outcome> =>
      this.#xcashuFailed(t, token, reused, { status, code, message, header, refundToken: undefined, retryAfter: undefined, providerCode: undefined });
    try {
      this.store.markSent(token.entry.id, ctx.requestId, url, this.#owner);
      failpoint('payer:before-send');
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        accept: ctx.stream ? 'text/event-stream' : 'application/json',
        'x-cashu': token.token,
      };
      if (t.quoteId) headers['x-routstr-quote'] = t.quoteId;
      let res: Response;
      try {
        ctx.signal?.throwIfAborted();
        res = await this.#fetch(`${url}${ctx.path}`, { method: 'POST', headers, body: JSON.stringify(t.body), signal });
      } catch (error) {
        const code = ctx.signal?.aborted ? 'aborted' : guard.signal.aborted ? 'timeout' : 'network';
        return await failed(undefined, code, guard.signal.aborted ? errorMessage(guard.signal.reason) : errorMessage(error));
      }
      failpoint('payer:after-send');
      const changeHeader = res.headers.get('x-cashu')?.trim() || undefined;
      if (!res.ok) {
        const text = await readBounded(res, this.#limits.maxErrorBytes).catch(() => '');
        const err = parseNodeError(res.status, text);
        return await this.#xcashuFailed(t, token, reused, {
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
        return { ok: true, response: this.#xcashuStream(t, token, res, release, guard) };
      }
      let text: string;
      try {
        text = await readBounded(res, this.#limits.maxBodyBytes);
      } catch (error) {
        if (error instanceof ResponseTooLarge) {
          // served but too big: cut off, change collected, recorded, and the provider avoided
          guard.abort(error);
          release();
          const change = await this.#collectChange(url, token, changeHeader, undefined, ctx);
          error.receipt = this.#completeXCashu(t, token, undefined, undefined, change, ['response_too_large']);
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
      this.#completeXCashu(t, token, json, reported, change);
      return { ok: true, response: new Response(text, { status: res.status, statusText: res.statusText, headers: headersWithout(res.headers, 'content-length', 'content-encoding') }) };
    } finally {
      clearTimeout(timer);
      if (!handedOff) this.#inflight.delete(token.entry.id);
    }
  }

  /** Takes back (or collects the refund of) a token after a failed try; an echoed unspent token is carried on. */
  async #xcashuFailed(
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
      const got = await this.#receiveChange(token, (f.header ?? f.refundToken) as string);
      returned = got.changeSat;
      pending = got.pending;
      if (got.problem) this.#distrust(t.candidate.provider, got.problem);
    } else {
      const back = await this.#takeBack(token, t.url, t.ctx);
      returned = back.returnedSat;
      pending = back.pending;
    }
    // what the provider kept of a token it did not serve counts against the budget
    if (!carry) this.#settleHold(token.entry.id, token.amount - returned);
    // a provider that took the token and then did not answer in time is not asked again
    if (f.code === 'timeout') this.#distrust(t.candidate.provider, 'timeout');
    let retry: { waitMs: number; dropQuote: boolean } | undefined;
    if (f.status === 429 && f.retryAfter !== undefined && f.retryAfter <= (this.#options.maxRetryAfterMs ?? 5_000)) retry = { waitMs: f.retryAfter, dropQuote: false };
    if (f.status === 400 && typeof f.providerCode === 'string' && f.providerCode.startsWith('quote_')) retry = { waitMs: 0, dropQuote: true };
    if (f.status === 402 || f.code === 'invalid_model') this.directory.invalidate(t.url);
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
  async #takeBack(token: SentToken, url: string | undefined, ctx?: RequestContext): Promise<{ returnedSat: number; pending: boolean }> {
    const out = await this.#takeBackOnce(token, url, ctx);
    this.#settleHold(token.entry.id, token.amount - out.returnedSat);
    return out;
  }

  async #takeBackOnce(token: SentToken, url: string | undefined, ctx: RequestContext | undefined): Promise<{ returnedSat: number; pending: boolean }> {
    let back: number;
    try {
      back = await this.wallet.reclaim(token.entry);
    } catch {
      return { returnedSat: 0, pending: true };
    }
    const entry = this.wallet.journal({ requestId: token.entry.requestId ?? undefined }).find((e) => e.id === token.entry.id);
    if (back > 0 || entry?.status === 'reclaimed') {
      this.store.markDone(token.entry.id);
      return { returnedSat: back, pending: false };
    }
    const rec = this.store.xcashu(token.entry.id);
    const at = url ?? rec?.providerUrl;
    if (!at) return { returnedSat: 0, pending: true };
    const look = await changeByRefundRoute(at, token.token, { fetch: this.#fetch, maxPolls: 3, signal: this.#refundSignal(ctx) });
    if (look.state === 'token') {
      const got = await this.#receiveChange(token, look.token);
      return { returnedSat: got.changeSat, pending: got.pending };
    }
    if (look.state === 'none') {
      this.wallet.settle(token.entry.id);
      this.store.markDone(token.entry.id);
      return { returnedSat: 0, pending: false };
    }
    return { returnedSat: 0, pending: true };
  }

  /**
   * Stores a change token: kept in the payer table first, then redeemed, then the payment settled.
   * Change counts only once the mint took it: a token the mint refuses (forged proofs, unknown
   * keyset, spent by someone else) is recorded as such and counts as nothing returned.
   */
  async #receiveChange(token: Pick<SentToken, 'entry'>, change: string): Promise<ChangeResult> {
    this.store.saveChange(token.entry.id, change);
    failpoint('payer:before-change-stored');
    let credited: number;
    try {
      credited = await this.wallet.receive(change);
    } catch (error) {
      const problem = refusedChange(error, this.wallet, change);
      if (problem === 'stored') credited = changeFace(change); // redeemed by this wallet before a crash
      else if (problem === undefined) return { changeSat: 0, pending: true }; // mint unreachable: try again at recovery
      else {
        this.wallet.settle(token.entry.id);
        this.store.markDone(token.entry.id);
        return { changeSat: 0, pending: false, problem };
      }
    }
    this.wallet.settle(token.entry.id);
    this.store.markDone(token.entry.id);
    return { changeSat: credited, pending: false };
  }

  /**
   * The change of a served request: from the header/comment if it came, else from the refund route
   * when some is owed. `ctx` (the caller's signal) is left out where the lookup runs in the background.
   */
  async #collectChange(url: string, token: SentToken, change: string | undefined, reportedMsat: number | undefined, ctx: RequestContext | undefined): Promise<ChangeResult> {
    if (change) return this.#receiveChange(token, change);
    const owed = reportedMsat === undefined || token.amount > Math.ceil(reportedMsat / 1000);
    if (owed) {
      const look = await changeByRefundRoute(url, token.token, { fetch: this.#fetch, signal: this.#refundSignal(ctx) });
      if (look.state === 'token') return this.#receiveChange(token, look.token);
      if (look.state !== 'none') return { changeSat: 0, pending: true };
    }
    this.wallet.settle(token.entry.id);
    this.store.markDone(token.entry.id);
    return { changeSat: 0, pending: false };
  }

  /** Passes an X-Cashu stream through as it arrives; the change is stored before the caller sees its end. */
  #xcashuStream(t: ProviderTry, token: SentToken, res: Response, release: () => void, guard: AbortController): Response {
    const tap = new SseTap();
    tap.onChange = (change) => this.store.saveChange(token.entry.id, change);
    const problems: ReceiptProblem[] = [];
    let finished: Promise<void> | undefined;
    const finish = (): Promise<void> =>
      (finished ??= (async () => {
        try {
          tap.end();
          // runs after the caller's last read (or its abort): bounded by the refund timeout alone, so change still comes back
          const change = await this.#collectChange(t.url, token, tap.changeToken, problems.length > 0 ? undefined : tap.costMsat, undefined);
          this.#completeXCashu(t, token, { usage: tap.usage }, tap.costMsat, change, problems);
        } finally {
          release();
          this.#inflight.delete(token.entry.id);
        }
      })());
    const limited = this.#limitedStream(res.body as ReadableStream<Uint8Array>, guard, problems);
    // broken off (abort, network): the node bills what it generated; its refund route has the change
    const out = holdStreamEnd(limited, tap, {
      first: () => failpoint('payer:mid-stream'),
      settle: finish,
      broken: () => this.#track(finish()),
      // cut off by a limit: the change is collected and the receipt written before the caller sees the error
      settlesOnError: (error) => error instanceof ResponseTooLarge || error instanceof StreamLimitExceeded,
    });
    return new Response(out, { status: res.status, statusText: res.statusText, headers: headersWithout(res.headers, 'content-length', 'content-encoding') });
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

  #completeXCashu(t: ProviderTry, token: SentToken, json: unknown, reportedMsat: number | undefined, change: ChangeResult, problems: readonly ReceiptProblem[] = []): Receipt {
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
    this.#settleHold(token.entry.id, token.amount - Math.min(token.amount, change.changeSat));
    return this.#finish(t, {
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

  // --- session --------------------------------------------------------------------------------

  async #sessionExchange(t: ProviderTry, release: () => void): Promise<Outcome> {
    const { ctx, url, sizing } = t;
    const required = sizing.amountSat;
    const fail = (status: number | undefined, code: string, message: string, wholeProvider: boolean, retry?: { waitMs: number; dropQuote: boolean }): Outcome => ({
      ok: false,
      record: { provider: t.candidate.provider, url, status, code, message, paidSat: 0, returnedSat: 0, tokenReused: false, pendingRecovery: false },
      ...(retry ? { retry } : {}),
      wholeProvider,
    });
    // the most this request can debit is reserved against the total budget until its receipt
    const hold = this.#reserve(Math.ceil(sizing.gateMsat / 1000));
    let s: LiveSession;
    try {
      s = await this.#sessions.acquire(url, t.mint, sizing.gateMsat, required, ctx.signal);
    } catch (error) {
      hold.settle(0);
      if (error instanceof WalletError) throw error; // budgets, funds: refused before anything left
      if (error instanceof SessionFundingFailed) return fail(error.nodeError?.status, error.nodeError?.code ?? 'session_funding_failed', error.message, !error.nodeError);
      throw error;
    }
    const guard = new AbortController();
    const signal = ctx.signal ? AbortSignal.any([ctx.signal, guard.signal]) : guard.signal;
    const timer = setTimeout(() => guard.abort(new RequestTimeout(this.#timeouts.requestMs)), this.#timeouts.requestMs);
    try {
      return await this.#sessionRequest(t, s, hold, release, guard, signal, fail);
    } finally {
      clearTimeout(timer);
    }
  }

  async #sessionRequest(
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
      res = await this.#fetch(`${url}${ctx.path}`, { method: 'POST', headers, body: JSON.stringify(t.body), signal });
    } catch (error) {
      this.#sessions.release(s, sizing.gateMsat, undefined, required);
      hold.settle(Math.ceil(sizing.gateMsat / 1000)); // the node may have debited it: count the most
      return fail(undefined, ctx.signal?.aborted ? 'aborted' : guard.signal.aborted ? 'timeout' : 'network', errorMessage(error), true);
    }
    if (!res.ok) {
      const text = await readBounded(res, this.#limits.maxErrorBytes).catch(() => '');
      const err = parseNodeError(res.status, text);
      this.#sessions.release(s, sizing.gateMsat, 0, required);
      hold.settle(0);
      if (err.code === 'insufficient_balance') {
        await this.#sessions.refreshBalance(s).catch(() => undefined);
        return fail(res.status, err.code, err.message, false, { waitMs: 0, dropQuote: false });
      }
      const ra = retryAfterMs(res.headers.get('retry-after'));
      const retry = res.status === 429 && ra !== undefined && ra <= (this.#options.maxRetryAfterMs ?? 5_000) ? { waitMs: ra, dropQuote: false } : typeof err.providerCode === 'string' && err.providerCode.startsWith('quote_') ? { waitMs: 0, dropQuote: true } : undefined;
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
        this.#sessions.release(s, sizing.gateMsat, tap.costMsat, required);
        release();
        this.#completeSession(t, hold, { usage: tap.usage }, tap.costMsat, problems);
      };
      const limited = this.#limitedStream(res.body, guard, problems);
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
      text = await readBounded(res, this.#limits.maxBodyBytes);
    } catch (error) {
      guard.abort(error);
      release();
      this.#sessions.release(s, sizing.gateMsat, undefined, required);
      if (error instanceof ResponseTooLarge) {
        error.receipt = this.#completeSession(t, hold, undefined, undefined, ['response_too_large']);
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
    this.#sessions.release(s, sizing.gateMsat, cost, required);
    this.#completeSession(t, hold, json, cost);
    return { ok: true, response: new Response(text, { status: res.status, statusText: res.statusText, headers: headersWithout(res.headers, 'content-length', 'content-encoding') }) };
  }

  #completeSession(t: ProviderTry, hold: Reservation, json: unknown, costMsat: number | undefined, problems: readonly ReceiptProblem[] = []): Receipt {
    const usage = typeof json === 'object' && json !== null ? (json as Record<string, unknown>)['usage'] : undefined;
    const bounds = usageBounds(t.body);
    const all: ReceiptProblem[] = [...problems];
    if (isInflated(normalizeUsage(usage), bounds)) all.push('usage_inflated');
    const expected = expectedCost(t.model, clampUsage(usage, bounds), t.sizing.gateMsat);
    const charged = costMsat ?? t.sizing.gateMsat;
    const chargedSat = Math.ceil(charged / 1000);
    hold.settle(chargedSat);
    if (chargedSat > hold.amountSat) this.#ledger.count(chargedSat - hold.amountSat);
    return this.#finish(t, {
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

  // --- receipts -------------------------------------------------------------------------------

  #finish(
    t: ProviderTry,
    r: Pick<Receipt, 'paidSat' | 'changeSat' | 'chargedMsat' | 'costMsat' | 'expectedCostMsat' | 'verification' | 'changePending' | 'problems'> & { usage: unknown },
  ): Receipt {
    const ok: AttemptRecord = {
      provider: t.candidate.provider, url: t.url, status: 200, code: 'ok', message: 'ok', paidSat: r.paidSat, returnedSat: r.changeSat, tokenReused: false, pendingRecovery: r.changePending,
    };
    const ask = t.candidate.ask;
    const receipt: Receipt = {
      requestId: t.ctx.requestId,
      mode: this.mode,
      provider: { id: t.candidate.provider, url: t.url, pubkey: t.pubkey },
      model: t.ctx.model,
      providerModelId: String(t.body['model']),
      price: { prompt: ask.prompt, completion: ask.completion, source: t.quoteId ? 'tick' : ask.source === 'tick' ? 'models' : ask.source, quoteId: t.quoteId },
      stream: t.ctx.stream,
      usage: normalizeUsage(r.usage),
      gateMsat: t.sizing.gateMsat,
      paidSat: r.paidSat,
      changeSat: r.changeSat,
      chargedMsat: r.chargedMsat,
      costMsat: r.costMsat,
      expectedCostMsat: r.expectedCostMsat,
      verification: r.verification,
      attempts: [...t.ctx.attempts, ok],
      changePending: r.changePending,
      problems: r.problems,
    };
    this.#receipts.push(receipt);
    t.ctx.onReceipt?.(receipt);
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

  // --- recovery -------------------------------------------------------------------------------

  /**
   * Settles what earlier runs (or failed tries of this one) left: X-Cashu tokens a provider holds
   * (change collected from its refund route), tokens that never left (taken back), and session
   * keys (refunded). Skips records of live payers and requests in flight.
   */
  async recover(): Promise<PayerRecoveryReport> {
    const report = emptyReport();
    for (const row of this.store.openXCashu()) {
      if (this.#inflight.has(row.journalId)) continue;
      if (row.owner !== this.#owner && !ownerGone(row.owner)) continue;
      const entry = this.wallet.journal({ requestId: row.requestId }).find((e) => e.id === row.journalId);
      if (!entry || ['reclaimed', 'aborted', 'settled', 'pending'].includes(entry.status)) {
        this.store.markDone(row.journalId);
        report.xcashuResolved++;
        continue;
      }
      const token: SentToken = { token: entry.token ?? '', amount: entry.amount, entry };
      try {
        const got = row.changeToken ? await this.#receiveChange(token, row.changeToken) : await this.#takeBack(token, row.providerUrl);
        const returned = 'changeSat' in got ? got.changeSat : got.returnedSat;
        report.recoveredSat += returned;
        if (got.pending) report.pending++;
        else report.xcashuResolved++;
      } catch {
        report.pending++;
      }
    }
    const live = new Set(this.#sessions.live().map((s) => s.id));
    for (const rec of this.store.openSessions()) {
      if (live.has(rec.id)) continue;
      if (rec.owner !== this.#owner && !ownerGone(rec.owner)) continue;
      try {
        report.recoveredSat += await refundRecord(this.wallet, this.store, rec, this.#fetch);
        report.sessionsRefunded++;
      } catch {
        report.pending++;
      }
    }
    return report;
  }
}

function emptyReport(): PayerRecoveryReport {
  return { xcashuResolved: 0, recoveredSat: 0, sessionsRefunded: 0, pending: 0 };
}

function safeCost(json: unknown, headers: Headers): number | undefined {
  try {
    return readReportedCost(json, Object.fromEntries(headers.entries()))?.totalMsat;
  } catch {
    return undefined;
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
