/**
 * A Cashu wallet over cashu-ts 4 with a durable node:sqlite store: balances, fund (mint), receive,
 * send, reclaim, withdraw (melt). The flows too long to read inline live beside it — minting
 * (minting.ts), receiving (receive-swap.ts), sending (send-token.ts), withdrawing (withdrawal.ts),
 * reading tokens (token-decoding.ts), recovery (wallet-recovery.ts), opening (open-wallet.ts) — and get what they need as an explicit host.
 */
import {
  CheckStateEnum,
  MintQuoteState,
  type MintQuoteBolt11Response,
  type ProofLike,
} from '@cashu/cashu-ts';
import { InvalidAmount, sat, type Sat } from '../money/index.ts';
import { OwnerRegistry } from '../storage/owner-liveness.ts';
import type { Budgets } from './budget.ts';
import type { CurvePool } from './curve-pool.ts';
import type { DenominationInventory, InventoryStats } from './denomination-inventory.ts';
import { refillOnce } from './inventory-refill.ts';
import { InsufficientFunds, MintRefused, WalletError, ProofsAlreadySpent, UnknownJournalEntry } from './errors.ts';
import { IncomingJournal, type IncomingEntry } from './incoming.ts';
import { IncomingStore, type IncomingRecord, type IncomingStatus } from './incoming-store.ts';
import { contextFor, mapMintError, type MintContext } from './mint-context.ts';
import { mintOnce } from './minting.ts';
import { requireEntry, requireOperation, type OperationHost } from './operation-host.ts';
import { receiveSwap, type ReceiveLink, type ReceivePoints } from './receive-swap.ts';
import { sendOnce } from './send-token.ts';
import type { JournalEntry, WalletStore } from './store.ts';
import { decodeToken, receivedState, type ReceivedState } from './token-decoding.ts';
import { recoverWallet, resolveOperation, restoreFromSeed, type RecoveryHost } from './wallet-recovery.ts';
import type { Funding, RecoveryReport, SendOptions, SentToken, Withdrawal } from './wallet-types.ts';
import { withdrawOnce } from './withdrawal.ts';

/**
 * A Cashu wallet over cashu-ts 4 with a durable node:sqlite store. Write-ahead rule: before any
 * call that can consume proofs (swap, melt, mint), the inputs are marked pending and the operation
 * is journaled with the NUT-13 counter range of its outputs, so recovery can always tell whether
 * the mint acted (NUT-07) and get the outputs back (NUT-09).
 */
export class EcashWallet {
  readonly store: WalletStore;
  /** Live owners of this wallet's file: a Payer over this wallet registers its owner here too. */
  readonly owners: OwnerRegistry;
  /** Tokens handed to this wallet, kept as strings until redeemed (see incoming.ts). */
  private readonly incoming: IncomingJournal;
  private readonly owner: string;
  private readonly contexts: Map<string, MintContext>;
  /** Worker threads for swap curve maths (none when curveWorkers is 0); closed with the wallet. */
  private readonly curvePool: CurvePool | undefined;
  private readonly budgets: Budgets | undefined;
  private readonly mnemonicPhrase: string;
  private readonly pollIntervalMs: number;
  /** What the send, withdraw and recovery flows get of this wallet. */
  private readonly host: OperationHost & RecoveryHost;
  /** What the last recover() did (openWallet runs one). */
  lastRecovery: RecoveryReport | undefined;
  private inflight = 0;
  private waiters: Array<() => void> = [];
  private readonly mintingQuotes = new Map<string, Promise<Sat>>();
  private closed = false;
  private readonly inventory: DenominationInventory | null;
  private readonly stats: InventoryStats = { exactSends: 0, swapSends: 0, refills: 0 };
  /** Background refills running now (see idle()). */
  private readonly refills = new Set<Promise<boolean>>();

