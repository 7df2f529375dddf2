/**
 * Session mode (the routstr SDK's `apikeys` mode): one `sk-` account per provider, funded by a
 * Cashu deposit (`GET /v1/wallet/info` with `Bearer <token>` redeems it and tells the key), topped
 * up ahead of need (`POST /v1/wallet/topup`), refunded when idle or on close
 * (`POST /v1/wallet/refund`). Every deposit is recorded in the wallet's sqlite file before it
 * leaves, so a crash never loses one: the next start refunds outstanding sessions.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { sat } from '../../money/index.ts';
import { apiKeyForToken, parseBalanceInfo, parseNodeError, parseTopupResponse, type RoutstrNodeError } from '../../protocol/index.ts';
import { failpoint } from '../../wallet/failpoint.ts';
import type { EcashWallet } from '../../wallet/index.ts';
import { ProofsAlreadySpent } from '../../wallet/index.ts';
import type { PayerStore, SessionRecord } from './payer-store.ts';
import { refundSession } from './refund-route.ts';
import { readBounded } from './bounded-body.ts';

/** Balance, deposit and top-up answers are a few fields: more is not read (a failed read leaves the session to recovery). */
const MAX_SESSION_ANSWER_BYTES = 64 << 10;

export interface SessionOptions {
  /** Least first deposit or top-up, sats (default 7, as the SDK). */
  readonly minDepositSat?: number;
  /** Keep this multiple of a request's size on the key (default 1.4, as the SDK). */
  readonly headroom?: number;
  /** Refund a key unused for this long (default 300 000 ms; 0 = only on close). */
  readonly idleRefundMs?: number;
  /** Schedules the idle refund (default: an unref'd setTimeout); a test passes its own to fire it when it chooses. */
  readonly scheduleIdle?: IdleScheduler;
}

/** Runs `run` after `ms` unless cancelled first. */
export type IdleScheduler = (run: () => void, ms: number) => { cancel(): void };

/** The default IdleScheduler: a timer that never keeps the process alive on its own. */
const timerIdle: IdleScheduler = (run, ms) => {
  const timer = setTimeout(run, ms);
  timer.unref();
  return { cancel: () => clearTimeout(timer) };
};

/** A live session with local balance accounting. */
export interface LiveSession {
  readonly id: string;
  readonly url: string;
  readonly mint: string;
  apiKey: string;
  /** Balance on the key as last known (node's available), msats. */
  balanceMsat: number;
  /** Gates of this process's requests in flight on the key, msats. */
  reservedMsat: number;
  inflight: number;
  /** Requests of this process waiting for the key to cover them (they count towards the peak). */
  waiting: number;
  /** Most requests this process has had in flight on the key at once (top-ups cover that many ahead). */
  peakInflight: number;
  topup: Promise<void> | undefined;
  /** A request size whose fund-ahead check found a top-up running: checked again when that top-up ends. */
  recheckSat: number | undefined;
  idleTimer: { cancel(): void } | undefined;
  closing: Promise<number> | undefined;
}

/** A refused deposit or top-up. */
export class SessionFundingFailed extends Error {
  readonly code = 'session_funding_failed';
  readonly nodeError: RoutstrNodeError | undefined;
  constructor(message: string, nodeError?: RoutstrNodeError, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SessionFundingFailed';
    this.nodeError = nodeError;
  }
}

export class SessionBook {
  readonly #wallet: EcashWallet;
  readonly #store: PayerStore;
  readonly #owner: string;
  readonly #fetch: typeof fetch;
  readonly #options: SessionOptions;
  readonly #live = new Map<string, LiveSession>();
  readonly #opening = new Map<string, Promise<LiveSession>>();
  /** Called before a deposit leaves (budgets). */
  readonly #beforeDeposit: (amountSat: number) => void;
  readonly #background: (p: Promise<unknown>) => void;
  readonly #stats = { topUpsWaited: 0, topUpsAhead: 0 };

