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
 *
 * Single process (default): Bearer requests run in memory (session-ledger.ts): reservations are
 * never written, settlements are committed in groups (settlement-group.ts, where the argument that
 * a crash there only ever favours the buyer is written); one Payee per payee file. Shared books
 * (`shared`, always on PostgreSQL): several processes on one database; each reserve and settle is
 * one transaction on the account row (shared-ledger.ts), in-flight records carry their owner, a
 * record is taken over only from a gone owner (claims), and the row, not this process's memory,
 * makes finish and refund calls idempotent. Deposits, top-ups, refunds and payouts commit before
 * they answer; refunds and payouts commit the pending settlements first.
 */
import { randomUUID } from 'node:crypto';
import { sat, type Msat, type Sat } from '../../money/index.ts';
import { xCashuChange } from '../../pricing/index.ts';
import { apiKeyForToken } from '../../protocol/index.ts';
import type { EcashWallet } from '../../wallet/index.ts';
import { failpoint } from '../../wallet/failpoint.ts';
import { deliverRefund, planRefund, refundShared } from './account-book.ts';
import { changeRef, nothingInFlight, sendOnce } from './outgoing-tokens.ts';
import { payOut, payeeBalances } from './payouts.ts';
import { invalidRequestError, keyNotFoundError, minimumBalanceError, redemptionError, refundRefused } from './payee-errors.ts';
import { RecoveryRunner } from './payee-recovery.ts';
import { PayeeStore, type XCashuRecord } from './payee-store.ts';
import { SessionLedger } from './session-ledger.ts';
import { SharedLedger, registerOnBooks, type BearerLedger } from './shared-ledger.ts';
import { isPostgresUrl, type OwnerRegistry } from '../../storage/index.ts';
import type { SettlementGroupOptions } from './settlement-group.ts';
import type {
  AccountInfo,
  AccountRefund,
  OpenPayeeOptions,
  PayeeBalances,
  Payout,
  RefundLookup,
  TokenFacts,
  XCashuChange,
  XCashuPayment,
} from './payee-types.ts';
import { describeToken, receiveFailure, sha256 } from './token-facts.ts';

/** Payee books over an EcashWallet; see the module doc. Use openPayee(). */
export class Payee {
  readonly wallet: EcashWallet;
  readonly store: PayeeStore;
  /** Shared books: several processes (or Payees) on this database; see SharedBooks in the module doc. */
  readonly shared: boolean;
  /** This Payee's owner id on its in-flight records (shared books), or null (single process: no owners). */
  readonly owner: string | null;
  private readonly registry: OwnerRegistry;
  private readonly inflight = new Map<string, Promise<unknown>>();
  private readonly recovery = new RecoveryRunner(this);
  private readonly ledger: BearerLedger;
  /**
   * X-Cashu requests of this process redeemed and not yet billed (their record still says
   * 'redeeming'; see beginXCashu). One entry per request being served: removed when it is billed.
   */
  private readonly redeemed = new Map<string, { creditedSat: number; faceSat: number }>();

  constructor(wallet: EcashWallet, store: PayeeStore, groupCommit: SettlementGroupOptions = {}, shared = false) {
    this.wallet = wallet;
    this.store = store;
    this.shared = shared;
    const { registry, id } = registerOnBooks(store, shared);
    this.registry = registry;
    if (!shared) {
      this.owner = null;
      this.ledger = new SessionLedger(store, groupCommit);
      return;
    }
    this.owner = id;
    this.ledger = new SharedLedger(store, { owner: this.owner, mayTake: (o) => this.mayTake(o) });
  }

  /**
   * Whether this Payee may finish a record written by `owner`: single process, always (it is the
   * only writer); shared books, when nobody works on it or its owner is gone — never another live
   * process's, nor its own (those are running in this process now).
   */
  mayTake(owner: string | null): boolean {
    if (!this.shared) return true;
    return owner === null || (owner !== this.owner && this.registry.gone(owner));
  }

  /** Commits the settlements charged in memory (one transaction); close() does it too. */
  flush(): void {
    this.ledger.flush();
  }

  /** Commits what is pending and closes the books. */
  close(): void {
    if (!this.store.isOpen) return;
    this.recovery.stop();
    try {
      this.ledger.close();
    } finally {
      // what this process left in flight becomes recoverable by the others
      this.registry.releaseAll();
      this.store.close();
    }
  }