  /** Use openWallet(). */
  constructor(args: {
    store: WalletStore; instanceId: string; contexts: Map<string, MintContext>; curvePool?: CurvePool | undefined;
    budgets: Budgets | undefined; mnemonic: string; pollIntervalMs: number; inventory: DenominationInventory | null;
  }) {
    this.store = args.store;
    this.owners = new OwnerRegistry(args.store);
    this.owner = `${process.pid}:${args.instanceId}`;
    this.contexts = args.contexts;
    this.curvePool = args.curvePool;
    this.budgets = args.budgets;
    this.mnemonicPhrase = args.mnemonic;
    this.pollIntervalMs = args.pollIntervalMs;
    this.inventory = args.inventory;
    const incoming = new IncomingStore(args.store);
    this.host = {
      inventory: this.inventory,
      stats: this.stats,
      afterSend: (mint) => this.scheduleRefill(mint),
      store: this.store,
      contexts: this.contexts,
      owner: this.owner,
      budgets: this.budgets,
      tryResolve: (opId) => this.tryResolve(opId),
      orphaned: (owner) => this.owners.gone(owner),
      idleSelf: (owner) => owner === this.owner && this.inflight === 0,
      incoming,
      receiveProofs: (ctx, inputs, reclaimOf) => this.receiveProofs(ctx, inputs, { reclaimOf }, null),
      mintQuote: (ctx, quote, amount) => this.mintQuote(ctx, quote, amount),
      reclaim: (entry) => this.reclaim(entry),
    };
    this.incoming = new IncomingJournal({
      store: this.store,
      incoming,
      contexts: this.contexts,
      owner: this.owner,
      orphaned: (owner) => this.owners.gone(owner),
      redeemSwap: (ctx, inputs, incomingOf) => this.runOperation(() => this.receiveProofs(ctx, inputs, { incomingOf }, 'incoming')),
      tryResolve: (opId) => this.tryResolve(opId),
      isOpen: () => !this.closed,
    });
  }

  /** Configured mint URLs (normalised). */
  get mints(): string[] {
    return [...this.contexts.keys()];
  }

  /** The BIP-39 mnemonic that restores this wallet; show it to the user once, keep it secret. */
  mnemonic(): string {
    return this.mnemonicPhrase;
  }

  /**
   * Sats at one mint, or in total: the unspent proofs, and those a background inventory refill is
   * re-splitting right now (still ours; without them the balance would dip while a refill runs).
   */
  balance(mint?: string): Sat {
    const sums = this.heldSums();
    if (mint !== undefined) return sat(sums.get(this.context(mint).url) ?? 0);
    let total = 0;
    for (const url of this.contexts.keys()) total += sums.get(url) ?? 0;
    return sat(total);
  }

  /** Sats per configured mint (as balance()). */
  balances(): Record<string, Sat> {
    const sums = this.heldSums();
    const out: Record<string, Sat> = {};
    for (const url of this.contexts.keys()) out[url] = sat(sums.get(url) ?? 0);
    return out;
  }

  /** Sats reserved by operations in flight (or awaiting recovery); a refill's proofs count in balance() instead. */
  pendingBalance(): Sat {
    let total = 0;
    for (const v of this.store.sums('pending').values()) total += v;
    for (const v of this.store.refillingSums().values()) total -= v;
    return sat(total);
  }

  private heldSums(): Map<string, number> {
    const sums = this.store.sums('unspent');
    for (const [url, v] of this.store.refillingSums()) sums.set(url, (sums.get(url) ?? 0) + v);
    return sums;
  }

  /** Fees paid to mints (swap input fees, Lightning fees of withdrawals). */
  feesPaid(mint?: string): Sat {
    return sat(this.store.feesPaid(mint === undefined ? undefined : this.context(mint).url));
  }

  /** Journal of value that left, oldest first. */
  journal(filter: { status?: JournalEntry['status']; requestId?: string } = {}): JournalEntry[] {
    return this.store.journal(filter);
  }

  /** Tokens the recipient redeemed whose request the payments layer has not settled (change may be owed). */
  unsettled(): JournalEntry[] {
    return this.store.journal({ status: 'spent' });
  }

