import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import {
  CheckStateEnum,
  MeltQuoteState,
  MintQuoteState,
  Wallet as CashuWallet,
  getEncodedToken,
  getTokenMetadata,
  isMintOperationError,
  normalizeMintUrl,
  type MeltQuoteBolt11Response,
  type MintQuoteBolt11Response,
  type OperationCounters,
  type Proof,
  type ProofLike,
} from '@cashu/cashu-ts';
import { generateMnemonic, mnemonicToSeedSync, validateMnemonic } from '@scure/bip39';
import { wordlist } from '@scure/bip39/wordlists/english.js';
import { InvalidAmount, sat, type Sat } from '../money/index.ts';
import { OwnerRegistry } from '../storage/owner-liveness.ts';
import { checkBudget, type Budgets } from './budget.ts';
import { StoreCounterSource } from './counter-source.ts';
import {
  InsufficientFunds,
  UnreadableToken,
  MintRefused,
  MnemonicMismatch,
  PaymentFailed,
  ProofsAlreadySpent,
  UnknownJournalEntry,
  UnknownMint,
  WalletError,
} from './errors.ts';
import { failpoint } from './failpoint.ts';
import {
  WalletStore,
  type CounterRangeRecord,
  type JournalEntry,
  type OperationRecord,
  type StoredProof,
} from './store.ts';

/** NUT error code for "proofs already spent". */
const MINT_CODE_ALREADY_SPENT = 11001;

/** An invoice unpaid for this long is no longer checked on open. */
const STALE_QUOTE_MS = 24 * 3600_000;

export interface OpenWalletOptions {
  /** sqlite file of the store (shared safely by several processes). */
  path: string;
  /** Mint URLs this wallet uses; tokens from other mints are refused with UnknownMint. */
  mints: readonly string[];
  /** BIP-39 mnemonic; generated and stored when absent. An empty store with a mnemonic is restored (NUT-09). */
  mnemonic?: string;
  budgets?: Budgets;
  /** On open, take back outstanding tokens nobody redeemed (default true). */
  reclaimOnOpen?: boolean;
  /** NUT-09 restore: stop after this many unsigned counters in a row (default 100). */
  restoreGapLimit?: number;
  /** How often `Funding.complete` polls the mint quote (default 250 ms). */
  pollIntervalMs?: number;
}

export interface SendOptions {
  /** Pay from this mint; default: the first configured mint that can cover the amount. */
  mint?: string;
  /** Why the token leaves (kept in the journal). */
  purpose: string;
  requestId?: string;
  /** Add the recipient's input fee for redeeming the token on top of `amount`. */
  includeFees?: boolean;
}

/** A token that has left the wallet, with the journal entry written before it was returned. */
export interface SentToken {
  token: string;
  /** Face value of the token. */
  amount: Sat;
  entry: JournalEntry;
}

/** A pending top-up: pay `invoice`, then `complete()` mints the proofs. */
export interface Funding {
  quoteId: string;
  mint: string;
  amount: Sat;
  invoice: string;
  /** Waits until the invoice is paid, mints, and returns the sats added. */
  complete(options?: { signal?: AbortSignal }): Promise<Sat>;
}

export interface Withdrawal {
  state: 'paid' | 'pending';
  amount: Sat;
  /** Lightning fee plus mint input fees actually paid (0 while pending). */
  feePaid: Sat;
  preimage: string | null;
  entry: JournalEntry;
}

/** What the last recovery pass did. */
export interface RecoveryReport {
  operationsResolved: number;
  proofsReturned: number;
  proofsRestored: number;
  tokensReclaimed: number;
  restoredFromSeed: Sat;
}

interface MintContext {
  url: string;
  cashu: CashuWallet;
}

/** Read a sats integer from a cashu-ts Amount or anything number-like. */
function toSats(value: { toString(): string } | number): number {
  return Number(value.toString());
}

function sumOf(proofs: ReadonlyArray<{ amount: { toString(): string } | number }>): number {
  return proofs.reduce((s, p) => s + toSats(p.amount), 0);
}

function asProofLike(p: StoredProof): ProofLike {
  return { id: p.id, amount: p.amount, secret: p.secret, C: p.C, ...(p.dleq ? { dleq: p.dleq } : {}) };
}

