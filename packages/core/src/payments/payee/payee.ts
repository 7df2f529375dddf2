/**
 * The payee side of Routstr payments, as routstr-core does it, crash-safe: X-Cashu tokens are
 * checked against the gate, redeemed (swapped) into the node's EcashWallet before serving, billed,
 * and their change is made (journaled by the wallet) and stored before the response completes;
 * Bearer accounts (`sk-` + sha256(token)) hold msats, reserve the gate, settle the real cost.
 *
 * Crash rules (failpoints `payee:*`, recovery in `recover()` on open):
 * - a token recorded 'redeeming' is ours only if our wallet's own swap of it finished (its
 *   recovery on open settles a swap the crash cut off); "spent at the mint" proves nothing (the
 *   client may have reclaimed it), so otherwise the client keeps it and the record is dropped;
 * - a redeemed X-Cashu request that was never billed is refunded in full (billed 0);
 * - a charged request whose change is not stored adopts the change token the wallet journaled
 *   under `change:<token hash>`, or makes it again; refunds and payouts the same way.
 * The wallet must be opened with `reclaimOnOpen: false` so it does not take back change tokens
 * before this recovery adopts them (with it on, the change is simply made again: no loss).
 */
import { createHash, randomUUID } from 'node:crypto';
import { getTokenMetadata, normalizeMintUrl } from '@cashu/cashu-ts';
import { sat, type Msat, type Sat } from '../money/index.ts';
import { xCashuChange } from '../pricing/index.ts';
import { apiKeyForToken } from '../protocol/index.ts';
import {
  InsufficientFunds,
  UnknownMint,
  UnreadableToken,
  MintRefused,
  ProofsAlreadySpent,
  type EcashWallet,
  type JournalEntry,
} from '../wallet/index.ts';
import { failpoint } from '../wallet/failpoint.ts';
import { bolt11AmountSat } from './bolt11-amount.ts';
import {
  PayeeError,
  insufficientBalanceError,
  invalidRequestError,
  keyNotFoundError,
  minimumBalanceError,
  redemptionError,
  refundRefused,
} from './payee-errors.ts';
import { PayeeStore, type AccountRecord, type XCashuRecord } from './payee-store.ts';

/** A token header read without a mint. */
export interface TokenFacts {
  readonly token: string;
  /** sha256(utf8(token)) hex: the key of its X-Cashu request. */
  readonly hash: string;
  readonly mint: string;
  readonly faceSat: Sat;
  readonly faceMsat: Msat;
}

/** An X-Cashu payment redeemed into the node's wallet, ready to serve. */
export interface XCashuPayment {
  readonly tokenHash: string;
  readonly requestId: string;
  readonly faceSat: Sat;
  /** What the wallet got (face minus mint input fees). */
  readonly creditedSat: Sat;
}

/** The change of an X-Cashu request (token undefined when nothing is owed). */
export interface XCashuChange {
  readonly changeSat: Sat;
  readonly token: string | undefined;
  readonly costMsat: Msat;
}

/** What `refundFor(originalToken)` knows. */
export type RefundLookup =
  | { readonly state: 'unknown' }
  | { readonly state: 'pending' }
  | { readonly state: 'done'; readonly token: string | undefined; readonly changeSat: Sat };

/** A Bearer account as `/v1/balance/info` shows it. */
export interface AccountInfo {
  readonly apiKey: string;
  /** Available msats (balance − reserved). */
  readonly availableMsat: number;
  readonly reservedMsat: number;
  readonly totalRequests: number;
  readonly totalSpentMsat: number;
}

/** A Bearer account refund. */
export interface AccountRefund {
  readonly token: string;
  readonly sat: Sat;
}

/** What the node holds and earned. */
export interface PayeeBalances {
  /** Spendable sats in the wallet. */
  readonly heldSat: number;
  /** Sats locked by wallet operations in flight. */
  readonly pendingSat: number;
  /** Settled charges, msats. */
  readonly revenueMsat: number;
  /** Paid out by admin withdrawals, msats. */
  readonly paidOutMsat: number;
  /** Owed to clients: account balances and undelivered change, msats. */
  readonly liabilitiesMsat: number;
  /** What an admin may withdraw now, sats. */
  readonly withdrawableSat: number;
}

