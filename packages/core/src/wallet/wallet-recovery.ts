/**
 * The wallet's recovery: reconciles its store with the mints after a crash or an outage. An
 * operation left 'prepared' is decided from what the mint did (NUT-09 restore of its journaled
 * output counters, NUT-07 states of its inputs); pending proofs with no operation are repaired;
 * paid mint quotes are minted; outstanding tokens nobody redeemed are taken back (if asked).
 * Only records whose owner is gone are touched, so a live wallet's in-flight work is left alone.
 */
import { CheckStateEnum, MeltQuoteState, MintQuoteState, type MintQuoteBolt11Response, type Proof, type ProofLike } from '@cashu/cashu-ts';
import { sat, type Sat } from '../money/index.ts';
import { asProofLike, contextFor, sumOf, toSats, type MintContext } from './mint-context.ts';
import type { IncomingStore } from './incoming-store.ts';
import type { JournalEntry, OperationRecord, WalletStore } from './store.ts';
import type { RecoveryReport } from './wallet-types.ts';

/** An invoice unpaid for this long is no longer checked on open. */
const STALE_QUOTE_MS = 24 * 3600_000;

/** What recovery needs of the wallet: its books, its mints, who owns what, and the operations it re-runs. */
export interface RecoveryHost {
  readonly store: WalletStore;
  /** The incoming-token journal (a receive swap of a kept token records its fate there). */
  readonly incoming: IncomingStore;
  readonly contexts: ReadonlyMap<string, MintContext>;
  /** True when the owner that wrote a record is gone (its process died, or it was closed). */
  orphaned(owner: string): boolean;
  /** True when `owner` is this wallet and none of its operations runs now (its own leftovers are safe to settle). */
  idleSelf(owner: string): boolean;
  /** Swaps proofs into ours again (a receive the crash cut off); `reclaimOf` names the journal entry taken back. */
  receiveProofs(ctx: MintContext, inputs: ProofLike[], reclaimOf: string | null): Promise<Sat>;
  /** Mints a paid quote (one minting per quote in this process). */
  mintQuote(ctx: MintContext, quote: MintQuoteBolt11Response, amount: Sat): Promise<Sat>;
  /** Takes back what the recipient of a sent token has not redeemed. */
  reclaim(entry: JournalEntry): Promise<Sat>;
}

/** One recovery pass (see the module doc); `reclaimOutstanding` also takes back orphaned outstanding tokens. */
export async function recoverWallet(host: RecoveryHost, options: { reclaimOutstanding?: boolean } = {}): Promise<RecoveryReport> {
  const { store } = host;
  const report: RecoveryReport = { operationsResolved: 0, proofsReturned: 0, proofsRestored: 0, tokensReclaimed: 0, restoredFromSeed: sat(0) };
  for (const op of store.openOperations()) {
    // Our own leftovers (a failed call whose mint was unreachable) are safe to settle when nothing runs.
    if (!host.idleSelf(op.owner) && !host.orphaned(op.owner)) continue;
    const r = await resolveOperation(host, op, { retry: true });
    report.operationsResolved++;
    report.proofsReturned += r.returned;
    report.proofsRestored += r.restored;
  }
  report.proofsReturned += await freeOrphanedPending(host);
  for (const e of store.journal({ status: 'pending' })) {
    const op = e.opId ? store.operation(e.opId) : undefined;
    if (!op || op.state !== 'prepared') store.tx(() => store.updateJournal(e.id, { status: 'aborted' }));
  }
  for (const q of [...store.mintQuotes('unpaid'), ...store.mintQuotes('paid')]) {
    const ctx = host.contexts.get(q.mint);
    if (!ctx) continue;
    const quote = await ctx.cashu.checkMintQuoteBolt11(q.id).catch(() => undefined);
    if (quote?.state === MintQuoteState.PAID) await host.mintQuote(ctx, quote, sat(q.amount));
    else if (quote?.state === MintQuoteState.UNPAID && q.createdAt < Date.now() - STALE_QUOTE_MS) {
      store.upsertMintQuote({ ...q, state: 'expired' }); // stop asking about it on every open
    } else if (quote?.state === MintQuoteState.ISSUED && !store.openOperations().some((o) => o.data['quoteId'] === q.id)) {
      store.upsertMintQuote({ ...q, state: 'issued' });
    }
  }
  for (const e of store.journal({ status: 'outstanding' })) {
    if (!host.contexts.has(e.mint) || e.token === null) continue;
    if ((options.reclaimOutstanding ?? false) && host.orphaned(e.owner)) {
      if ((await host.reclaim(e)) > 0) report.tokensReclaimed++;
    } else {
      const ctx = contextFor(host.contexts, e.mint);
      const proofs = ctx.cashu.decodeToken(e.token).proofs;
      const states = await ctx.cashu.checkProofsStates(proofs);
      if (states.every((s) => s.state === CheckStateEnum.SPENT)) store.tx(() => store.updateJournal(e.id, { status: 'spent' }));
    }
  }
  return report;
}

