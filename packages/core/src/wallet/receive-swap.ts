/**
 * Receiving: foreign (or reclaimed, or kept incoming) proofs swapped into our own. Write-ahead as
 * every swap: the incoming proofs and our output counters are durable before the mint is called,
 * so recovery can finish a swap a crash cut off (NUT-07 state check, NUT-09 restore).
 */
import { randomUUID } from 'node:crypto';
import type { ProofLike } from '@cashu/cashu-ts';
import { sat, type Sat } from '../money/index.ts';
import { arrivingOutputs } from './denomination-inventory.ts';
import { UnreadableToken, WalletError } from './errors.ts';
import { failpoint } from './failpoint.ts';
import type { IncomingStore } from './incoming-store.ts';
import { collect, mapMintError, sumOf, toSats, type MintContext } from './mint-context.ts';
import type { OperationHost } from './operation-host.ts';
import type { CounterRangeRecord } from './store.ts';

/** What a receive settles besides crediting the proofs: a journal entry taken back, or a kept incoming token. */
export interface ReceiveLink {
  readonly reclaimOf?: string | null;
  readonly incomingOf?: string;
}

/** The failpoint family of a receive (`receive:*` for a live one, `incoming:*` for a kept token), or none. */
export type ReceivePoints = 'receive' | 'incoming' | null;

/** Swaps `inputs` into fresh proofs of ours; returns the sats credited (net of the keyset's fee). */
export async function receiveSwap(
  host: OperationHost,
  incoming: IncomingStore,
  ctx: MintContext,
  inputs: ProofLike[],
  link: ReceiveLink,
  points: ReceivePoints,
): Promise<Sat> {
  const { store } = host;
  const reclaimOf = link.reclaimOf ?? null;
  const incomingOf = link.incomingOf ?? null;
  const counters: CounterRangeRecord[] = [];
  let preview;
  try {
    // Background receives (kept tokens, reclaims) choose outputs that top the exact-change inventory up. A
    // receive someone waits on (a node redeeming before it serves) keeps the fewest outputs: each output is a
    // blind signature at the mint and curve maths here on the request's path; background refills fill the gaps.
    const outputs = points === 'receive' ? undefined : arrivingOutputs(host.inventory, ctx.url, sumOf(inputs) - toSats(ctx.cashu.getFeesForProofs(inputs)));
    // cashu-ts checks the inputs' DLEQ proofs here (in the curve pool): a token whose DLEQ does not
    // match is refused as unreadable before any mint call, which the payee's error codes rely on.
    preview = await ctx.swaps.prepareSwapToReceive(inputs, { onCountersReserved: collect(counters) }, outputs);
  } catch (error) {
    // Only the token's own faults (bad DLEQ, unknown keyset, malformed proofs) make it unreadable; the
    // wallet's (closed, a lost curve worker, a busy store) leave the token as it was, to be tried again.
    if (error instanceof WalletError || isStorageError(error)) throw error;
    throw new UnreadableToken(`cannot receive token: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  const opId = randomUUID();
  // Write-ahead: the incoming proofs and our output counters are durable before the swap.
  store.insertOperation({
    id: opId, kind: 'receive', mint: ctx.url, state: 'prepared', owner: host.owner, amount: sumOf(inputs), fee: 0, counters,
    data: { inputs: inputs.map((p) => ({ ...p, amount: toSats(p.amount) })), reclaimOf, ...(incomingOf ? { incomingOf } : {}) },
  });
  if (points) failpoint(`${points}:before-swap`);
  let result;
  try {
    result = await ctx.swaps.completeSwap(preview);
  } catch (error) {
    await host.tryResolve(opId);
    throw mapMintError(error, 'receive');
  }
  if (points) failpoint(`${points}:after-swap`);
  const proofs = [...result.keep, ...result.send];
  const credited = sumOf(proofs);
  store.tx(() => {
    store.insertProofs(ctx.url, proofs, 'unspent', opId);
    // The fee is what the keyset charges (NUT-02), not a residual, so a lost output shows as a shortfall.
    store.updateOperation(opId, { state: 'done', fee: toSats(preview.fees) });
    if (reclaimOf) store.updateJournal(reclaimOf, { status: 'reclaimed' });
    if (incomingOf) incoming.decide(incomingOf, { status: 'redeemed', credited });
  });
  if (points) failpoint(`${points}:after-store`);
  return sat(credited);
}

/** An error of node:sqlite (the counter reservation's write failed), not of the token. */
function isStorageError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 'ERR_SQLITE_ERROR';
}