/** An admin payout. */
export interface Payout {
  readonly id: string;
  readonly kind: 'token' | 'invoice';
  readonly amountSat: number;
  readonly feeSat: number;
  readonly token: string | undefined;
}

export interface OpenPayeeOptions {
  /** The node's wallet (open it with `reclaimOnOpen: false`). */
  readonly wallet: EcashWallet;
  /** sqlite file of the payee's books. */
  readonly dbPath: string;
}

const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');
const changeRef = (tokenHash: string): string => `change:${tokenHash}`;
const refundRef = (id: string): string => `refund:${id}`;
const payoutRef = (id: string): string => `payout:${id}`;

/** Maps a wallet receive failure; `definite` = the token is certainly not in our wallet. */
function receiveFailure(error: unknown): { error: PayeeError; definite: boolean } {
  if (error instanceof ProofsAlreadySpent) return { error: redemptionError('cashu_token_already_spent', 'Token already spent', error), definite: true };
  if (error instanceof UnreadableToken) return { error: redemptionError('invalid_cashu_token', `Invalid token: ${error.message}`, error), definite: true };
  if (error instanceof UnknownMint) return { error: redemptionError('cashu_foreign_mint_swap_failed', 'Token from an untrusted mint', error), definite: true };
  if (error instanceof MintRefused && error.mintCode !== undefined) {
    return { error: redemptionError('cashu_token_redemption_failed', `The mint refused the token: ${error.message}`, error), definite: true };
  }
  return { error: redemptionError('cashu_mint_unreachable', 'The mint could not be reached to redeem the token', error), definite: false };
}

/** Payee books over an EcashWallet; see the module doc. Use openPayee(). */
export class Payee {
  readonly wallet: EcashWallet;
  readonly store: PayeeStore;
  private readonly inflight = new Map<string, Promise<unknown>>();

  constructor(wallet: EcashWallet, store: PayeeStore) {
    this.wallet = wallet;
    this.store = store;
  }

  close(): void {
    this.store.close();
  }

  // --- tokens -----------------------------------------------------------------------------------

  /** Reads a token header: malformed → 400 invalid_token, zero value → 400 cashu_token_zero_value, untrusted mint → 422. */
  describeToken(raw: string): TokenFacts {
    const token = raw.trim();
    if (!/^cashu[AB]/.test(token)) throw redemptionError('invalid_cashu_token', 'Invalid token format');
    let meta: ReturnType<typeof getTokenMetadata>;
    try {
      meta = getTokenMetadata(token);
    } catch (error) {
      throw redemptionError('invalid_cashu_token', 'Invalid token format', error);
    }
    let amount: number;
    try {
      amount = Number(meta.amount.toString());
    } catch (error) {
      throw redemptionError('invalid_cashu_token', 'Invalid token amount', error);
    }
    if (!Number.isSafeInteger(amount) || amount < 0) throw redemptionError('invalid_cashu_token', 'Invalid token amount');
    if (amount === 0) throw redemptionError('cashu_token_zero_value', 'Token has zero value');
    // The wallet holds sats only; msat tokens are refused rather than mis-credited.
    if ((meta.unit ?? 'sat') !== 'sat') throw redemptionError('invalid_cashu_token', `Unsupported token unit ${String(meta.unit)}`);
    const mint = normalizeMintUrl(meta.mint);
    if (!this.wallet.mints.includes(mint)) {
      // No cross-mint swap: a token from a mint we do not trust is refused with nothing kept.
      throw redemptionError('cashu_foreign_mint_swap_failed', `Mint ${mint} is not trusted by this node; pay with a token from one of: ${this.wallet.mints.join(', ')}`);
    }
    return { token, hash: sha256(token), mint, faceSat: sat(amount), faceMsat: (amount * 1000) as Msat };
  }

  // --- X-Cashu ----------------------------------------------------------------------------------