/** Pending proofs with no open operation (should not happen; repaired from NUT-07 if it does). */
async function freeOrphanedPending(host: RecoveryHost): Promise<number> {
  const { store } = host;
  let freed = 0;
  for (const ctx of host.contexts.values()) {
    const orphans = store.proofs(ctx.url, 'pending').filter((p) => {
      const op = p.opId ? store.operation(p.opId) : undefined;
      return !op || op.state !== 'prepared';
    });
    if (orphans.length === 0) continue;
    const states = await ctx.cashu.checkProofsStates(orphans.map(asProofLike));
    store.tx(() => {
      orphans.forEach((p, i) => {
        const s = states[i]?.state;
        if (s === CheckStateEnum.UNSPENT) {
          store.setProofState([p.secret], 'unspent', null);
          freed++;
        } else if (s === CheckStateEnum.SPENT) store.setProofState([p.secret], 'spent', p.opId);
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
export async function resolveOperation(host: RecoveryHost, op: OperationRecord, options: { retry: boolean }): Promise<{ returned: number; restored: number }> {
  const { store } = host;
  const ctx = contextFor(host.contexts, op.mint);
  const restored: Proof[] = [];
  for (const range of op.counters) {
    if (range.count === 0) continue;
    const r = await ctx.cashu.restore(range.start, range.count, { keysetId: range.keysetId });
    restored.push(...r.proofs);
  }
  const inputs = op.kind === 'receive'
    ? ((op.data['inputs'] as ProofLike[] | undefined) ?? [])
    : store.proofsOfOperation(op.id).filter((p) => p.state === 'pending').map(asProofLike);
  const inputStates = inputs.length > 0 ? await ctx.cashu.checkProofsStates(inputs) : [];
  const spent = inputs.filter((_, i) => inputStates[i]?.state === CheckStateEnum.SPENT);
  const unspent = inputs.filter((_, i) => inputStates[i]?.state === CheckStateEnum.UNSPENT);
  const journalId = typeof op.data['journalId'] === 'string' ? op.data['journalId'] : null;
  const reclaimOf = typeof op.data['reclaimOf'] === 'string' ? op.data['reclaimOf'] : null;
  const incomingOf = typeof op.data['incomingOf'] === 'string' ? op.data['incomingOf'] : null;

  if (op.kind === 'melt') {
    const quoteId = String(op.data['quoteId']);
    const quote = await ctx.cashu.checkMeltQuoteBolt11(quoteId).catch(() => undefined);
    if (quote?.state === MeltQuoteState.PENDING || inputStates.some((s) => s.state === CheckStateEnum.PENDING)) {
      return { returned: 0, restored: 0 };
    }
    if (quote?.state === MeltQuoteState.PAID) {
      store.tx(() => {
        store.setProofState(inputs.map((p) => p.secret), 'spent', op.id);
        store.insertProofs(ctx.url, restored, 'unspent', op.id);
        store.updateOperation(op.id, { state: 'done', fee: sumOf(inputs) - op.amount - sumOf(restored) });
        if (journalId) store.updateJournal(journalId, { status: 'settled' });
        store.setMeltQuoteState(ctx.url, quoteId, 'paid');
      });
      return { returned: 0, restored: restored.length };
    }
  }

  if (restored.length > 0) {
    // The mint acted: the inputs are gone and the journaled outputs are ours. A send's token never
    // reached its caller, so its proofs come back to the balance too.
    store.tx(() => {
      if (op.kind !== 'receive') store.setProofState(inputs.map((p) => p.secret), 'spent', op.id);
      store.insertProofs(ctx.url, restored, 'unspent', op.id);
      store.updateOperation(op.id, { state: 'done', fee: inputs.length > 0 ? toSats(ctx.cashu.getFeesForProofs(inputs)) : 0 });
      if (op.kind === 'send' && journalId) store.updateJournal(journalId, { status: 'aborted' });
      if (op.kind === 'mint') markQuoteIssued(store, ctx.url, String(op.data['quoteId']));
      if (reclaimOf) store.updateJournal(reclaimOf, { status: 'reclaimed' });
      if (incomingOf) host.incoming.decide(incomingOf, { status: 'redeemed', credited: sumOf(restored) });
    });
    return { returned: 0, restored: restored.length };
  }

  // The mint did not act on our outputs: give back what is still unspent.
  store.tx(() => {
    if (op.kind !== 'receive') {
      store.setProofState(unspent.map((p) => p.secret), 'unspent', null);
      store.setProofState(spent.map((p) => p.secret), 'spent', op.id);
    }
    store.updateOperation(op.id, { state: 'aborted' });
    if (journalId) store.updateJournal(journalId, { status: 'aborted' });
    if (reclaimOf && spent.length > 0) store.updateJournal(reclaimOf, { status: 'spent' });
    // our swap did not act and the token is spent: someone else redeemed it (a kept token still unspent
    // stays kept: the incoming journal redeems it again after recovery)
    if (incomingOf && spent.length > 0) host.incoming.decide(incomingOf, { status: 'refused', problem: 'spent' });
  });
  if (incomingOf) return { returned: 0, restored: 0 };
  if (op.kind === 'receive' && options.retry && unspent.length === inputs.length && inputs.length > 0) {
    await host.receiveProofs(ctx, inputs, reclaimOf);
    return { returned: 0, restored: inputs.length };
  }
  if (op.kind === 'mint' && options.retry) {
    const quote = await ctx.cashu.checkMintQuoteBolt11(String(op.data['quoteId'])).catch(() => undefined);
    if (quote?.state === MintQuoteState.PAID) await host.mintQuote(ctx, quote, sat(op.amount));
  }
  return { returned: op.kind === 'receive' ? 0 : unspent.length, restored: 0 };
}

function markQuoteIssued(store: WalletStore, mint: string, quoteId: string): void {
  const q = store.mintQuotes().find((x) => x.id === quoteId && x.mint === mint);
  if (q) store.upsertMintQuote({ ...q, state: 'issued' });
}

/** NUT-09: rebuilds the proofs of a seed from each keyset of each mint (empty store + known mnemonic). */
export async function restoreFromSeed(store: WalletStore, contexts: ReadonlyMap<string, MintContext>, gapLimit: number): Promise<Sat> {
  let total = 0;
  for (const ctx of contexts.values()) {
    for (const keyset of ctx.cashu.keyChain.getKeysets()) {
      if (keyset.unit !== 'sat' || !/^[0-9a-f]+$/.test(keyset.id)) continue;
      const { proofs, lastCounterWithSignature } = await ctx.cashu.batchRestore(gapLimit, gapLimit, 0, keyset.id);
      if (lastCounterWithSignature !== undefined) store.advanceCounter(keyset.id, lastCounterWithSignature + 1);
      if (proofs.length === 0) continue;
      const states = await ctx.cashu.checkProofsStates(proofs);
      const unspent = proofs.filter((_, i) => states[i]?.state === CheckStateEnum.UNSPENT);
      store.insertProofs(ctx.url, unspent, 'unspent');
      total += sumOf(unspent);
    }
  }
  return sat(total);
}