  // --- tokens -----------------------------------------------------------------------------------

  /** Reads a token header: malformed → 400 invalid_token, zero value → 400 cashu_token_zero_value, untrusted mint → 422. */
  describeToken(raw: string): TokenFacts {
    return describeToken(raw, this.wallet.mints);
  }

  // --- X-Cashu ----------------------------------------------------------------------------------

  /**
   * Checks the face value against the gate (402 minimum_balance_required before anything is
   * redeemed), records the request as pending under sha256(token), and redeems the token: the one
   * mint call on the request's path (change comes from the wallet's exact-change inventory).
   * `facts`: this token's describeToken(), when the caller already read it (saves a second decode).
   */
  async beginXCashu(raw: string, request: { gateMsat: number; model: string; requestId: string }, facts: TokenFacts = this.describeToken(raw)): Promise<XCashuPayment> {
    if (facts.faceMsat < request.gateMsat) throw minimumBalanceError(request.gateMsat, request.model);
    const fresh = this.store.tx(() =>
      this.store.insertXCashu({
        tokenHash: facts.hash, token: facts.token, requestId: request.requestId, mint: facts.mint, model: request.model,
        faceSat: facts.faceSat, gateMsat: request.gateMsat,
      }, this.owner),
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
    // No commit of 'redeemed' here: the record stays 'redeeming' until it is billed. After a crash,
    // recovery finds the wallet's own finished swap and refunds the request in full — exactly what a
    // durable 'redeemed' would lead to — so that fsync bought nothing on the request's path.
    this.redeemed.set(facts.hash, { creditedSat: credited, faceSat: facts.faceSat });
    return { tokenHash: facts.hash, requestId: request.requestId, faceSat: facts.faceSat, creditedSat: credited };
  }

  /**
   * Bills `costMsat` (at most the face value) and makes the change `face − ceil(cost/1000)` sats,
   * stored before it is returned. Idempotent: a repeat returns the same change token.
   *
   * Commits on the path (why each): the change token is journaled by the wallet, 'settled', in the
   * commit that takes its exact proofs (stored before it leaves; recovery adopts it under
   * `change:<token hash>` and reads the bill from it: face − change); then one payee commit records
   * the charge and the change together. The bill is made durable on its own only when the change
   * cannot be made now (the mint is down and the inventory short), so the refund route can retry it.
   * Why the payee's books stay in their own file rather than in the wallet's (AttachedTables, one
   * commit for both): it would save one fsync of the six on this path (payee 'redeeming', the
   * wallet's counters and swap journal, its received proofs, the change, the bill), at the price of
   * moving every running node's payee.db (Bearer accounts included) into its wallet file; the order
   * above already makes each crash point safe across the two files.
   */
  async finishXCashu(tokenHash: string, costMsat: number): Promise<XCashuChange> {
    return this.once(`x:${tokenHash}`, async () => {
      const rec = this.shared ? this.claimXCashu(tokenHash) : this.requireXCashu(tokenHash);
      const live = this.redeemed.get(tokenHash);
      if (rec.state === 'redeeming' && !live) throw new Error('finishXCashu before the token was redeemed');
      if (rec.state === 'redeeming' || rec.state === 'redeemed') {
        // The change cannot go below zero: at most the face value is billed (routstr-core).
        const cost = Math.min(Math.max(0, Math.ceil(costMsat)), rec.faceSat * 1000);
        const changeSat = xCashuChange({ amount: rec.faceSat, unit: 'sat' }, cost);
        const creditedMsat = live ? live.creditedSat * 1000 : rec.creditedMsat;
        failpoint('payee:after-charge'); // billed in memory only: a crash here refunds in full
        return this.deliverChange({ ...rec, state: 'charged', creditedMsat, costMsat: cost, changeSat }, true);
      }
      return this.deliverChange(rec, false);
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

  // Shared books: the request is this process's (it serves it), or is taken over in one transaction
  // from a gone process (recovery) or from nobody (a change that failed before): one process at a time.
  private claimXCashu(tokenHash: string): XCashuRecord {
    const rec = this.requireXCashu(tokenHash);
    if (rec.owner === this.owner || rec.state === 'done') return rec;
    return this.store.tx(() => {
      const now = this.requireXCashu(tokenHash);
      if (now.state === 'done' || now.owner === this.owner) return now;
      if (!this.mayTake(now.owner)) throw new Error(`x-cashu request ${tokenHash} is being finished by another process`);
      this.store.setOwner('xcashu', tokenHash, this.owner);
      return { ...now, owner: this.owner };
    });
  }

  /** Makes and stores the change of a billed request; `billNow`: the bill is not durable yet and is recorded in the same commit. */
  private async deliverChange(rec: XCashuRecord, billNow: boolean): Promise<XCashuChange> {
    const costMsat = (rec.costMsat ?? 0) as Msat;
    if (rec.state === 'done') return { changeSat: sat(rec.changeSat ?? 0), token: rec.changeToken ?? undefined, costMsat };
    const changeSat = rec.changeSat ?? 0;
    const bill = (): void => {
      this.store.updateXCashu(rec.tokenHash, { state: 'charged', creditedMsat: rec.creditedMsat, costMsat, changeSat });
      this.store.insertCharge(rec.requestId, 'xcashu', (rec.faceSat - changeSat) * 1000);
    };
    let token: string | undefined;
    if (changeSat > 0) {
      try {
        token = (await sendOnce(this.wallet, changeRef(rec.tokenHash), changeSat, 'x-cashu change', true)).token;
      } catch (error) {
        // The change cannot be made now: the bill becomes durable so the refund route can retry the change
        // (shared books: in any process, so the request is let go).
        this.store.tx(() => {
          if (billNow) bill();
          if (this.shared && nothingInFlight(this.wallet, changeRef(rec.tokenHash))) this.store.setOwner('xcashu', rec.tokenHash, null);
        });
        this.redeemed.delete(rec.tokenHash);
        throw error;
      }
      failpoint('payee:after-change');
    }
    this.store.tx(() => {
      if (billNow) bill();
      this.store.updateXCashu(rec.tokenHash, { state: 'done', ...(token ? { changeToken: token } : {}) });
    });
    this.redeemed.delete(rec.tokenHash);
    failpoint('payee:after-store');
    return { changeSat: sat(changeSat), token, costMsat };
  }

  // --- Bearer accounts ----------------------------------------------------------------------------

  /**
   * The account behind a bearer: an `sk-` key must exist (401 key_not_found); a Cashu token is
   * redeemed once into the account `sk-`+sha256(token) and reused on repeats.
   */
  async accountFor(bearer: { kind: 'api_key'; apiKey: string } | { kind: 'cashu'; token: string }): Promise<string> {
    if (bearer.kind === 'api_key') {
      if (!this.ledger.account(bearer.apiKey)) throw keyNotFoundError();
      return bearer.apiKey;
    }
    const apiKey = apiKeyForToken(bearer.token.trim());
    if (this.ledger.account(apiKey)) return apiKey;
    await this.once(`d:${apiKey}`, () => this.deposit(bearer.token, apiKey, 'create'));
    return apiKey;
  }

  /** Redeems `token` into an existing account; returns the msats credited. */
  async topup(apiKey: string, token: string): Promise<Msat> {
    if (!this.ledger.account(apiKey)) throw keyNotFoundError();
    return this.deposit(token, apiKey, 'topup');
  }

  private async deposit(raw: string, apiKey: string, kind: 'create' | 'topup'): Promise<Msat> {
    const facts = this.describeToken(raw);
    const fresh = this.store.tx(() => this.store.insertDeposit({ tokenHash: facts.hash, token: facts.token, apiKey, mint: facts.mint, faceSat: facts.faceSat }, this.owner));
    if (!fresh) {
      const d = this.store.deposit(facts.hash);
      if (kind === 'create' && d?.state === 'done' && d.apiKey === apiKey) return (d.creditedMsat ?? 0) as Msat;
      // Shared books: the same token is being deposited by another process right now (its own request).
      if (this.shared && kind === 'create' && d?.state === 'redeeming' && d.apiKey === apiKey && !this.mayTake(d.owner)) {
        throw invalidRequestError('deposit_in_progress', 'This token is being deposited by another request; try again', 409);
      }
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
    this.ledger.adjust(apiKey, msats);
    return msats as Msat;
  }

  /** `/v1/balance/info` figures; 401 key_not_found for an unknown key. */
  info(apiKey: string): AccountInfo {
    const a = this.ledger.account(apiKey);
    if (!a) throw keyNotFoundError();
    return { apiKey, availableMsat: a.balanceMsat - a.reservedMsat, reservedMsat: a.reservedMsat, totalRequests: a.totalRequests, totalSpentMsat: a.totalSpentMsat };
  }

  /** Reserves the gate from the account's available balance (402 insufficient_balance); returns the reservation id. */
  reserve(apiKey: string, gateMsat: number): string {
    return this.ledger.reserve(apiKey, gateMsat);
  }

  /**
   * Settles a reservation at the real cost (at most the balance), charging it as revenue; returns
   * what was charged and what remains available. The charge is committed with its group, possibly
   * after this returns (a crash before that favours the buyer: settlement-group.ts); flush() commits now.
   */
  settle(reservationId: string, costMsat: number): { chargedMsat: number; remainingMsat: number } {
    return this.ledger.settle(reservationId, costMsat);
  }

  /** Releases a reservation without charging (the upstream failed). */
  release(reservationId: string): void {
    this.ledger.release(reservationId);
  }

  /**
   * Refunds an account's whole sats as a token (the sub-sat remainder stays, as routstr-core).
   * The debit is durable before the token is made; a repeat returns the same token until new
   * money is deposited.
   */
  async refund(apiKey: string): Promise<AccountRefund> {
    return this.once(`r:${apiKey}`, async () => {
      const putBack = (deltaMsat: number): void => this.ledger.adjust(apiKey, deltaMsat);
      if (this.shared) return refundShared(this, apiKey);
      const pending = this.store.pendingRefunds(apiKey)[0];
      if (pending) return deliverRefund(this.store, this.wallet, pending.id, apiKey, pending.sat, putBack);
      // Charges made in memory are committed first: the books then hold the live balance, and
      // money already charged is never refunded.
      this.ledger.flush();
      const plan = this.store.tx(() => planRefund(this.store, apiKey, this.ledger.account(apiKey), this.owner));
      if (plan.kind === 'cached') return plan.refund;
      this.ledger.adjust(apiKey, -plan.wholeSat * 1000);
      failpoint('payee:refund-after-debit');
      return deliverRefund(this.store, this.wallet, plan.id, apiKey, plan.wholeSat, putBack);
    });
  }

  // --- operator -----------------------------------------------------------------------------------

  /** Held, earned, owed and withdrawable amounts. */
  balances(): PayeeBalances {
    // Single process: requests being served are in memory (not yet billed: their face is owed).
    const servingFaceMsat = this.shared ? 0 : [...this.redeemed.values()].reduce((sum, r) => sum + r.faceSat * 1000, 0);
    return payeeBalances(this.store, this.wallet, { shared: this.shared, pendingChargedMsat: this.ledger.pendingChargedMsat, servingFaceMsat });
  }

  /** Pays revenue out as a Cashu token (`amountSat`) or to a bolt11 invoice; never more than is withdrawable. */
  async withdraw(request: { amountSat: number } | { invoice: string }): Promise<Payout> {
    return this.once('payout', async () => {
      // Only committed revenue is paid out: a charge a crash could still lose never leaves as a payout.
      this.ledger.flush();
      return payOut(this, request);
    });
  }

  // --- recovery -----------------------------------------------------------------------------------

  /**
   * Finishes what a crash interrupted (see the module doc and payee-recovery.ts); run by openPayee.
   * A step that cannot finish now (the mint is down, the wallet cannot make the change yet) is left
   * for the next start or a refund-route retry and counted in `deferred`: the node still starts.
   */
  recover(): Promise<{ resolved: number; deferred: number }> {
    return this.recovery.run();
  }

  /** Shared books: runs recover() every `everyMs` (0: never) until close, finishing what processes that died left. */
  recoverEvery(everyMs: number): void {
    this.recovery.every(everyMs);
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
  const shared = options.shared === true || isPostgresUrl(options.dbPath);
  const store = new PayeeStore(options.dbPath);
  let payee: Payee;
  try {
    payee = new Payee(options.wallet, store, options.groupCommit, shared);
  } catch (error) {
    store.close();
    throw error;
  }
  try {
    await payee.recover();
  } catch (error) {
    payee.close();
    throw error;
  }
  if (shared) payee.recoverEvery(options.recoverEveryMs ?? 10_000);
  return payee;
}