  /**
   * Checks the face value against the gate (402 minimum_balance_required before anything is
   * redeemed), records the request as pending under sha256(token), and redeems the token.
   */
  async beginXCashu(raw: string, request: { gateMsat: number; model: string; requestId: string }): Promise<XCashuPayment> {
    const facts = this.describeToken(raw);
    if (facts.faceMsat < request.gateMsat) throw minimumBalanceError(request.gateMsat, request.model);
    const fresh = this.store.tx(() =>
      this.store.insertXCashu({
        tokenHash: facts.hash, token: facts.token, requestId: request.requestId, mint: facts.mint, model: request.model,
        faceSat: facts.faceSat, gateMsat: request.gateMsat,
      }),
    );
    if (!fresh) throw redemptionError('cashu_token_already_spent', 'Token already spent');
    let credited: Sat;
    try {
      credited = await this.wallet.receive(facts.token);
    } catch (error) {
      const failure = receiveFailure(error);
      if (failure.definite) this.store.tx(() => this.store.deleteXCashu(facts.hash));
      throw failure.error;
    }
    failpoint('payee:after-redeem');
    this.store.tx(() => this.store.updateXCashu(facts.hash, { state: 'redeemed', creditedMsat: credited * 1000 }));
    return { tokenHash: facts.hash, requestId: request.requestId, faceSat: facts.faceSat, creditedSat: credited };
  }

  /**
   * Bills `costMsat` (at most the face value) and makes the change `face − ceil(cost/1000)` sats,
   * stored before it is returned. Idempotent: a repeat returns the same change token.
   */
  async finishXCashu(tokenHash: string, costMsat: number): Promise<XCashuChange> {
    return this.once(`x:${tokenHash}`, async () => {
      const rec = this.requireXCashu(tokenHash);
      if (rec.state === 'redeeming') throw new Error('finishXCashu before the token was redeemed');
      if (rec.state === 'redeemed') {
        // The change cannot go below zero: at most the face value is billed (routstr-core).
        const cost = Math.min(Math.max(0, Math.ceil(costMsat)), rec.faceSat * 1000);
        const changeSat = xCashuChange({ amount: rec.faceSat, unit: 'sat' }, cost);
        this.store.tx(() => {
          this.store.updateXCashu(tokenHash, { state: 'charged', costMsat: cost, changeSat });
          this.store.insertCharge(rec.requestId, 'xcashu', (rec.faceSat - changeSat) * 1000);
        });
        failpoint('payee:after-charge');
      }
      return this.deliverChange(this.requireXCashu(tokenHash));
    });
  }

  /** Refunds an X-Cashu request in full (the upstream failed): finishXCashu at cost 0. */
  refundXCashu(tokenHash: string): Promise<XCashuChange> {
    return this.finishXCashu(tokenHash, 0);
  }

  /** The change of an X-Cashu request by its original token: unknown, pending, or done (same token every time). */
  refundFor(originalToken: string): RefundLookup {
    const rec = this.store.xcashu(sha256(originalToken.trim()));
    if (!rec) return { state: 'unknown' };
    if (rec.state !== 'done') return { state: 'pending' };
    return { state: 'done', token: rec.changeToken ?? undefined, changeSat: sat(rec.changeSat ?? 0) };
  }

  /**
   * Retries making the change of a billed request whose change could not be made (the mint was
   * down); true once it is made. A no-op (false) while the request is still being served.
   */
  async retryChange(originalToken: string): Promise<boolean> {
    const hash = sha256(originalToken.trim());
    const rec = this.store.xcashu(hash);
    if (!rec || rec.state !== 'charged' || this.inflight.has(`x:${hash}`)) return false;
    try {
      await this.finishXCashu(hash, rec.costMsat ?? 0);
      return true;
    } catch {
      return false; // the mint is still down: the caller answers "not ready yet"
    }
  }

  private requireXCashu(tokenHash: string): XCashuRecord {
    const rec = this.store.xcashu(tokenHash);
    if (!rec) throw new Error(`unknown x-cashu request ${tokenHash}`);
    return rec;
  }