  constructor(args: {
    wallet: EcashWallet;
    store: PayerStore;
    owner: string;
    fetch: typeof fetch;
    options: SessionOptions;
    beforeDeposit: (amountSat: number) => void;
    background: (p: Promise<unknown>) => void;
  }) {
    this.#wallet = args.wallet;
    this.#store = args.store;
    this.#owner = args.owner;
    this.#fetch = args.fetch;
    this.#options = args.options;
    this.#beforeDeposit = args.beforeDeposit;
    this.#background = args.background;
  }

  /** Live sessions of this payer. */
  live(): LiveSession[] {
    return [...this.#live.values()];
  }

  /** Deposit size for a request of `requiredSat`. */
  depositFor(requiredSat: number): number {
    return Math.max(Math.ceil(requiredSat * (this.#options.headroom ?? 1.4)), this.#options.minDepositSat ?? 7);
  }

  /**
   * A session at `url` with at least `gateMsat` available for one more request; opens or tops up
   * as needed (waiting only when the balance cannot cover this request). Reserves the gate.
   */
  async acquire(url: string, mint: string, gateMsat: number, requiredSat: number, signal?: AbortSignal): Promise<LiveSession> {
    let s = this.#live.get(url);
    if (!s || s.closing) {
      let opening = this.#opening.get(url);
      if (!opening) {
        opening = this.#open(url, mint, this.depositFor(requiredSat));
        this.#opening.set(url, opening);
        opening.finally(() => this.#opening.delete(url)).catch(() => undefined);
      }
      s = await opening;
    }
    // Held on the key with headroom: a node bills the real cost even past its gate (as far as the
    // balance goes), and the prompt estimate behind the gate can be low; a key run dry would leave
    // a charge the node could not collect although the receipt counts it.
    const heldMsat = this.#held(gateMsat);
    s.waiting += 1;
    s.peakInflight = Math.max(s.peakInflight, s.inflight + s.waiting);
    try {
      for (let own = 0, waited = 0; s.balanceMsat - s.reservedMsat < heldMsat; ) {
        signal?.throwIfAborted();
        if (own >= 3 || waited >= 6) throw new SessionFundingFailed(`session at ${url} stays below the gate after top-ups`);
        // the key cannot cover this request: the one case a request waits for a top-up (fundAhead keeps it rare)
        if (own + waited === 0) this.#stats.topUpsWaited++;
        const running = s.topup;
        if (running) {
          // A top-up already under way (often one funding ahead, sized for a burst): wait for it and look
          // again. Its failure is not this request's: one funding ahead may ask for more than the wallet has.
          waited++;
          await running.catch(() => undefined);
          continue;
        }
        own++;
        await this.topUp(s, Math.max(this.depositFor(requiredSat), Math.ceil((heldMsat - (s.balanceMsat - s.reservedMsat)) / 1000)));
      }
    } finally {
      s.waiting -= 1;
    }
    s.reservedMsat += heldMsat;
    s.inflight += 1;
    s.peakInflight = Math.max(s.peakInflight, s.inflight);
    s.idleTimer?.cancel();
    s.idleTimer = undefined;
    this.#fundAhead(s, requiredSat);
    return s;
  }

  /** What a request whose gate is `gateMsat` holds of its key's balance while it runs (the gate with headroom). */
  #held(gateMsat: number): number {
    return Math.ceil(gateMsat * Math.max(1, this.#options.headroom ?? 1.4));
  }

  /** How often requests waited for a top-up, and how many ran ahead in the background, since this book was made. */
  stats(): { readonly topUpsWaited: number; readonly topUpsAhead: number } {
    return { ...this.#stats };
  }

  /**
   * Tops the key up in the background while it still covers what runs on it: when what is free
   * would not cover, with headroom, one more request like this one for each request the key has
   * had in flight at once (and the next). So a top-up never sits on a request's path unless a
   * burst larger than any before outruns it.
   */
  #fundAhead(s: LiveSession, requiredSat: number): void {
    if (s.closing) return;
    // A running top-up may be too small for what ran since it started: look again when it ends.
    if (s.topup) return void (s.recheckSat = requiredSat);
    const wantMsat = (s.peakInflight + 1) * requiredSat * 1000 * (this.#options.headroom ?? 1.4);
    const freeMsat = s.balanceMsat - s.reservedMsat;
    if (freeMsat >= wantMsat) return;
    this.#stats.topUpsAhead++;
    this.#background(this.topUp(s, Math.max(this.depositFor(requiredSat), Math.ceil((wantMsat - freeMsat) / 1000))).catch(() => undefined));
  }

  /** Ends a request on the session: `costMsat` debited (undefined: unknown, re-read the balance). */
  release(s: LiveSession, gateMsat: number, costMsat: number | undefined, requiredSat: number): void {
    s.reservedMsat -= this.#held(gateMsat);
    s.inflight -= 1;
    if (costMsat !== undefined) s.balanceMsat -= costMsat;
    else this.#background(this.refreshBalance(s));
    this.#fundAhead(s, requiredSat);
    this.#armIdle(s);
  }

  /** Re-reads the key's balance from the node. */
  async refreshBalance(s: LiveSession): Promise<void> {
    const res = await this.#fetch(`${s.url}v1/wallet/info`, { headers: { authorization: `Bearer ${s.apiKey}` } });
    const text = await readBounded(res, MAX_SESSION_ANSWER_BYTES);
    if (!res.ok) throw parseNodeError(res.status, text);
    const info = parseBalanceInfo(JSON.parse(text) as unknown);
    s.balanceMsat = info.balance + (info.reserved ?? 0);
  }

  /** Tops up `amountSat` (single flight per session: a second caller waits for the running one). */
  topUp(s: LiveSession, amountSat: number): Promise<void> {
    if (s.topup) return s.topup;
    const run = this.#topUp(s, amountSat).finally(() => {
      s.topup = undefined;
      const again = s.recheckSat;
      s.recheckSat = undefined;
      if (again !== undefined) this.#fundAhead(s, again);
    });
    s.topup = run;
    return run;
  }

  async #topUp(s: LiveSession, amountSat: number): Promise<void> {
    this.#beforeDeposit(amountSat);
    const sent = await this.#wallet.send(sat(amountSat), { purpose: 'session topup', requestId: s.id, mint: s.mint });
    this.#store.addDeposit(s.id, sent.entry.id, sent.amount);
    failpoint('payer:session-before-topup');
    let res: Response;
    try {
      res = await this.#fetch(`${s.url}v1/wallet/topup`, {
        method: 'POST',
        headers: { authorization: `Bearer ${s.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ cashu_token: sent.token }),
      });
    } catch (error) {
      await this.#takeBack(sent.entry.id);
      throw new SessionFundingFailed(`top-up at ${s.url} failed: ${(error as Error).message}`, undefined, { cause: error });
    }
    const text = await readBounded(res, MAX_SESSION_ANSWER_BYTES);
    if (!res.ok) {
      await this.#takeBack(sent.entry.id);
      const err = parseNodeError(res.status, text);
      throw new SessionFundingFailed(`top-up at ${s.url} refused: ${err.message}`, err);
    }
    s.balanceMsat += parseTopupResponse(JSON.parse(text) as unknown).msats;
  }

  /** A deposit that did not arrive: take its token back (if the node did not redeem it). */
  async #takeBack(journalId: string): Promise<void> {
    try {
      const back = await this.#wallet.reclaim(journalId);
      if (back > 0) this.#store.removeDeposit(journalId);
    } catch {
      // the mint is unreachable: recovery settles it later
    }
  }

  async #open(url: string, mint: string, amountSat: number): Promise<LiveSession> {
    this.#beforeDeposit(amountSat);
    const id = randomUUID();
    const sent = await this.#wallet.send(sat(amountSat), { purpose: 'session deposit', requestId: id, mint });
    // the key routstr-core gives a Cashu bearer is sk-sha256(token): known before it leaves
    this.#store.tx(() => {
      this.#store.insertSession({ id, providerUrl: url, mint, apiKey: apiKeyForToken(sent.token), owner: this.#owner, depositedSat: 0 });
      this.#store.addDeposit(id, sent.entry.id, sent.amount);
    });
    failpoint('payer:session-before-deposit');
    let res: Response;
    try {
      res = await this.#fetch(`${url}v1/wallet/info`, { headers: { authorization: `Bearer ${sent.token}` } });
    } catch (error) {
      await this.#takeBack(sent.entry.id);
      await this.#closeIfEmpty(id);
      throw new SessionFundingFailed(`deposit at ${url} failed: ${(error as Error).message}`, undefined, { cause: error });
    }
    const text = await readBounded(res, MAX_SESSION_ANSWER_BYTES);
    if (!res.ok) {
      await this.#takeBack(sent.entry.id);
      await this.#closeIfEmpty(id);
      const err = parseNodeError(res.status, text);
      throw new SessionFundingFailed(`deposit at ${url} refused: ${err.message}`, err);
    }
    failpoint('payer:session-after-deposit');
    const info = parseBalanceInfo(JSON.parse(text) as unknown);
    this.#store.setApiKey(id, info.api_key);
    const s: LiveSession = {
      id, url, mint, apiKey: info.api_key, balanceMsat: info.balance, reservedMsat: 0, inflight: 0, waiting: 0, peakInflight: 0, topup: undefined, recheckSat: undefined, idleTimer: undefined, closing: undefined,
    };
    this.#live.set(url, s);
    return s;
  }

  async #closeIfEmpty(id: string): Promise<void> {
    const rec = this.#store.session(id);
    if (rec && rec.depositedSat === 0) this.#store.closeSession(id, 0);
  }

  #armIdle(s: LiveSession): void {
    const ms = this.#options.idleRefundMs ?? 300_000;
    if (ms <= 0 || s.inflight > 0) return;
    s.idleTimer?.cancel();
    s.idleTimer = (this.#options.scheduleIdle ?? timerIdle)(() => {
      s.idleTimer = undefined;
      if (s.inflight === 0) this.#background(this.refund(s).catch(() => undefined));
    }, ms);
  }

  /** Refunds a live session's balance into the wallet and closes it; returns the sats refunded. */
  refund(s: LiveSession): Promise<number> {
    if (s.closing) return s.closing;
    s.idleTimer?.cancel();
    s.closing = (async () => {
      if (s.topup) await s.topup.catch(() => undefined);
      this.#live.delete(s.url);
      const rec = this.#store.session(s.id);
      if (!rec) return 0;
      return refundRecord(this.#wallet, this.#store, rec, this.#fetch);
    })();
    return s.closing;
  }

  /** Refunds every live session. */
  async refundAll(): Promise<number> {
    let total = 0;
    for (const s of this.live()) total += await this.refund(s).catch(() => 0);
    return total;
  }
}

/**
 * Refunds a session record (live, or left by a crash): the balance comes back as a token that
 * the wallet redeems, then every deposit is settled and the session closed. A key the node never
 * funded (key_not_found) or an empty one closes with nothing back.
 */
export async function refundRecord(wallet: EcashWallet, store: PayerStore, rec: SessionRecord, doFetch: typeof fetch): Promise<number> {
  let refunded = 0;
  let r = await refundSession(rec.providerUrl, rec.apiKey, { fetch: doFetch });
  // a request the node is still finishing holds a reservation: it settles within moments
  for (let i = 0; i < 10 && !r.ok && /ongoing requests/i.test(r.error.message); i++) {
    await delay(200);
    r = await refundSession(rec.providerUrl, rec.apiKey, { fetch: doFetch });
  }
  if (r.ok) {
    if (r.token) {
      try {
        refunded = await wallet.receive(r.token);
      } catch (error) {
        // a repeat of a refund this wallet already redeemed (crash after receive) is fine
        if (!(error instanceof ProofsAlreadySpent)) throw error;
      }
    }
  } else {
    const message = r.error.message;
    const empty = r.error.code === 'key_not_found' || /no balance to refund|balance too small/i.test(message);
    if (!empty) throw r.error;
  }
  const entries = wallet.journal({ requestId: rec.id });
  for (const d of store.depositsOf(rec.id)) {
    const e = entries.find((j) => j.id === d.journalId);
    if (!e) continue;
    if (e.status === 'outstanding') {
      // never redeemed by the node: take it back rather than settle it
      if ((await wallet.reclaim(e.id)) > 0) continue;
    }
    if (e.status === 'outstanding' || e.status === 'spent') wallet.settle(e.id);
  }
  store.closeSession(rec.id, refunded);
  return refunded;
}
