/** The payer's options and the shapes its parts pass between them (request, try, outcome, change, receipt input). */
import type { FailureReport, PricedAsk, RankedProvider, RequestShape, Selection, SelectionProfile, SelectionRequest } from '../../market/index.ts';
import { readReportedCost, type Model } from '../../protocol/index.ts';
import type { BudgetExceeded, EcashWallet, IncomingOutcome, SentToken } from '../../wallet/index.ts';
import type { MaxPrice, ResponseLimits, Timeouts } from './buyer-guards.ts';
import type { AttemptRecord, PriceAboveLimit } from './errors.ts';
import type { PaymentMode, Receipt } from './receipt.ts';
import type { SessionOptions } from './session-book.ts';
import type { Sizing, SizingOptions } from './sizing.ts';

/** What the payer needs of a market (`openMarket()` gives all of it). */
export interface PayerMarket {
  select(request: SelectionRequest): Selection;
  reportFailure(provider: string, report?: FailureReport): void;
  reportSuccess(provider: string, latencyMs: number): void;
  readonly registry: { get(id: string): { readonly urls: readonly string[]; readonly pubkey: string } | undefined };
  /** The `n` cheapest live asks for a model (the market median guard reads it; without it the selection is used). */
  depth?(model: string, n: number, shape?: RequestShape): PricedAsk[];
}

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
   * `perRunSat` caps this payer's spend, `totalSat` every spend recorded in the wallet's database (it survives restarts);
   * both are reserved when a token is made and settled at its receipt, so concurrent requests never overshoot them.
   */
  budget?: { perRequestMaxSat?: number; perRunSat?: number; totalSat?: number };
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
  /** Per-provider limits (a queue per host): concurrent requests (default 4) and ms between starts (default 0: one start per `minTimeMs` window otherwise). */
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

/** What one request needs beyond its path and body. */
export interface PayOptions {
  signal?: AbortSignal;
  /** This request's own price limit (msats for its shape), on top of PayerOptions.maxPrice; it caps the token too. */
  maxPriceMsat?: number;
  /** Go only to this ask's provider, at its quote (X-Routstr-Quote): no failover to another provider or price. */
  ask?: PricedAsk;
  /** The id the wallet journals every token of this request under (default: a random UUID). An order stores
   *  the id first and passes it here, so crash recovery links the order to its tokens. */
  requestId?: string;
}

/** A paid request: the provider's answer and this request's own receipt. */
export interface PaidResponse {
  readonly requestId: string;
  readonly response: Response;
  /** Settles once the answer was read (a stream ended or was broken off) and its change is stored. */
  readonly receipt: Promise<Receipt>;
  /** Failed tries before the one that served. */
  readonly attempts: readonly AttemptRecord[];
}

/** One logical request as the payer carries it through its tries. */
export interface RequestContext {
  readonly requestId: string;
  readonly model: string;
  readonly path: string;
  readonly stream: boolean;
  readonly signal: AbortSignal | undefined;
  readonly body: Record<string, unknown>;
  readonly attempts: AttemptRecord[];
  /** This request's own receipt, settled by the try that served it. */
  readonly receipt: ReceiptSlot;
  /** Providers refused because their demand is above the buyer's limits (nothing was paid to them). */
  readonly refusals: Array<PriceAboveLimit | BudgetExceeded>;
  /** A limit of this request alone (market and limit buys), msats. */
  readonly maxPriceMsat: number | undefined;
  /** Pinned to one ask at its quote (PayOptions.ask): no failover, no retry at another price. */
  readonly pinned: boolean;
}

/** A receipt promise and its settlers; settling twice is a no-op. */
export interface ReceiptSlot {
  readonly promise: Promise<Receipt>;
  resolve(receipt: Receipt): void;
  reject(error: unknown): void;
}

/** A fresh, unsettled ReceiptSlot (its promise never reports an unhandled rejection). */
export function receiptSlot(): ReceiptSlot {
  let resolve: (r: Receipt) => void = () => undefined;
  let reject: (e: unknown) => void = () => undefined;
  const promise = new Promise<Receipt>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

/** One try of a request at one provider, sized and priced. */
export interface ProviderTry {
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

/** How a try ended: served, or failed (with a token to carry on, a retry, and whether the whole provider failed). */
export type Outcome =
  | { ok: true; response: Response }
  | { ok: false; record: AttemptRecord; carry?: SentToken; retry?: { waitMs: number; dropQuote: boolean }; wholeProvider: boolean };

/** What came of a request's change. */
export interface ChangeResult {
  /** Face value of the change kept (durable in the wallet's incoming journal), sats. */
  changeSat: number;
  pending: boolean;
  /** The change the provider sent is not ecash of a mint we use (known before anything was kept). */
  problem?: 'change_forged' | 'change_spent';
  /** The mint's verdict on kept change, from the wallet's background redeem (never rejects). */
  verdict?: Promise<IncomingOutcome>;
}

/** What a finished request's receipt is made of (the rest comes from the try). */
export type ReceiptInput = Pick<Receipt, 'paidSat' | 'changeSat' | 'chargedMsat' | 'costMsat' | 'expectedCostMsat' | 'verification' | 'changePending' | 'problems'> & { usage: unknown };

/** `headers` without `names` (a body the payer re-wraps has another length and encoding). */
export function headersWithout(headers: Headers, ...names: string[]): Headers {
  const out = new Headers(headers);
  for (const n of names) out.delete(n);
  return out;
}

/** An error's message, whatever was thrown. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The cost a node reports for a request (body or headers), msats; undefined when absent or malformed. */
export function safeCost(json: unknown, headers: Headers): number | undefined {
  try {
    return readReportedCost(json, Object.fromEntries(headers.entries()))?.totalMsat;
  } catch {
    return undefined;
  }
}