  private async deliverChange(rec: XCashuRecord): Promise<XCashuChange> {
    const costMsat = (rec.costMsat ?? 0) as Msat;
    if (rec.state === 'done') return { changeSat: sat(rec.changeSat ?? 0), token: rec.changeToken ?? undefined, costMsat };
    const changeSat = rec.changeSat ?? 0;
    if (changeSat === 0) {
      this.store.tx(() => this.store.updateXCashu(rec.tokenHash, { state: 'done' }));
      return { changeSat: sat(0), token: undefined, costMsat };
    }
    const sent = await this.sendOnce(changeRef(rec.tokenHash), changeSat, 'x-cashu change');
    failpoint('payee:after-change');
    this.store.tx(() => this.store.updateXCashu(rec.tokenHash, { state: 'done', changeToken: sent.token }));
    this.wallet.settle(sent.entryId);
    failpoint('payee:after-store');
    return { changeSat: sat(changeSat), token: sent.token, costMsat };
  }

  /** A token journaled under `ref`: the one already made (a crash before it was stored) or a new one. */
  private async sendOnce(ref: string, amountSat: number, purpose: string): Promise<{ token: string; entryId: string }> {
    const made = this.wallet.journal({ requestId: ref }).find(
      (e: JournalEntry) => e.kind === 'token' && e.token !== null && ['outstanding', 'spent', 'settled'].includes(e.status),
    );
    if (made?.token) return { token: made.token, entryId: made.id };
    const sent = await this.wallet.send(sat(amountSat), { purpose, requestId: ref });
    return { token: sent.token, entryId: sent.entry.id };
  }

  // --- Bearer accounts ----------------------------------------------------------------------------

  /**
   * The account behind a bearer: an `sk-` key must exist (401 key_not_found); a Cashu token is
   * redeemed once into the account `sk-`+sha256(token) and reused on repeats.
   */
  async accountFor(bearer: { kind: 'api_key'; apiKey: string } | { kind: 'cashu'; token: string }): Promise<string> {
    if (bearer.kind === 'api_key') {
      if (!this.store.account(bearer.apiKey)) throw keyNotFoundError();
      return bearer.apiKey;
    }
    const apiKey = apiKeyForToken(bearer.token.trim());
    if (this.store.account(apiKey)) return apiKey;
    await this.once(`d:${apiKey}`, () => this.deposit(bearer.token, apiKey, 'create'));
    return apiKey;
  }

  /** Redeems `token` into an existing account; returns the msats credited. */
  async topup(apiKey: string, token: string): Promise<Msat> {
    if (!this.store.account(apiKey)) throw keyNotFoundError();
    return this.deposit(token, apiKey, 'topup');
  }

  private async deposit(raw: string, apiKey: string, kind: 'create' | 'topup'): Promise<Msat> {
    const facts = this.describeToken(raw);
    const fresh = this.store.tx(() => this.store.insertDeposit({ tokenHash: facts.hash, token: facts.token, apiKey, mint: facts.mint, faceSat: facts.faceSat }));
    if (!fresh) {
      const d = this.store.deposit(facts.hash);
      if (kind === 'create' && d?.state === 'done' && d.apiKey === apiKey) return (d.creditedMsat ?? 0) as Msat;
      throw redemptionError('cashu_token_already_spent', 'Token already spent');
    }
    let credited: Sat;
    try {
      credited = await this.wallet.receive(facts.token);
    } catch (error) {
      const failure = receiveFailure(error);
      if (failure.definite) this.store.tx(() => this.store.deleteDeposit(facts.hash));
      throw failure.error;
    }
    failpoint('payee:deposit-after-redeem');
    const msats = credited * 1000;
    this.store.tx(() => {
      this.store.finishDeposit(facts.hash, msats);
      this.store.credit(apiKey, msats);
    });
    return msats as Msat;
  }

  /** `/v1/balance/info` figures; 401 key_not_found for an unknown key. */
  info(apiKey: string): AccountInfo {
    const a = this.store.account(apiKey);
    if (!a) throw keyNotFoundError();
    return { apiKey, availableMsat: a.balanceMsat - a.reservedMsat, reservedMsat: a.reservedMsat, totalRequests: a.totalRequests, totalSpentMsat: a.totalSpentMsat };
  }

