/**
 * Minting a paid quote's proofs: the operation (with its NUT-13 output counters) is journaled
 * before the mint is asked, so recovery can restore outputs a crash cut off; the outputs are
 * chosen to top the exact-change inventory up.
 */
import { randomUUID } from 'node:crypto';
import type { MintQuoteBolt11Response, Proof } from '@cashu/cashu-ts';
import { sat, type Sat } from '../money/index.ts';
import { arrivingOutputs } from './denomination-inventory.ts';
import { failpoint } from './failpoint.ts';
import { collect, mapMintError, sumOf, type MintContext } from './mint-context.ts';
import type { OperationHost } from './operation-host.ts';
import type { CounterRangeRecord } from './store.ts';

/** Mints `amount` for a paid `quote`; returns the sats minted. One call per quote at a time (the caller guards it). */
export async function mintOnce(host: OperationHost, ctx: MintContext, quote: MintQuoteBolt11Response, amount: Sat): Promise<Sat> {
  const { store } = host;
  const counters: CounterRangeRecord[] = [];
  const outputs = arrivingOutputs(host.inventory, ctx.url, amount);
  const preview = await ctx.cashu.prepareMint('bolt11', amount, quote, { onCountersReserved: collect(counters) }, outputs);
  const opId = randomUUID();
  store.tx(() => {
    store.insertOperation({
      id: opId, kind: 'mint', mint: ctx.url, state: 'prepared', owner: host.owner, amount, fee: 0, counters,
      data: { quoteId: quote.quote },
    });
    store.upsertMintQuote({ id: quote.quote, mint: ctx.url, amount, request: quote.request, state: 'paid' });
  });
  failpoint('fund:before-mint');
  let proofs: Proof[];
  try {
    proofs = await ctx.cashu.completeMint(preview);
  } catch (error) {
    await host.tryResolve(opId);
    throw mapMintError(error, 'mint');
  }
  failpoint('fund:after-mint');
  store.tx(() => {
    store.insertProofs(ctx.url, proofs, 'unspent', opId);
    store.updateOperation(opId, { state: 'done' });
    store.upsertMintQuote({ id: quote.quote, mint: ctx.url, amount, request: quote.request, state: 'issued' });
  });
  return sat(sumOf(proofs));
}
