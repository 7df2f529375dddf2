/**
 * Sending: a token of exactly the asked amount, journaled (purpose, request id) in the same
 * transaction that takes its proofs, or — when no exact proofs exist — a swap whose inputs are
 * reserved and journaled (write-ahead) before the mint is called, so recovery can finish it.
 */
import { randomUUID } from 'node:crypto';
import { getEncodedToken, normalizeProofAmounts, type ProofLike } from '@cashu/cashu-ts';
import { sat, type Sat } from '../money/index.ts';
import { checkBudget } from './budget.ts';
import { exactPlan } from './denomination-inventory.ts';
import { InsufficientFunds, UnknownMint } from './errors.ts';
import { failpoint } from './failpoint.ts';
import { asProofLike, collect, contextFor, mapMintError, sumOf, toSats, type MintContext } from './mint-context.ts';
import { requireEntry, type OperationHost } from './operation-host.ts';
import type { CounterRangeRecord } from './store.ts';
import type { SendOptions, SentToken } from './wallet-types.ts';

/** Makes and journals one token (no waiting for change; `send` retries). */
export async function sendOnce(host: OperationHost, amount: Sat, options: SendOptions): Promise<SentToken> {
  const { store } = host;
  const includeFees = options.includeFees ?? false;
  const reservation = store.tx(() => {
    const ctx = pickMint(host, options.mint, amount);
    const journalId = randomUUID();
    // The inventory's exact proofs, found from per-denomination counts: no proof rows loaded, no selection search.
    const fromInventory = exactFromInventory(host, ctx, amount, includeFees);
    const all = fromInventory ? [] : store.proofs(ctx.url, 'unspent').map(asProofLike);
    const available = sat(sumOf(all));
    const exact = fromInventory ? { send: normalizeProofAmounts(fromInventory) } : ctx.cashu.selectProofsToSend(all, amount, includeFees, true);
    const exactFee = includeFees ? toSats(ctx.cashu.getFeesForProofs(exact.send)) : 0;
    if (exact.send.length > 0 && sumOf(exact.send) === amount + exactFee) {
      // Exact match: no swap, so the token is complete and journaled in this one transaction.
      const face = sat(amount + exactFee);
      checkBudget(host.budgets, face, Date.now(), (t) => store.spentSince(t));
      const token = getEncodedToken({ mint: ctx.url, proofs: exact.send, unit: 'sat' });
      store.setProofState(exact.send.map((p) => p.secret), 'spent', journalId);
      store.insertJournal({
        id: journalId, kind: 'token', mint: ctx.url, amount: face, purpose: options.purpose,
        requestId: options.requestId ?? null, token, status: options.settled ? 'settled' : 'outstanding', opId: null, owner: host.owner,
      });
      return { kind: 'offline' as const, ctx, journalId, token };
    }
    const target = amount + (includeFees ? toSats(ctx.cashu.getFeesToInclude(amount)) : 0);
    checkBudget(host.budgets, sat(target), Date.now(), (t) => store.spentSince(t));
    const selected = ctx.cashu.selectProofsToSend(all, target, true).send;
    const needed = target + toSats(ctx.cashu.getFeesForProofs(selected));
    if (selected.length === 0 || sumOf(selected) < needed) throw new InsufficientFunds(sat(Math.max(needed, target)), available, ctx.url);
    const opId = randomUUID();
    store.insertOperation({
      id: opId, kind: 'send', mint: ctx.url, state: 'prepared', owner: host.owner, amount: target, fee: 0, counters: [],
      data: { journalId },
    });
    store.setProofState(selected.map((p) => p.secret), 'pending', opId);
    store.insertJournal({
      id: journalId, kind: 'token', mint: ctx.url, amount: sat(target), purpose: options.purpose,
      requestId: options.requestId ?? null, token: null, status: 'pending', opId, owner: host.owner,
    });
    return { kind: 'swap' as const, ctx, journalId, opId, inputs: selected };
  });

  if (reservation.kind === 'offline') {
    host.stats.exactSends++;
    host.afterSend(reservation.ctx.url);
    failpoint('send:after-store');
    return { token: reservation.token, amount: requireEntry(store, reservation.journalId).amount, entry: requireEntry(store, reservation.journalId) };
  }

  const { ctx, opId, journalId, inputs } = reservation;
  host.stats.swapSends++;
  failpoint('send:after-reserve');
  const counters: CounterRangeRecord[] = [];
  let preview;
  try {
    preview = await ctx.swaps.prepareSwapToSend(amount, inputs, { includeFees, onCountersReserved: collect(counters) });
  } catch (error) {
    await host.tryResolve(opId);
    throw error instanceof Error && /Not enough funds/.test(error.message)
      ? new InsufficientFunds(amount, sat(store.sums('unspent').get(ctx.url) ?? 0), ctx.url)
      : mapMintError(error, 'send');
  }
  const used = new Set(preview.inputs.map((p) => p.secret));
  const unused = inputs.filter((p) => !used.has(p.secret)).map((p) => p.secret);
  store.tx(() => {
    store.updateOperation(opId, { counters });
    if (unused.length > 0) store.setProofState(unused, 'unspent', null);
  });
  preview.unselectedProofs = [];
  failpoint('send:before-swap');
  let result;
  try {
    result = await ctx.swaps.completeSwap(preview);
  } catch (error) {
    await host.tryResolve(opId);
    throw mapMintError(error, 'send');
  }
  failpoint('send:after-swap');
  const token = getEncodedToken({ mint: ctx.url, proofs: result.send, unit: 'sat' });
  const face = sat(sumOf(result.send));
  store.tx(() => {
    store.setProofState([...used], 'spent', opId);
    store.insertProofs(ctx.url, result.keep, 'unspent', opId);
    store.updateOperation(opId, { state: 'done', fee: toSats(preview.fees) });
    store.updateJournal(journalId, { status: options.settled ? 'settled' : 'outstanding', token, amount: face });
  });
  host.afterSend(ctx.url);
  failpoint('send:after-store');
  return { token, amount: face, entry: requireEntry(store, journalId) };
}

/** Proofs of the inventory that pay `amount` exactly (fee-free: with `includeFees` only where inputs cost nothing), or null. */
function exactFromInventory(host: OperationHost, ctx: MintContext, amount: number, includeFees: boolean): ProofLike[] | null {
  if (!host.inventory) return null;
  const plan = exactPlan(amount, host.store.denominationCounts(ctx.url));
  if (!plan) return null;
  const proofs = host.store.unspentByPlan(ctx.url, plan).map(asProofLike);
  if (includeFees && toSats(ctx.cashu.getFeesForProofs(proofs)) > 0) return null;
  return proofs;
}

/** The mint asked for, else the first that can cover `amount`, else the one holding the most. */
function pickMint(host: OperationHost, mint: string | undefined, amount: number): MintContext {
  const { store } = host;
  if (mint !== undefined) return contextFor(host.contexts, mint);
  const sums = store.sums('unspent');
  let best: MintContext | undefined;
  for (const ctx of host.contexts.values()) {
    const have = sums.get(ctx.url) ?? 0;
    if (have >= amount) return ctx;
    if (!best || have > (sums.get(best.url) ?? 0)) best = ctx;
  }
  if (!best) throw new UnknownMint('(none configured)');
  return best;
}