  /** Reserves the gate from the account's available balance (402 insufficient_balance); returns the reservation id. */
  reserve(apiKey: string, gateMsat: number): string {
    return this.store.tx(() => {
      const a = this.store.account(apiKey);
      if (!a) throw keyNotFoundError();
      const available = a.balanceMsat - a.reservedMsat;
      if (available < gateMsat) throw insufficientBalanceError(gateMsat, available, a.reservedMsat);
      const id = randomUUID();
      this.store.updateAccount(apiKey, { reservedMsat: a.reservedMsat + gateMsat });
      this.store.insertReservation({ id, apiKey, amountMsat: gateMsat });
      return id;
    });
  }

  /**
   * Settles a reservation at the real cost (at most the balance), charging it as revenue; returns
   * what was charged and what remains available.
   */
  settle(reservationId: string, costMsat: number): { chargedMsat: number; remainingMsat: number } {
    return this.store.tx(() => {
      const r = this.store.reservation(reservationId);
      if (!r) throw new Error(`unknown reservation ${reservationId}`);
      const a = this.store.account(r.apiKey) as AccountRecord;
      if (r.state !== 'held') return { chargedMsat: r.costMsat ?? 0, remainingMsat: a.balanceMsat - a.reservedMsat };
      // As routstr-core: a cost above the reservation is charged as far as the balance goes.
      const charged = Math.min(Math.max(0, Math.ceil(costMsat)), a.balanceMsat);
      const next = {
        reservedMsat: a.reservedMsat - r.amountMsat,
        balanceMsat: a.balanceMsat - charged,
        totalRequests: a.totalRequests + 1,
        totalSpentMsat: a.totalSpentMsat + charged,
      };
      this.store.updateAccount(r.apiKey, next);
      this.store.closeReservation(reservationId, 'settled', charged);
      if (charged > 0) this.store.insertCharge(`res:${reservationId}`, 'bearer', charged);
      return { chargedMsat: charged, remainingMsat: next.balanceMsat - next.reservedMsat };
    });
  }

  /** Releases a reservation without charging (the upstream failed). */
  release(reservationId: string): void {
    this.store.tx(() => {
      const r = this.store.reservation(reservationId);
      if (!r || r.state !== 'held') return;
      const a = this.store.account(r.apiKey) as AccountRecord;
      this.store.updateAccount(r.apiKey, { reservedMsat: Math.max(0, a.reservedMsat - r.amountMsat) });
      this.store.closeReservation(reservationId, 'released', null);
    });
  }

  /**
   * Refunds an account's whole sats as a token (the sub-sat remainder stays, as routstr-core).
   * The debit is durable before the token is made; a repeat returns the same token until new
   * money is deposited.
   */
  async refund(apiKey: string): Promise<AccountRefund> {
    return this.once(`r:${apiKey}`, async () => {
      const pending = this.store.pendingRefunds(apiKey)[0];
      if (pending) return this.deliverRefund(pending.id, apiKey, pending.sat);
      const plan = this.store.tx(() => {
        const a = this.store.account(apiKey);
        if (!a) throw keyNotFoundError();
        const wholeSat = Math.floor((a.balanceMsat - a.reservedMsat) / 1000);
        if (wholeSat <= 0) {
          if (a.refundToken !== null) return { kind: 'cached' as const, refund: { token: a.refundToken, sat: sat(a.refundSat ?? 0) } };
          if (a.reservedMsat > 0) throw refundRefused('Cannot refund key. There are ongoing requests using this key.');
          throw refundRefused(a.balanceMsat > 0 ? 'Balance too small to refund' : 'No balance to refund');
        }
        const id = randomUUID();
        this.store.updateAccount(apiKey, { balanceMsat: a.balanceMsat - wholeSat * 1000 });
        this.store.insertRefund({ id, apiKey, sat: wholeSat });
        return { kind: 'new' as const, id, wholeSat };
      });
      if (plan.kind === 'cached') return plan.refund;
      failpoint('payee:refund-after-debit');
      return this.deliverRefund(plan.id, apiKey, plan.wholeSat);
    });
  }

