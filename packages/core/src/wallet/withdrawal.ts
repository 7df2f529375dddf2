/**
 * Withdrawing: a melt to a bolt11 invoice. The quote, the reserved inputs and the journal entry
 * are durable before the mint is called; a melt still pending at the mint stays pending (recovery
 * settles it), one that failed gives its inputs back.
 */
import { randomUUID } from 'node:crypto';
import { MeltQuoteState, type MeltQuoteBolt11Response } from '@cashu/cashu-ts';
import { sat } from '../money/index.ts';
import { checkBudget } from './budget.ts';
import { InsufficientFunds, PaymentFailed } from './errors.ts';
import { failpoint } from './failpoint.ts';
import { asProofLike, collect, contextFor, mapMintError, sumOf, toSats } from './mint-context.ts';
import { requireEntry, requireOperation, type OperationHost } from './operation-host.ts';
import type { CounterRangeRecord, JournalEntry, WalletStore } from './store.ts';
import type { Withdrawal } from './wallet-types.ts';

/** Pays a bolt11 invoice by a melt journaled before the mint is called; change from the fee reserve comes back. */
export async function withdrawOnce(host: OperationHost, invoice: string, options: { mint?: string; purpose?: string; requestId?: string }): Promise<Withdrawal> {
  const { store } = host;
  let ctx = contextFor(host.contexts, options.mint ?? [...host.contexts.keys()][0] ?? '');
  if (options.mint === undefined) {
    // Without a preference, melt at the mint holding the most.
    const sums = store.sums('unspent');
    for (const c of host.contexts.values()) if ((sums.get(c.url) ?? 0) > (sums.get(ctx.url) ?? 0)) ctx = c;
  }
  const quote: MeltQuoteBolt11Response = await ctx.cashu.createMeltQuoteBolt11(invoice).catch((e: unknown) => {
    throw mapMintError(e, 'melt quote');
  });
  const amount = sat(toSats(quote.amount));
  const feeReserve = toSats(quote.fee_reserve);
  store.upsertMeltQuote({ id: quote.quote, mint: ctx.url, amount, feeReserve, request: invoice, state: 'unpaid' });
  const opId = randomUUID();
  const journalId = randomUUID();
  const inputs = store.tx(() => {
    checkBudget(host.budgets, amount, Date.now(), (t) => store.spentSince(t));
    const all = store.proofs(ctx.url, 'unspent').map(asProofLike);
    const selected = ctx.cashu.selectProofsToSend(all, amount + feeReserve, true).send;
    const needed = amount + feeReserve + toSats(ctx.cashu.getFeesForProofs(selected));
    if (selected.length === 0 || sumOf(selected) < needed) throw new InsufficientFunds(sat(needed), sat(sumOf(all)), ctx.url);
    store.insertOperation({
      id: opId, kind: 'melt', mint: ctx.url, state: 'prepared', owner: host.owner, amount, fee: 0, counters: [],
      data: { quoteId: quote.quote, journalId },
    });
    store.setProofState(selected.map((p) => p.secret), 'pending', opId);
    store.insertJournal({
      id: journalId, kind: 'melt', mint: ctx.url, amount, purpose: options.purpose ?? 'withdraw',
      requestId: options.requestId ?? null, token: null, status: 'pending', opId, owner: host.owner,
    });
    return selected;
  });
  const counters: CounterRangeRecord[] = [];
  let result;
  try {
    const preview = await ctx.cashu.prepareMelt('bolt11', quote, inputs, { onCountersReserved: collect(counters) });
    store.tx(() => store.updateOperation(opId, { counters }));
    failpoint('withdraw:before-melt');
    result = await ctx.cashu.completeMelt(preview);
  } catch (error) {
    await host.tryResolve(opId);
    const entry = requireEntry(store, journalId);
    if (entry.status === 'settled') return withdrawalOf(store, opId, entry);
    throw mapMintError(error, 'withdraw');
  }
  failpoint('withdraw:after-melt');
  const state = result.quote.state;
  if (state === MeltQuoteState.PAID) {
    const inputSum = sumOf(inputs);
    store.tx(() => {
      store.setProofState(inputs.map((p) => p.secret), 'spent', opId);
      store.insertProofs(ctx.url, result.change, 'unspent', opId);
      store.updateOperation(opId, { state: 'done', fee: inputSum - amount - sumOf(result.change) });
      store.updateJournal(journalId, { status: 'settled' });
      store.setMeltQuoteState(ctx.url, quote.quote, 'paid');
    });
    return { ...withdrawalOf(store, opId, requireEntry(store, journalId)), preimage: result.quote.payment_preimage ?? null };
  }
  if (state === MeltQuoteState.PENDING) {
    return { state: 'pending', amount, feePaid: sat(0), preimage: null, entry: requireEntry(store, journalId) };
  }
  await host.tryResolve(opId);
  throw new PaymentFailed(`melt quote ${quote.quote} is ${state}`);
}

function withdrawalOf(store: WalletStore, opId: string, entry: JournalEntry): Withdrawal {
  const op = requireOperation(store, opId);
  return { state: 'paid', amount: entry.amount, feePaid: sat(op.fee), preimage: null, entry };
}