  /** Marks a journal entry settled: paid for and done, or handed over for good (never reclaimed on open). */
  settle(entryId: string): void {
    this.store.tx(() => {
      const e = this.store.journalEntry(entryId);
      if (!e) throw new UnknownJournalEntry(entryId);
      if (e.status === 'outstanding' || e.status === 'spent') this.store.updateJournal(entryId, { status: 'settled' });
    });
  }

  /** Closes the store; in-flight operations of this instance become recoverable by the next open. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.owners.releaseAll();
    this.curvePool?.close();
    this.store.close();
  }

  // --- fund -----------------------------------------------------------------------------------

  /** Asks the mint for a bolt11 invoice of `amount`; `complete()` waits for payment and mints. */
  async fund(amount: Sat, options: { mint?: string } = {}): Promise<Funding> {
    const ctx = this.context(options.mint ?? this.mints[0] ?? '');
    const value = sat(amount);
    if (value <= 0) throw new InvalidAmount('fund amount must be at least 1 sat');
    const quote = await ctx.cashu.createMintQuoteBolt11(value).catch((e: unknown) => {
      throw mapMintError(e, 'mint quote');
    });
    this.store.upsertMintQuote({ id: quote.quote, mint: ctx.url, amount: value, request: quote.request, state: 'unpaid' });
    return {
      quoteId: quote.quote,
      mint: ctx.url,
      amount: value,
      invoice: quote.request,
      complete: (opts) => this.completeFunding(ctx.url, quote.quote, value, opts?.signal),
    };
  }