  private async deliverRefund(id: string, apiKey: string, amountSat: number): Promise<AccountRefund> {
    let sent: { token: string; entryId: string };
    try {
      sent = await this.sendOnce(refundRef(id), amountSat, 'account refund');
    } catch (error) {
      if (error instanceof InsufficientFunds) {
        // Nothing left the wallet: put the money back on the key.
        this.store.tx(() => {
          this.store.credit(apiKey, amountSat * 1000);
          this.store.finishRefund(id, '');
        });
        throw refundRefused('The node cannot make the refund token now; try again later', 503);
      }
      throw error;
    }
    failpoint('payee:refund-after-send');
    this.store.tx(() => {
      this.store.finishRefund(id, sent.token);
      this.store.updateAccount(apiKey, { refundToken: sent.token, refundSat: amountSat });
    });
    this.wallet.settle(sent.entryId);
    return { token: sent.token, sat: sat(amountSat) };
  }

  // --- operator -----------------------------------------------------------------------------------

  /** Held, earned, owed and withdrawable amounts. */
  balances(): PayeeBalances {
    const heldSat = this.wallet.balance();
    const revenueMsat = this.store.revenueMsat();
    const paidOutMsat = this.store.paidOutMsat();
    let owedChange = 0;
    for (const state of ['redeemed', 'charged'] as const) {
      for (const r of this.store.xcashuByState(state)) owedChange += (state === 'redeemed' ? r.faceSat : (r.changeSat ?? 0)) * 1000;
    }
    const liabilitiesMsat = this.store.accountLiabilitiesMsat() + owedChange;
    const withdrawableSat = Math.max(0, Math.min(Math.floor((revenueMsat - paidOutMsat) / 1000), heldSat - Math.ceil(liabilitiesMsat / 1000)));
    return { heldSat, pendingSat: this.wallet.pendingBalance(), revenueMsat, paidOutMsat, liabilitiesMsat, withdrawableSat };
  }

  /** Pays revenue out as a Cashu token (`amountSat`) or to a bolt11 invoice; never more than is withdrawable. */
  async withdraw(request: { amountSat: number } | { invoice: string }): Promise<Payout> {
    return this.once('payout', async () => {
      const { withdrawableSat } = this.balances();
      const id = randomUUID();
      if ('invoice' in request) {
        const amount = bolt11AmountSat(request.invoice);
        if (amount === undefined) throw invalidRequestError('invalid_invoice', 'The invoice has no readable amount');
        if (amount > withdrawableSat) throw invalidRequestError('insufficient_revenue', `Withdrawable: ${withdrawableSat} sat`);
        this.store.tx(() => this.store.insertPayout({ id, kind: 'invoice', amountMsat: amount * 1000 }));
        try {
          const w = await this.wallet.withdraw(request.invoice, { purpose: 'admin withdraw', requestId: payoutRef(id) });
          this.store.tx(() => this.store.updatePayout(id, { state: w.state === 'paid' ? 'done' : 'pending', amountMsat: (w.amount + w.feePaid) * 1000 }));
          return { id, kind: 'invoice', amountSat: w.amount, feeSat: w.feePaid, token: undefined };
        } catch (error) {
          if (this.wallet.journal({ requestId: payoutRef(id) }).every((e) => e.status === 'aborted')) {
            this.store.tx(() => this.store.updatePayout(id, { state: 'failed', amountMsat: 0 }));
          }
          throw error;
        }
      }
      const amount = request.amountSat;
      if (!Number.isSafeInteger(amount) || amount <= 0) throw invalidRequestError('invalid_amount', 'amount_sat must be a positive integer');
      if (amount > withdrawableSat) throw invalidRequestError('insufficient_revenue', `Withdrawable: ${withdrawableSat} sat`);
      this.store.tx(() => this.store.insertPayout({ id, kind: 'token', amountMsat: amount * 1000 }));
      const sent = await this.sendOnce(payoutRef(id), amount, 'admin withdraw');
      this.store.tx(() => this.store.updatePayout(id, { state: 'done', token: sent.token }));
      this.wallet.settle(sent.entryId);
      return { id, kind: 'token', amountSat: amount, feeSat: 0, token: sent.token };
    });
  }

