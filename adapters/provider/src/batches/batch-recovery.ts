/**
 * Recovery of batch lines whose claimer is gone (its process died, or its PostgreSQL session
 * closed), shared by a runner's start and its periodic passes; see BatchRunner's crash rule.
 */
import type { Payee } from '@routstr-kit/core';
import type { BatchStore } from './batch-store.ts';

/** Takes back the lines of claimers that are gone; returns the ids of the batches it changed. */
export async function recoverOrphanedLines(store: BatchStore, payee: Payee): Promise<Set<string>> {
  const changed = new Set<string>();
  for (const l of await store.orphanedLines('running')) {
    // Never answered, never charged. Moved on meanwhile (false): not ours to take.
    if (!(await store.resetPending(l.batchId, l.index, l.claimer, 'running'))) continue;
    // Released once taken back. An in-memory payee knows only this process's reservations (unknown ids are ignored).
    if (l.reservationId) payee.release(l.reservationId);
    changed.add(l.batchId);
  }
  for (const l of await store.orphanedLines('answered')) {
    const settled = (): number | undefined => {
      const r = l.reservationId ? payee.store.reservation(l.reservationId) : undefined;
      return r?.state === 'settled' ? (r.costMsat ?? 0) : undefined;
    };
    let cost = settled();
    if (cost === undefined && l.reservationId) {
      // Released first, so a runner still alive behind a gone claimer can no longer charge it; had it just charged, that shows now.
      payee.release(l.reservationId);
      cost = settled();
    }
    // Settled: charged once, done. Otherwise never charged: it runs again.
    const moved = cost !== undefined ? await store.markDone(l.batchId, l.index, l.claimer, cost) : await store.resetPending(l.batchId, l.index, l.claimer, 'answered');
    if (moved) changed.add(l.batchId);
  }
  return changed;
}