  /** Waits for a mint quote to be paid, then mints its proofs (also resumes a funding after a restart). */
  async completeFunding(mint: string, quoteId: string, amount: Sat, signal?: AbortSignal): Promise<Sat> {
    const ctx = this.context(mint);
    for (;;) {
      signal?.throwIfAborted();
      const quote = await ctx.cashu.checkMintQuoteBolt11(quoteId).catch((e: unknown) => {
        throw mapMintError(e, 'check mint quote');
      });
      if (quote.state === MintQuoteState.PAID) return this.mintQuote(ctx, quote, amount);
      if (quote.state === MintQuoteState.ISSUED) {
        const known = this.store.mintQuotes('issued').some((q) => q.id === quoteId && q.mint === ctx.url);
        if (known) return amount;
        throw new MintRefused(`mint quote ${quoteId} was issued, but not to this wallet`);
      }
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(resolve, this.pollIntervalMs);
        signal?.addEventListener('abort', () => {
          clearTimeout(timer);
          reject(signal.reason);
        }, { once: true });
      });
    }
  }

  private mintQuote(ctx: MintContext, quote: MintQuoteBolt11Response, amount: Sat): Promise<Sat> {
    // One minting per quote in this process; another process loses the race at the mint and recovers.
    const key = `${ctx.url} ${quote.quote}`;
    const running = this.mintingQuotes.get(key);
    if (running) return running;
    const p = this.runOperation(() => mintOnce(this.host, ctx, quote, amount)).finally(() => this.mintingQuotes.delete(key));
    this.mintingQuotes.set(key, p);
    return p;
  }

  // --- receive --------------------------------------------------------------------------------

  /** Redeems a token from a configured mint into fresh proofs; returns the sats credited (net of mint fees). */
  async receive(token: string): Promise<Sat> {
    const { ctx, proofs } = decodeToken(this.contexts, token);
    return this.runOperation(() => this.receiveProofs(ctx, proofs, {}, 'receive'));
  }

  /** Keeps a handed-over token durably (sync, one transaction), redeemed in the background and on open; see incoming.ts. */
  keepIncoming(token: string, meta: { purpose: string; requestId?: string }): IncomingEntry {
    if (this.closed) throw new WalletError('wallet_closed', 'the wallet is closed');
    return this.incoming.keep(token, meta);
  }

  /** Sats kept as incoming tokens and not yet redeemed (face value; the redeem swap pays the mint's input fee). */
  incomingBalance(mint?: string): Sat {
    return this.incoming.balance(mint === undefined ? undefined : this.context(mint).url);
  }

  /** The incoming-token journal, oldest first. */
  incomingEntries(status?: IncomingStatus): IncomingRecord[] {
    return this.incoming.store.list(status);
  }

  /** Redeems every kept incoming token now (waits for redeems already running). */
  async redeemIncoming(): Promise<void> {
    await this.incoming.redeemAll();
  }

  /**
   * Whether this wallet redeemed `token` (proof for the payments layer, which must never take
   * "spent at the mint" for "ours"): 'received' when one of our receive swaps of all its proofs
   * finished (with the sats it credited), 'pending' while such a swap's outcome is still unknown
   * (recover() settles it), 'none' when no swap of ours took it (it was never sent, or was refused).
   */
  receivedToken(token: string): ReceivedState {
    return receivedState(this.store, decodeToken(this.contexts, token).proofs);
  }

  /** Swaps foreign (or reclaimed) proofs into our own (receive-swap.ts). */
  private receiveProofs(ctx: MintContext, inputs: ProofLike[], link: ReceiveLink, points: ReceivePoints): Promise<Sat> {
    return receiveSwap(this.host, this.incoming.store, ctx, inputs, link, points);
  }

  // --- send -----------------------------------------------------------------------------------

  /** Makes a token of `amount` sats; it is journaled (purpose, request id) before it is returned. */
  async send(amount: Sat, options: SendOptions): Promise<SentToken> {
    const value = sat(amount);
    if (value <= 0) throw new InvalidAmount('send amount must be at least 1 sat');
    return this.runOperation(async () => {
      for (;;) {
        try {
          return await sendOnce(this.host, value, options);
        } catch (error) {
          // Proofs held by our own operations in flight (sends' change, a refill's re-split, a kept token's
          // redeem) come back spendable: wait for them, then retry.
          if (error instanceof InsufficientFunds && this.inflight > 1 && (this.pendingBalance() > 0 || this.refills.size > 0 || this.incoming.running > 0)) {
            await this.nextSettlement();
            continue;
          }
          throw error;
        }
      }
    });
  }

  // --- reclaim --------------------------------------------------------------------------------

  /** Takes back whatever of a sent token the recipient has not redeemed; returns the sats recovered. */
  async reclaim(entry: JournalEntry | string): Promise<Sat> {
    const id = typeof entry === 'string' ? entry : entry.id;
    const e = requireEntry(this.store, id);
    if (e.kind !== 'token' || e.token === null || !['outstanding', 'spent'].includes(e.status)) return sat(0);
    const ctx = this.context(e.mint);
    const proofs = ctx.cashu.decodeToken(e.token).proofs;
    const states = await ctx.cashu.checkProofsStates(proofs).catch((err: unknown) => {
      throw mapMintError(err, 'check proof states');
    });
    const unspent = proofs.filter((_, i) => states[i]?.state === CheckStateEnum.UNSPENT);
    if (unspent.length === 0) {
      if (e.status === 'outstanding') this.store.tx(() => this.store.updateJournal(id, { status: 'spent' }));
      return sat(0);
    }
    if (unspent.length < proofs.length) this.store.tx(() => this.store.updateJournal(id, { status: 'spent' }));
    try {
      return await this.runOperation(() => this.receiveProofs(ctx, unspent, { reclaimOf: unspent.length === proofs.length ? id : null }, null));
    } catch (error) {
      // The recipient redeemed it between the state check and our swap: it is spent, not ours to take back.
      if (!(error instanceof ProofsAlreadySpent)) throw error;
      this.store.tx(() => {
        const now = this.store.journalEntry(id);
        if (now?.status === 'outstanding') this.store.updateJournal(id, { status: 'spent' });
      });
      return sat(0);
    }
  }

  // --- withdraw -------------------------------------------------------------------------------

  /** Pays a bolt11 invoice from the wallet (melt); change from the fee reserve comes back. */
  async withdraw(invoice: string, options: { mint?: string; purpose?: string; requestId?: string } = {}): Promise<Withdrawal> {
    return this.runOperation(() => withdrawOnce(this.host, invoice, options));
  }

  // --- inventory ------------------------------------------------------------------------------

  /** Exact sends, swap sends and refill swaps since this wallet was opened. */
  inventoryStats(): InventoryStats {
    return { ...this.stats };
  }

  /** Refills the exact-change inventory of every mint now (what the background does after sends); returns the swaps made. */
  async refillInventory(): Promise<number> {
    let swaps = 0; // each swap fills what its inputs allow; a few rounds reach the policy from any surplus
    for (const ctx of this.contexts.values()) for (let round = 0; round < 4 && (await this.refillAt(ctx)); round++) swaps++;
    return swaps;
  }

  private async refillAt(ctx: MintContext): Promise<boolean> {
    const inv = this.inventory;
    if (!inv || this.closed) return false;
    const done = await this.runOperation(() => refillOnce(this.host, inv, ctx, () => this.closed));
    if (done) this.stats.refills++;
    return done;
  }

  /** Starts one background refill at `mint` when its inventory is short and surplus exists (never on the caller's path). */
  private scheduleRefill(mint: string): void {
    const inv = this.inventory;
    if (!inv || this.closed || inv.refilling.has(mint)) return;
    inv.refilling.add(mint); // a failed refill leaves its operation to tryResolve/recover(); the next send tries again
    // Even the check (a grouped count) waits for the sender's turn to end: nothing of it sits on a send's path.
    const refill = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => inv.refillPlan(mint) !== null && this.refillAt(this.context(mint)))
      .catch(() => false)
      .finally(() => {
        inv.refilling.delete(mint);
        this.refills.delete(refill);
      });
    this.refills.add(refill);
  }

  /**
   * Resolves once the background work running now has ended: inventory refills and redeems of kept
   * tokens (and whatever they started). For tests, benchmarks and orderly shutdowns; never needed for safety.
   */
  async idle(): Promise<void> {
    for (;;) {
      const running = [...this.refills, ...this.incoming.background()];
      if (running.length === 0) return;
      await Promise.allSettled(running);
    }
  }

  // --- recovery -------------------------------------------------------------------------------

  /**
   * Reconciles the store with the mints (see wallet-recovery.ts): finishes or rolls back operations
   * whose owner is gone, frees orphaned pending proofs, mints paid quotes, and (if asked) takes
   * back outstanding tokens nobody redeemed.
   */
  async recover(options: { reclaimOutstanding?: boolean } = {}): Promise<RecoveryReport> {
    const report = await recoverWallet(this.host, options);
    // tokens kept but not redeemed (a crash, an outage): redeemed now that open swaps are settled
    await this.incoming.redeemAll();
    this.lastRecovery = report;
    return report;
  }

  /** After a failed call: settle the operation now if the mint answers, else leave it for recover(). */
  private async tryResolve(opId: string): Promise<void> {
    try {
      await resolveOperation(this.host, requireOperation(this.store, opId), { retry: false });
    } catch {
      // The operation stays 'prepared' with its inputs pending; the next recover() settles it.
    }
  }

  /** NUT-09: rebuilds the proofs of a seed from each keyset of each mint (empty store + known mnemonic). */
  async restoreFromSeed(gapLimit: number): Promise<Sat> {
    return restoreFromSeed(this.store, this.contexts, gapLimit);
  }

  // --- plumbing -------------------------------------------------------------------------------

  private context(mint: string): MintContext {
    return contextFor(this.contexts, mint);
  }

  /** Counts operations in flight so concurrent sends can wait for change instead of failing. */
  private async runOperation<T>(fn: () => Promise<T>): Promise<T> {
    this.inflight++;
    try {
      return await fn();
    } finally {
      this.inflight--;
      const waiters = this.waiters;
      this.waiters = [];
      for (const w of waiters) w();
    }
  }

  private nextSettlement(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Registers this instance as live (its operations are not orphans) — called by openWallet. */
  markLive(): void {
    this.owners.register(this.owner);
  }
}