  // --- recovery -----------------------------------------------------------------------------------

  /**
   * Finishes what a crash interrupted (see the module doc); run by openPayee. A step that cannot
   * finish now (the mint is down, the wallet cannot make the change yet) is left for the next
   * start or a refund-route retry and counted in `deferred`: the node still starts.
   */
  async recover(): Promise<{ resolved: number; deferred: number }> {
    let resolved = 0;
    let deferred = 0;
    const step = async (fn: () => Promise<boolean | void> | boolean | void): Promise<void> => {
      try {
        if ((await fn()) === false) deferred++;
        else resolved++;
      } catch {
        deferred++;
      }
    };
    for (const r of this.store.xcashuByState('redeeming')) {
      await step(() => {
        const ours = this.redeemedByUs(r.token);
        if (ours.state === 'pending') return false; // the wallet could not settle its swap yet
        this.store.tx(() => {
          if (ours.state === 'received') this.store.updateXCashu(r.tokenHash, { state: 'redeemed', creditedMsat: ours.creditedSat * 1000 });
          else this.store.deleteXCashu(r.tokenHash);
        });
      });
    }
    // A request cut off before it was billed is refunded in full: the client may not have got its answer.
    for (const r of this.store.xcashuByState('redeemed')) await step(() => this.finishXCashu(r.tokenHash, 0).then(() => undefined));
    for (const r of this.store.xcashuByState('charged')) await step(() => this.finishXCashu(r.tokenHash, r.costMsat ?? 0).then(() => undefined));
    for (const d of this.store.depositsRedeeming()) {
      await step(() => {
        const ours = this.redeemedByUs(d.token);
        if (ours.state === 'pending') return false;
        this.store.tx(() => {
          if (ours.state === 'received') {
            this.store.finishDeposit(d.tokenHash, ours.creditedSat * 1000);
            this.store.credit(d.apiKey, ours.creditedSat * 1000);
          } else this.store.deleteDeposit(d.tokenHash);
        });
      });
    }
    for (const r of this.store.heldReservations()) await step(() => this.release(r.id));
    for (const r of this.store.pendingRefunds()) await step(() => this.deliverRefund(r.id, r.apiKey, r.sat).then(() => undefined));
    for (const p of this.store.pendingPayouts()) {
      if (p.kind !== 'token') continue;
      await step(async () => {
        const sent = await this.sendOnce(payoutRef(p.id), p.amountMsat / 1000, 'admin withdraw');
        this.store.tx(() => this.store.updatePayout(p.id, { state: 'done', token: sent.token }));
        this.wallet.settle(sent.entryId);
      });
    }
    return { resolved, deferred };
  }

  /**
   * Whether a token we started to redeem ended up ours, by our wallet's own swap records (the
   * wallet's recovery on open has finished or rolled back the swap by now). "Spent at the mint" is
   * no proof: the client may have taken its token back after our swap failed.
   */
  private redeemedByUs(token: string): { state: 'received'; creditedSat: number } | { state: 'pending' } | { state: 'none' } {
    try {
      return this.wallet.receivedToken(token);
    } catch (error) {
      // A token our wallet cannot even decode was never swapped by it.
      if (error instanceof UnreadableToken || error instanceof UnknownMint) return { state: 'none' };
      throw error;
    }
  }

  /** One run per key at a time in this process: a repeat waits for the running one. */
  private async once<T>(key: string, fn: () => Promise<T>): Promise<T> {
    for (;;) {
      const running = this.inflight.get(key);
      if (!running) break;
      await running.catch(() => undefined);
    }
    const p = fn();
    this.inflight.set(key, p);
    try {
      return await p;
    } finally {
      if (this.inflight.get(key) === p) this.inflight.delete(key);
    }
  }
}

/** Opens the payee's books over a wallet and finishes whatever a crash interrupted. */
export async function openPayee(options: OpenPayeeOptions): Promise<Payee> {
  const payee = new Payee(options.wallet, new PayeeStore(options.dbPath));
  try {
    await payee.recover();
  } catch (error) {
    payee.close();
    throw error;
  }
  return payee;
}