function mapMintError(error: unknown, context: string): Error {
  if (error instanceof WalletError) return error;
  if (isMintOperationError(error)) {
    if (error.code === MINT_CODE_ALREADY_SPENT) return new ProofsAlreadySpent(`${context}: ${error.message}`, { cause: error });
    return new MintRefused(`${context}: ${error.message}`, error.code, { cause: error });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new MintRefused(`${context}: ${message}`, undefined, { cause: error });
}

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
  private readonly owner: string;
  private readonly contexts: Map<string, MintContext>;
  private readonly budgets: Budgets | undefined;
  private readonly mnemonicPhrase: string;
  private readonly pollIntervalMs: number;
  /** What the last recover() did (openWallet runs one). */
  lastRecovery: RecoveryReport | undefined;
  private inflight = 0;
  private waiters: Array<() => void> = [];
  private readonly mintingQuotes = new Map<string, Promise<Sat>>();
  private closed = false;

  /** Use openWallet(). */
  constructor(args: {
    store: WalletStore;
    instanceId: string;
    contexts: Map<string, MintContext>;
    budgets: Budgets | undefined;
    mnemonic: string;
    pollIntervalMs: number;
  }) {
    this.store = args.store;
    this.owners = new OwnerRegistry(args.store);
    this.owner = `${process.pid}:${args.instanceId}`;
    this.contexts = args.contexts;
    this.budgets = args.budgets;
    this.mnemonicPhrase = args.mnemonic;
    this.pollIntervalMs = args.pollIntervalMs;
  }

  /** Configured mint URLs (normalised). */
  get mints(): string[] {
    return [...this.contexts.keys()];
  }

  /** The BIP-39 mnemonic that restores this wallet; show it to the user once, keep it secret. */
  mnemonic(): string {
    return this.mnemonicPhrase;
  }

  /** Spendable sats at one mint, or in total. */
  balance(mint?: string): Sat {
    const sums = this.store.sums('unspent');
    if (mint !== undefined) return sat(sums.get(this.context(mint).url) ?? 0);
    let total = 0;
    for (const url of this.contexts.keys()) total += sums.get(url) ?? 0;
    return sat(total);
  }

  /** Spendable sats per configured mint. */
  balances(): Record<string, Sat> {
    const sums = this.store.sums('unspent');
    const out: Record<string, Sat> = {};
    for (const url of this.contexts.keys()) out[url] = sat(sums.get(url) ?? 0);
    return out;
  }

  /** Sats reserved by operations in flight (or awaiting recovery). */
  pendingBalance(): Sat {
    let total = 0;
    for (const v of this.store.sums('pending').values()) total += v;
    return sat(total);
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

  /**
   * Marks a journal entry settled: the payments layer got what it paid for (and any change), or a
   * token was handed over for good (a settled token is never reclaimed on open).
   */
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
    const p = this.runOperation(() => this.mintQuoteOnce(ctx, quote, amount)).finally(() => this.mintingQuotes.delete(key));
    this.mintingQuotes.set(key, p);
    return p;
  }

  private async mintQuoteOnce(ctx: MintContext, quote: MintQuoteBolt11Response, amount: Sat): Promise<Sat> {
    const counters: CounterRangeRecord[] = [];
    const preview = await ctx.cashu.prepareMint('bolt11', amount, quote, { onCountersReserved: collect(counters) });
    const opId = randomUUID();
    this.store.tx(() => {
      this.store.insertOperation({
        id: opId, kind: 'mint', mint: ctx.url, state: 'prepared', owner: this.owner, amount, fee: 0, counters,
        data: { quoteId: quote.quote },
      });
      this.store.upsertMintQuote({ id: quote.quote, mint: ctx.url, amount, request: quote.request, state: 'paid' });
    });
    failpoint('fund:before-mint');
    let proofs: Proof[];
    try {
      proofs = await ctx.cashu.completeMint(preview);
    } catch (error) {
      await this.tryResolve(opId);
      throw mapMintError(error, 'mint');
    }
    failpoint('fund:after-mint');
    this.store.tx(() => {
      this.store.insertProofs(ctx.url, proofs, 'unspent', opId);
      this.store.updateOperation(opId, { state: 'done' });
      this.store.upsertMintQuote({ id: quote.quote, mint: ctx.url, amount, request: quote.request, state: 'issued' });
    });
    return sat(sumOf(proofs));
  }

  // --- receive --------------------------------------------------------------------------------

  /** Redeems a token from a configured mint into fresh proofs; returns the sats credited (net of mint fees). */
  async receive(token: string): Promise<Sat> {
    const { ctx, proofs } = this.decodeToken(token);
    return this.runOperation(() => this.receiveProofs(ctx, proofs, null, true));
  }

  /**
   * Whether this wallet redeemed `token` (proof for the payments layer, which must never take
   * "spent at the mint" for "ours"): 'received' when one of our receive swaps of all its proofs
   * finished (with the sats it credited), 'pending' while such a swap's outcome is still unknown
   * (recover() settles it), 'none' when no swap of ours took it (it was never sent, or was refused).
   */
  receivedToken(token: string): { state: 'received'; creditedSat: Sat } | { state: 'pending' } | { state: 'none' } {
    const { proofs } = this.decodeToken(token);
    const secrets = new Set(proofs.map((p) => p.secret));
    const first = proofs[0] as Proof;
    const ops = this.store.receivesOfSecret(first.secret).filter((op) => {
      const inputs = (op.data['inputs'] as Array<{ secret: string }> | undefined) ?? [];
      return inputs.length === secrets.size && inputs.every((p) => secrets.has(p.secret));
    });
    const done = ops.find((op) => op.state === 'done');
    if (done) return { state: 'received', creditedSat: sat(done.amount - done.fee) };
    if (ops.some((op) => op.state === 'prepared')) return { state: 'pending' };
    return { state: 'none' };
  }

  /** True when this wallet itself redeemed `token` earlier (a repeat after a crash), not someone else. */
  redeemedByUs(token: string): boolean {
    try {
      return this.receivedToken(token).state === 'received';
    } catch {
      return false;
    }
  }

  private decodeToken(token: string): { ctx: MintContext; proofs: Proof[] } {
    if (typeof token !== 'string' || token.trim() === '') throw new UnreadableToken('the token is empty');
    if (!/^cashu[AB]/.test(token.trim())) throw new UnreadableToken('not a Cashu token: it should start with cashuA or cashuB');
    let mintUrl: string;
    // a decoding failure is reported as malformed; the library's own words (often a TypeError) stay in `cause`
    try {
      mintUrl = normalizeMintUrl(getTokenMetadata(token.trim()).mint);
    } catch (error) {
      throw new UnreadableToken('malformed Cashu token: it could not be decoded', { cause: error });
    }
    const ctx = this.contexts.get(mintUrl);
    if (!ctx) throw new UnknownMint(mintUrl);
    let decoded;
    try {
      decoded = ctx.cashu.decodeToken(token.trim());
    } catch (error) {
      throw new UnreadableToken('malformed Cashu token: it could not be decoded', { cause: error });
    }
    if ((decoded.unit ?? 'sat') !== 'sat') throw new UnreadableToken(`token unit ${decoded.unit} is not sat`);
    if (decoded.proofs.length === 0) throw new UnreadableToken('token holds no proofs');
    const known = new Set(ctx.cashu.keyChain.getAllKeysetIds());
    for (const p of decoded.proofs) {
      if (!known.has(p.id)) throw new UnreadableToken(`token proof uses keyset ${p.id}, unknown at ${ctx.url}`);
      if (typeof p.secret !== 'string' || typeof p.C !== 'string' || toSats(p.amount) <= 0) throw new UnreadableToken('token holds a malformed proof');
    }
    return { ctx, proofs: decoded.proofs };
  }

  /** Swaps foreign (or reclaimed) proofs into our own; `reclaimOf` names the journal entry being taken back. */
  private async receiveProofs(ctx: MintContext, inputs: ProofLike[], reclaimOf: string | null, live: boolean): Promise<Sat> {
    const counters: CounterRangeRecord[] = [];
    let preview;
    try {
      preview = await ctx.cashu.prepareSwapToReceive(inputs, { onCountersReserved: collect(counters) });
    } catch (error) {
      throw new UnreadableToken(`cannot receive token: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    const opId = randomUUID();
    // Write-ahead: the incoming proofs and our output counters are durable before the swap.
    this.store.insertOperation({
      id: opId, kind: 'receive', mint: ctx.url, state: 'prepared', owner: this.owner, amount: sumOf(inputs), fee: 0, counters,
      data: { inputs: inputs.map((p) => ({ ...p, amount: toSats(p.amount) })), reclaimOf },
    });
    if (live) failpoint('receive:before-swap');
    let result;
    try {
      result = await ctx.cashu.completeSwap(preview);
    } catch (error) {
      await this.tryResolve(opId);
      throw mapMintError(error, 'receive');
    }
    if (live) failpoint('receive:after-swap');
    const proofs = [...result.keep, ...result.send];
    const credited = sumOf(proofs);
    this.store.tx(() => {
      this.store.insertProofs(ctx.url, proofs, 'unspent', opId);
      // The fee is what the keyset charges (NUT-02), not a residual, so a lost output shows as a shortfall.
      this.store.updateOperation(opId, { state: 'done', fee: toSats(preview.fees) });
      if (reclaimOf) this.store.updateJournal(reclaimOf, { status: 'reclaimed' });
    });
    if (live) failpoint('receive:after-store');
    return sat(credited);
  }

  // --- send -----------------------------------------------------------------------------------

  /** Makes a token of `amount` sats; it is journaled (purpose, request id) before it is returned. */
  async send(amount: Sat, options: SendOptions): Promise<SentToken> {
    const value = sat(amount);
    if (value <= 0) throw new InvalidAmount('send amount must be at least 1 sat');
    return this.runOperation(async () => {
      for (;;) {
        try {
          return await this.sendOnce(value, options);
        } catch (error) {
          // Proofs held by our own sends in flight come back as change: wait for them, then retry.
          if (error instanceof InsufficientFunds && this.inflight > 1 && this.pendingBalance() > 0) {
            await this.nextSettlement();
            continue;
          }
          throw error;
        }
      }
    });
  }

  private async sendOnce(amount: Sat, options: SendOptions): Promise<SentToken> {
    const includeFees = options.includeFees ?? false;
    const reservation = this.store.tx(() => {
      const ctx = this.pickMint(options.mint, amount);
      const all = this.store.proofs(ctx.url, 'unspent').map(asProofLike);
      const available = sat(sumOf(all));
      const exact = ctx.cashu.selectProofsToSend(all, amount, includeFees, true);
      const exactFee = includeFees ? toSats(ctx.cashu.getFeesForProofs(exact.send)) : 0;
      const journalId = randomUUID();
      if (exact.send.length > 0 && sumOf(exact.send) === amount + exactFee) {
        // Exact match: no swap, so the token is complete and journaled in this one transaction.
        const face = sat(amount + exactFee);
        checkBudget(this.budgets, face, Date.now(), (t) => this.store.spentSince(t));
        const token = getEncodedToken({ mint: ctx.url, proofs: exact.send, unit: 'sat' });
        this.store.setProofState(exact.send.map((p) => p.secret), 'spent', journalId);
        this.store.insertJournal({
          id: journalId, kind: 'token', mint: ctx.url, amount: face, purpose: options.purpose,
          requestId: options.requestId ?? null, token, status: 'outstanding', opId: null, owner: this.owner,
        });
        return { kind: 'offline' as const, ctx, journalId, token };
      }
      const target = amount + (includeFees ? toSats(ctx.cashu.getFeesToInclude(amount)) : 0);
      checkBudget(this.budgets, sat(target), Date.now(), (t) => this.store.spentSince(t));
      const selected = ctx.cashu.selectProofsToSend(all, target, true).send;
      const needed = target + toSats(ctx.cashu.getFeesForProofs(selected));
      if (selected.length === 0 || sumOf(selected) < needed) throw new InsufficientFunds(sat(Math.max(needed, target)), available, ctx.url);
      const opId = randomUUID();
      this.store.insertOperation({
        id: opId, kind: 'send', mint: ctx.url, state: 'prepared', owner: this.owner, amount: target, fee: 0, counters: [],
        data: { journalId },
      });
      this.store.setProofState(selected.map((p) => p.secret), 'pending', opId);
      this.store.insertJournal({
        id: journalId, kind: 'token', mint: ctx.url, amount: sat(target), purpose: options.purpose,
        requestId: options.requestId ?? null, token: null, status: 'pending', opId, owner: this.owner,
      });
      return { kind: 'swap' as const, ctx, journalId, opId, inputs: selected };
    });

    if (reservation.kind === 'offline') {
      failpoint('send:after-store');
      return { token: reservation.token, amount: this.requireEntry(reservation.journalId).amount, entry: this.requireEntry(reservation.journalId) };
    }

    const { ctx, opId, journalId, inputs } = reservation;
    failpoint('send:after-reserve');
    const counters: CounterRangeRecord[] = [];
    let preview;
    try {
      preview = await ctx.cashu.prepareSwapToSend(amount, inputs, { includeFees, onCountersReserved: collect(counters) });
    } catch (error) {
      await this.tryResolve(opId);
      throw error instanceof Error && /Not enough funds/.test(error.message)
        ? new InsufficientFunds(amount, this.balance(ctx.url), ctx.url)
        : mapMintError(error, 'send');
    }
    const used = new Set(preview.inputs.map((p) => p.secret));
    const unused = inputs.filter((p) => !used.has(p.secret)).map((p) => p.secret);
    this.store.tx(() => {
      this.store.updateOperation(opId, { counters });
      if (unused.length > 0) this.store.setProofState(unused, 'unspent', null);
    });
    preview.unselectedProofs = [];
    failpoint('send:before-swap');
    let result;
    try {
      result = await ctx.cashu.completeSwap(preview);
    } catch (error) {
      await this.tryResolve(opId);
      throw mapMintError(error, 'send');
    }
    failpoint('send:after-swap');
    const token = getEncodedToken({ mint: ctx.url, proofs: result.send, unit: 'sat' });
    const face = sat(sumOf(result.send));
    this.store.tx(() => {
      this.store.setProofState([...used], 'spent', opId);
      this.store.insertProofs(ctx.url, result.keep, 'unspent', opId);
      this.store.updateOperation(opId, { state: 'done', fee: toSats(preview.fees) });
      this.store.updateJournal(journalId, { status: 'outstanding', token, amount: face });
    });
    failpoint('send:after-store');
    return { token, amount: face, entry: this.requireEntry(journalId) };
  }

  private pickMint(mint: string | undefined, amount: number): MintContext {
    if (mint !== undefined) return this.context(mint);
    const sums = this.store.sums('unspent');
    let best: MintContext | undefined;
    for (const ctx of this.contexts.values()) {
      const have = sums.get(ctx.url) ?? 0;
      if (have >= amount) return ctx;
      if (!best || have > (sums.get(best.url) ?? 0)) best = ctx;
    }
    if (!best) throw new UnknownMint('(none configured)');
    return best;
  }

  // --- reclaim --------------------------------------------------------------------------------

  /** Takes back whatever of a sent token the recipient has not redeemed; returns the sats recovered. */
  async reclaim(entry: JournalEntry | string): Promise<Sat> {
    const id = typeof entry === 'string' ? entry : entry.id;
    const e = this.requireEntry(id);
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
      return await this.runOperation(() => this.receiveProofs(ctx, unspent, unspent.length === proofs.length ? id : null, false));
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
    return this.runOperation(() => this.withdrawOnce(invoice, options));
  }

  private async withdrawOnce(invoice: string, options: { mint?: string; purpose?: string; requestId?: string }): Promise<Withdrawal> {
    let ctx = this.context(options.mint ?? this.mints[0] ?? '');
    if (options.mint === undefined) {
      // Without a preference, melt at the mint holding the most.
      const sums = this.store.sums('unspent');
      for (const c of this.contexts.values()) if ((sums.get(c.url) ?? 0) > (sums.get(ctx.url) ?? 0)) ctx = c;
    }
    const quote: MeltQuoteBolt11Response = await ctx.cashu.createMeltQuoteBolt11(invoice).catch((e: unknown) => {
      throw mapMintError(e, 'melt quote');
    });
    const amount = sat(toSats(quote.amount));
    const feeReserve = toSats(quote.fee_reserve);
    this.store.upsertMeltQuote({ id: quote.quote, mint: ctx.url, amount, feeReserve, request: invoice, state: 'unpaid' });
    const opId = randomUUID();
    const journalId = randomUUID();
    const inputs = this.store.tx(() => {
      checkBudget(this.budgets, amount, Date.now(), (t) => this.store.spentSince(t));
      const all = this.store.proofs(ctx.url, 'unspent').map(asProofLike);
      const selected = ctx.cashu.selectProofsToSend(all, amount + feeReserve, true).send;
      const needed = amount + feeReserve + toSats(ctx.cashu.getFeesForProofs(selected));
      if (selected.length === 0 || sumOf(selected) < needed) throw new InsufficientFunds(sat(needed), sat(sumOf(all)), ctx.url);
      this.store.insertOperation({
        id: opId, kind: 'melt', mint: ctx.url, state: 'prepared', owner: this.owner, amount, fee: 0, counters: [],
        data: { quoteId: quote.quote, journalId },
      });
      this.store.setProofState(selected.map((p) => p.secret), 'pending', opId);
      this.store.insertJournal({
        id: journalId, kind: 'melt', mint: ctx.url, amount, purpose: options.purpose ?? 'withdraw',
        requestId: options.requestId ?? null, token: null, status: 'pending', opId, owner: this.owner,
      });
      return selected;
    });
    const counters: CounterRangeRecord[] = [];
    let result;
    try {
      const preview = await ctx.cashu.prepareMelt('bolt11', quote, inputs, { onCountersReserved: collect(counters) });
      this.store.tx(() => this.store.updateOperation(opId, { counters }));
      failpoint('withdraw:before-melt');
      result = await ctx.cashu.completeMelt(preview);
    } catch (error) {
      await this.tryResolve(opId);
      const entry = this.requireEntry(journalId);
      if (entry.status === 'settled') return this.withdrawalOf(opId, entry);
      throw mapMintError(error, 'withdraw');
    }
    failpoint('withdraw:after-melt');
    const state = result.quote.state;
    if (state === MeltQuoteState.PAID) {
      const inputSum = sumOf(inputs);
      this.store.tx(() => {
        this.store.setProofState(inputs.map((p) => p.secret), 'spent', opId);
        this.store.insertProofs(ctx.url, result.change, 'unspent', opId);
        this.store.updateOperation(opId, { state: 'done', fee: inputSum - amount - sumOf(result.change) });
        this.store.updateJournal(journalId, { status: 'settled' });
        this.store.setMeltQuoteState(ctx.url, quote.quote, 'paid');
      });
      return { ...this.withdrawalOf(opId, this.requireEntry(journalId)), preimage: result.quote.payment_preimage ?? null };
    }
    if (state === MeltQuoteState.PENDING) {
      return { state: 'pending', amount, feePaid: sat(0), preimage: null, entry: this.requireEntry(journalId) };
    }
    await this.tryResolve(opId);
    throw new PaymentFailed(`melt quote ${quote.quote} is ${state}`);
  }

  private withdrawalOf(opId: string, entry: JournalEntry): Withdrawal {
    const op = this.requireOperation(opId);
    return { state: 'paid', amount: entry.amount, feePaid: sat(op.fee), preimage: null, entry };
  }

  // --- recovery -------------------------------------------------------------------------------

  /**
   * Reconciles the store with the mints: finishes or rolls back operations whose process died
   * (NUT-07 states of the inputs, NUT-09 restore of the journaled counters), frees orphaned
   * pending proofs, mints paid quotes, and (if asked) takes back outstanding tokens nobody redeemed.
   */
  async recover(options: { reclaimOutstanding?: boolean } = {}): Promise<RecoveryReport> {
    const report: RecoveryReport = { operationsResolved: 0, proofsReturned: 0, proofsRestored: 0, tokensReclaimed: 0, restoredFromSeed: sat(0) };
    for (const op of this.store.openOperations()) {
      // Our own leftovers (a failed call whose mint was unreachable) are safe to settle when nothing runs.
      const ours = op.owner === this.owner && this.inflight === 0;
      if (!ours && !this.isOrphan(op.owner)) continue;
      const r = await this.resolveOperation(op, { retry: true });
      report.operationsResolved++;
      report.proofsReturned += r.returned;
      report.proofsRestored += r.restored;
    }
    report.proofsReturned += await this.freeOrphanedPending();
    for (const e of this.store.journal({ status: 'pending' })) {
      const op = e.opId ? this.store.operation(e.opId) : undefined;
      if (!op || op.state !== 'prepared') this.store.tx(() => this.store.updateJournal(e.id, { status: 'aborted' }));
    }
    for (const q of [...this.store.mintQuotes('unpaid'), ...this.store.mintQuotes('paid')]) {
      const ctx = this.contexts.get(q.mint);
      if (!ctx) continue;
      const quote = await ctx.cashu.checkMintQuoteBolt11(q.id).catch(() => undefined);
      if (quote?.state === MintQuoteState.PAID) await this.mintQuote(ctx, quote, sat(q.amount));
      else if (quote?.state === MintQuoteState.UNPAID && q.createdAt < Date.now() - STALE_QUOTE_MS) {
        this.store.upsertMintQuote({ ...q, state: 'expired' }); // stop asking about it on every open
      } else if (quote?.state === MintQuoteState.ISSUED && !this.store.openOperations().some((o) => o.data['quoteId'] === q.id)) {
        this.store.upsertMintQuote({ ...q, state: 'issued' });
      }
    }
    for (const e of this.store.journal({ status: 'outstanding' })) {
      if (!this.contexts.has(e.mint) || e.token === null) continue;
      if ((options.reclaimOutstanding ?? false) && this.isOrphan(e.owner)) {
        if ((await this.reclaim(e)) > 0) report.tokensReclaimed++;
      } else {
        const ctx = this.context(e.mint);
        const proofs = ctx.cashu.decodeToken(e.token).proofs;
        const states = await ctx.cashu.checkProofsStates(proofs);
        if (states.every((s) => s.state === CheckStateEnum.SPENT)) this.store.tx(() => this.store.updateJournal(e.id, { status: 'spent' }));
      }
    }
    this.lastRecovery = report;
    return report;
  }

  /** True when the wallet instance that wrote a record is gone (its process died, or it was closed). */
  private isOrphan(owner: string): boolean {
    return this.owners.gone(owner);
  }

  /** Pending proofs with no open operation (should not happen; repaired from NUT-07 if it does). */
  private async freeOrphanedPending(): Promise<number> {
    let freed = 0;
    for (const ctx of this.contexts.values()) {
      const orphans = this.store.proofs(ctx.url, 'pending').filter((p) => {
        const op = p.opId ? this.store.operation(p.opId) : undefined;
        return !op || op.state !== 'prepared';
      });
      if (orphans.length === 0) continue;
      const states = await ctx.cashu.checkProofsStates(orphans.map(asProofLike));
      this.store.tx(() => {
        orphans.forEach((p, i) => {
          const s = states[i]?.state;
          if (s === CheckStateEnum.UNSPENT) {
            this.store.setProofState([p.secret], 'unspent', null);
            freed++;
          } else if (s === CheckStateEnum.SPENT) this.store.setProofState([p.secret], 'spent', p.opId);
        });
      });
    }
    return freed;
  }

  /**
   * Decides the outcome of an operation left 'prepared': if the mint signed its journaled outputs
   * (NUT-09), the operation happened and those proofs are ours; otherwise NUT-07 says whether its
   * inputs are still ours. `retry` re-runs a receive whose token is still unspent.
   */
  private async resolveOperation(op: OperationRecord, options: { retry: boolean }): Promise<{ returned: number; restored: number }> {
    const ctx = this.context(op.mint);
    const restored: Proof[] = [];
    for (const range of op.counters) {
      if (range.count === 0) continue;
      const r = await ctx.cashu.restore(range.start, range.count, { keysetId: range.keysetId });
      restored.push(...r.proofs);
    }
    const inputs = op.kind === 'receive'
      ? ((op.data['inputs'] as ProofLike[] | undefined) ?? [])
      : this.store.proofsOfOperation(op.id).filter((p) => p.state === 'pending').map(asProofLike);
    const inputStates = inputs.length > 0 ? await ctx.cashu.checkProofsStates(inputs) : [];
    const spent = inputs.filter((_, i) => inputStates[i]?.state === CheckStateEnum.SPENT);
    const unspent = inputs.filter((_, i) => inputStates[i]?.state === CheckStateEnum.UNSPENT);
    const journalId = typeof op.data['journalId'] === 'string' ? op.data['journalId'] : null;
    const reclaimOf = typeof op.data['reclaimOf'] === 'string' ? op.data['reclaimOf'] : null;

    if (op.kind === 'melt') {
      const quoteId = String(op.data['quoteId']);
      const quote = await ctx.cashu.checkMeltQuoteBolt11(quoteId).catch(() => undefined);
      if (quote?.state === MeltQuoteState.PENDING || inputStates.some((s) => s.state === CheckStateEnum.PENDING)) {
        return { returned: 0, restored: 0 };
      }
      if (quote?.state === MeltQuoteState.PAID) {
        this.store.tx(() => {
          this.store.setProofState(inputs.map((p) => p.secret), 'spent', op.id);
          this.store.insertProofs(ctx.url, restored, 'unspent', op.id);
          this.store.updateOperation(op.id, { state: 'done', fee: sumOf(inputs) - op.amount - sumOf(restored) });
          if (journalId) this.store.updateJournal(journalId, { status: 'settled' });
          this.store.setMeltQuoteState(ctx.url, quoteId, 'paid');
        });
        return { returned: 0, restored: restored.length };
      }
    }

    if (restored.length > 0) {
      // The mint acted: the inputs are gone and the journaled outputs are ours. A send's token never
      // reached its caller, so its proofs come back to the balance too.
      this.store.tx(() => {
        if (op.kind !== 'receive') this.store.setProofState(inputs.map((p) => p.secret), 'spent', op.id);
        this.store.insertProofs(ctx.url, restored, 'unspent', op.id);
        this.store.updateOperation(op.id, { state: 'done', fee: inputs.length > 0 ? toSats(ctx.cashu.getFeesForProofs(inputs)) : 0 });
        if (op.kind === 'send' && journalId) this.store.updateJournal(journalId, { status: 'aborted' });
        if (op.kind === 'mint') this.markQuoteIssued(ctx.url, String(op.data['quoteId']));
        if (reclaimOf) this.store.updateJournal(reclaimOf, { status: 'reclaimed' });
      });
      return { returned: 0, restored: restored.length };
    }

    // The mint did not act on our outputs: give back what is still unspent.
    this.store.tx(() => {
      if (op.kind !== 'receive') {
        this.store.setProofState(unspent.map((p) => p.secret), 'unspent', null);
        this.store.setProofState(spent.map((p) => p.secret), 'spent', op.id);
      }
      this.store.updateOperation(op.id, { state: 'aborted' });
      if (journalId) this.store.updateJournal(journalId, { status: 'aborted' });
      if (reclaimOf && spent.length > 0) this.store.updateJournal(reclaimOf, { status: 'spent' });
    });
    if (op.kind === 'receive' && options.retry && unspent.length === inputs.length && inputs.length > 0) {
      await this.receiveProofs(ctx, inputs, reclaimOf, false);
      return { returned: 0, restored: inputs.length };
    }
    if (op.kind === 'mint' && options.retry) {
      const quote = await ctx.cashu.checkMintQuoteBolt11(String(op.data['quoteId'])).catch(() => undefined);
      if (quote?.state === MintQuoteState.PAID) await this.mintQuote(ctx, quote, sat(op.amount));
    }
    return { returned: op.kind === 'receive' ? 0 : unspent.length, restored: 0 };
  }

  /** After a failed call: settle the operation now if the mint answers, else leave it for recover(). */
  private async tryResolve(opId: string): Promise<void> {
    try {
      await this.resolveOperation(this.requireOperation(opId), { retry: false });
    } catch {
      // The operation stays 'prepared' with its inputs pending; the next recover() settles it.
    }
  }

  private markQuoteIssued(mint: string, quoteId: string): void {
    const q = this.store.mintQuotes().find((x) => x.id === quoteId && x.mint === mint);
    if (q) this.store.upsertMintQuote({ ...q, state: 'issued' });
  }

  /** NUT-09: rebuilds the proofs of a seed from each keyset of each mint (empty store + known mnemonic). */
  async restoreFromSeed(gapLimit: number): Promise<Sat> {
    let total = 0;
    for (const ctx of this.contexts.values()) {
      for (const keyset of ctx.cashu.keyChain.getKeysets()) {
        if (keyset.unit !== 'sat' || !/^[0-9a-f]+$/.test(keyset.id)) continue;
        const { proofs, lastCounterWithSignature } = await ctx.cashu.batchRestore(gapLimit, gapLimit, 0, keyset.id);
        if (lastCounterWithSignature !== undefined) this.store.advanceCounter(keyset.id, lastCounterWithSignature + 1);
        if (proofs.length === 0) continue;
        const states = await ctx.cashu.checkProofsStates(proofs);
        const unspent = proofs.filter((_, i) => states[i]?.state === CheckStateEnum.UNSPENT);
        this.store.insertProofs(ctx.url, unspent, 'unspent');
        total += sumOf(unspent);
      }
    }
    return sat(total);
  }

  // --- plumbing -------------------------------------------------------------------------------

  private context(mint: string): MintContext {
    let url: string;
    try {
      url = normalizeMintUrl(mint);
    } catch {
      throw new UnknownMint(mint);
    }
    const ctx = this.contexts.get(url);
    if (!ctx) throw new UnknownMint(url);
    return ctx;
  }

  private requireOperation(id: string): OperationRecord {
    const op = this.store.operation(id);
    if (!op) throw new Error(`operation ${id} vanished`);
    return op;
  }

  private requireEntry(id: string): JournalEntry {
    const e = this.store.journalEntry(id);
    if (!e) throw new UnknownJournalEntry(id);
    return e;
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

function collect(into: CounterRangeRecord[]): (c: OperationCounters) => void {
  return (c) => {
    into.push({ keysetId: c.keysetId, start: c.start, count: c.count });
  };
}

/** True when no wallet lives at `path` yet: no file, or a store that never held proofs, counters or operations (a restore target). */
export function walletFileIsEmpty(path: string): boolean {
  if (!existsSync(path)) return true;
  const store = new WalletStore(path);
  try {
    return store.isEmpty();
  } finally {
    store.close();
  }
}

/** Opens (or creates) a wallet store, connects its mints, restores from the seed if empty, and recovers. */
export async function openWallet(options: OpenWalletOptions): Promise<EcashWallet> {
  if (options.mints.length === 0) throw new WalletError('no_mints', 'openWallet needs at least one mint');
  if (options.mnemonic !== undefined && !validateMnemonic(options.mnemonic.trim(), wordlist)) {
    throw new WalletError('invalid_mnemonic', 'not a valid BIP-39 English mnemonic');
  }
  const store = new WalletStore(options.path);
  try {
    const wasEmpty = store.isEmpty();
    const mnemonic = store.tx(() => {
      const stored = store.getMeta('mnemonic');
      const given = options.mnemonic?.trim();
      if (stored !== undefined) {
        if (given !== undefined && given !== stored) throw new MnemonicMismatch();
        return stored;
      }
      const phrase = given ?? generateMnemonic(wordlist, 128);
      store.setMeta('mnemonic', phrase);
      return phrase;
    });
    const seed = mnemonicToSeedSync(mnemonic);
    const counterSource = new StoreCounterSource(store);
    const contexts = new Map<string, MintContext>();
    for (const raw of options.mints) {
      const url = normalizeMintUrl(raw);
      const cashu = new CashuWallet(url, { unit: 'sat', bip39seed: seed, counterSource, secretsPolicy: 'deterministic' });
      await cashu.loadMint();
      store.saveKeysets(cashu.keyChain.getKeysets().map((k) => ({
        mint: url, id: k.id, unit: k.unit, active: k.isActive, inputFeePpk: k.fee,
      })));
      contexts.set(url, { url, cashu });
    }
    const wallet = new EcashWallet({
      store,
      instanceId: randomUUID(),
      contexts,
      budgets: options.budgets,
      mnemonic,
      pollIntervalMs: options.pollIntervalMs ?? 250,
    });
    wallet.markLive();
    const restored = wasEmpty && options.mnemonic !== undefined ? await wallet.restoreFromSeed(options.restoreGapLimit ?? 100) : sat(0);
    const report = await wallet.recover({ reclaimOutstanding: options.reclaimOnOpen ?? true });
    report.restoredFromSeed = restored;
    return wallet;
  } catch (error) {
    store.close();
    throw error;
  }
}
