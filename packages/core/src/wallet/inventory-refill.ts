/**
 * The inventory's refill: a swap of surplus proofs into the denominations the inventory misses. It
 * is an operation like a send's swap — its inputs reserved and journaled (kind 'send', no journal
 * entry, `data.refill`) before the mint is called, its NUT-13 output counters journaled before the
 * swap — so the wallet's recovery finishes it (the mint signed: the restored outputs are ours) or
 * undoes it (the inputs are still unspent: they come back). Failpoints `inventory:*`.
 */
import { randomUUID } from 'node:crypto';
import type { Proof } from '@cashu/cashu-ts';
import { deficits, MAX_REFILL_OUTPUTS, refillInputs, toppingUp, type DenominationInventory } from './denomination-inventory.ts';
import { failpoint } from './failpoint.ts';
import { asProofLike, collect, mapMintError, sumOf, toSats, type MintContext } from './mint-context.ts';
import type { OperationHost } from './operation-host.ts';
import type { CounterRangeRecord } from './store.ts';

/** One refill swap at `ctx`'s mint; false when none was needed, allowed or possible. */
export async function refillOnce(host: OperationHost, inventory: DenominationInventory, ctx: MintContext, isClosed: () => boolean): Promise<boolean> {
  const { store } = host;
  const reservation = store.tx(() => {
    const counts = store.denominationCounts(ctx.url);
    const plan = refillInputs(inventory.policy, counts);
    if (!plan) return null;
    const inputs = store.unspentByPlan(ctx.url, plan).map(asProofLike);
    if (toSats(ctx.cashu.getFeesForProofs(inputs)) > 0 && !(inventory.policy.refillWithFees ?? false)) return null;
    const opId = randomUUID();
    store.insertOperation({
      id: opId, kind: 'send', mint: ctx.url, state: 'prepared', owner: host.owner, amount: sumOf(inputs), fee: 0, counters: [],
      data: { refill: true },
    });
    store.setProofState(inputs.map((p) => p.secret), 'pending', opId);
    return { opId, inputs, missing: deficits(inventory.policy, counts) };
  });
  if (!reservation) return false;
  const { opId, inputs, missing } = reservation;
  failpoint('inventory:after-reserve');
  const net = sumOf(inputs) - toSats(ctx.cashu.getFeesForProofs(inputs));
  const counters: CounterRangeRecord[] = [];
  let preview;
  try {
    preview = await ctx.swaps.prepareSwapToReceive(inputs, { onCountersReserved: collect(counters) }, {
      type: 'deterministic', counter: 0, denominations: toppingUp(net, missing, MAX_REFILL_OUTPUTS),
    });
  } catch (error) {
    await host.tryResolve(opId);
    throw mapMintError(error, 'inventory refill');
  }
  store.tx(() => store.updateOperation(opId, { counters }));
  failpoint('inventory:before-swap');
  // A wallet closed meanwhile leaves the reserved op to the next open's recovery rather than racing it at the mint.
  if (isClosed()) return false;
  let proofs: Proof[];
  try {
    const result = await ctx.swaps.completeSwap(preview);
    proofs = [...result.keep, ...result.send];
  } catch (error) {
    await host.tryResolve(opId);
    throw mapMintError(error, 'inventory refill');
  }
  failpoint('inventory:after-swap');
  store.tx(() => {
    store.setProofState(inputs.map((p) => p.secret), 'spent', opId);
    store.insertProofs(ctx.url, proofs, 'unspent', opId);
    store.updateOperation(opId, { state: 'done', fee: toSats(preview.fees) });
  });
  failpoint('inventory:after-store');
  return true;
}
