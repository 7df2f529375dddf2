/**
 * Receiving: foreign (or reclaimed, or kept incoming) proofs swapped into our own. Write-ahead as
 * every swap: the incoming proofs and our output counters are durable before the mint is called,
 * so recovery can finish a swap a crash cut off (NUT-07 state check, NUT-09 restore).
 */
import { randomUUID } from 'node:crypto';
import type { ProofLike } from '@cashu/cashu-ts';
import { sat, type Sat } from '../money/index.ts';
import { arrivingOutputs } from './denomination-inventory.ts';
import { MintRefused, UnreadableToken, WalletError } from './errors.ts';
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
    // The inputs go without their DLEQ proofs (NUT-12): cashu-ts would check each one here, the
    // costliest curve maths of a receive (~10 ms a proof in pure JS), and it proves nothing the swap
    // does not: the mint verifies every input's signature before it signs our outputs, and refuses a
    // forged one (NUT code 10003, read as an unreadable token). A DLEQ lets a receiver trust proofs it
    // keeps without asking the mint; every receive here asks the mint at once.
    preview = await ctx.swaps.prepareSwapToReceive(inputs.map(withoutDleq), { onCountersReserved: collect(counters) }, outputs);
  } catch (error) {
    // Only the token's own faults (unknown keyset, malformed proofs) make it unreadable; the
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
    const mapped = mapMintError(error, 'receive');
    // The token's own fault, found by the mint (the inputs' DLEQ was not checked here: see above).
    if (mapped instanceof MintRefused && mapped.mintCode !== undefined && TOKEN_FAULT_CODES.has(mapped.mintCode)) {
      throw new UnreadableToken(`cannot receive token: the mint could not verify it (${mapped.message})`, { cause: mapped });
    }
    throw mapped;
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

/** A proof without its DLEQ proof (cashu-ts's stripDleq takes its stricter Proof type). */
function withoutDleq({ dleq: _dleq, ...proof }: ProofLike): ProofLike {
  return proof;
}

/** NUT error codes that say the token itself is bad: 10003 "token could not be verified", 12001 "keyset not known". */
const TOKEN_FAULT_CODES: ReadonlySet<number> = new Set([10003, 12001]);

/** An error of node:sqlite (the counter reservation's write failed), not of the token. */
function isStorageError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 'ERR_SQLITE_ERROR';
}
