/**
 * Group commit of Bearer settlements: a settled request is charged in memory at once and its
 * settlement waits here until a group of them is written in one BEGIN IMMEDIATE transaction — one
 * fsync for many requests instead of one each. A group is written when it is full or on a short
 * timer; that commit does not wait for the disk on the event loop (where a 0.4–4 ms fsync would
 * stall every request in flight): the log is fsynced right after, in libuv's thread pool.
 * `flush()` (refunds and payouts call it first) and close commit and fsync before they return.
 *
 * Why an answer may leave before its settlement is durable: a settlement only ever moves money
 * from a buyer's account to the node's revenue. A crash before its group commits loses exactly
 * that move — the buyer keeps msats for an answer it got, and the node's revenue (hence what an
 * operator may withdraw) never counted them. Nothing the node owes is lost: deposits, top-ups,
 * refunds and payouts are committed before they answer, and the wallet still holds every sat the
 * lost charges were for. So every crash on this path favours the buyer, and value is conserved:
 * Σ account balances + revenue = Σ deposits, to the msat, in every committed state.
 * A power cut keeps a prefix of the commits (sqlite replays the write-ahead log up to its first
 * torn frame, and every ordinary commit fsyncs the whole log): what it loses beyond SIGKILL is at
 * most the unsynced settlement groups at the log's end — the same buyer-favouring loss.
 *
 * Failpoints (crash tests): `payee:group-commit:before-write` (a group taken, nothing written),
 * `payee:group-commit:before-commit` (rows written, not committed: rolled back on open),
 * `payee:group-commit:after-commit` (committed, not yet dropped from memory).
 */
import { closeSync, fdatasync, openSync } from 'node:fs';
import { failpoint } from '../../wallet/failpoint.ts';
import type { PayeeStore } from './payee-store.ts';

/** One Bearer request's settlement: its reservation closed at the charged cost. */
export interface Settlement {
  readonly reservationId: string;
  readonly apiKey: string;
  readonly reservedMsat: number;
  readonly chargedMsat: number;
}

/** How settlements are grouped (defaults: 256 per group, at most 10 ms in memory). */
export interface SettlementGroupOptions {
  /** Most settlements in one group; a full group is written at once. */
  readonly maxGroup?: number;
  /** Longest a settlement waits in memory before its group is written. */
  readonly intervalMs?: number;
}

/** Settlements charged in memory, waiting for their group's commit; see the module doc. */
export class SettlementGroup {
  readonly #store: PayeeStore;
  readonly #maxGroup: number;
  readonly #intervalMs: number;
  #pending = new Map<string, Settlement>();
  #pendingChargedMsat = 0;
  #timer: NodeJS.Timeout | undefined;
  #wal: { fd: number; syncing: boolean; again: boolean; closed: boolean } | undefined;

  constructor(store: PayeeStore, options: SettlementGroupOptions = {}) {
    this.#store = store;
    this.#maxGroup = Math.max(1, Math.floor(options.maxGroup ?? 256));
    this.#intervalMs = Math.max(0, options.intervalMs ?? 10);
  }

  /** Queues a settlement; it is durable after the next group commit. */
  add(s: Settlement): void {
    this.#pending.set(s.reservationId, s);
    this.#pendingChargedMsat += s.chargedMsat;
    if (this.#pending.size < this.#maxGroup) return this.#arm();
    try {
      this.#commit(false);
    } catch {
      this.#arm(); // the database refused the write: tried again on the timer (see `backlogged`)
    }
  }

  /** True while the books cannot be written and settlements pile up: new reservations are refused (memory stays bounded). */
  get backlogged(): boolean {
    return this.#pending.size >= 4 * this.#maxGroup;
  }

  /** A settlement not yet committed (repeat settles answer from it). */
  pending(reservationId: string): Settlement | undefined {
    return this.#pending.get(reservationId);
  }

  /** msats charged in memory and not yet committed. */
  get pendingChargedMsat(): number {
    return this.#pendingChargedMsat;
  }

  /** Commits every pending settlement in one transaction, durable when it returns. Throws if the write fails; they stay pending. */
  flush(): void {
    this.#commit(true);
  }

  #commit(synced: boolean): void {
    this.#disarm();
    if (this.#pending.size === 0) return;
    const group = [...this.#pending.values()];
    failpoint('payee:group-commit:before-write');
    const write = (): void => {
      this.#store.writeSettlements(group);
      failpoint('payee:group-commit:before-commit');
    };
    if (synced) this.#store.tx(write);
    else this.#store.txUnsynced(write);
    failpoint('payee:group-commit:after-commit');
    // Committed: out of memory before anything else can fail. Settlements added while the write ran
    // (none today: it is synchronous) stay for the next group.
    for (const s of group) {
      this.#pending.delete(s.reservationId);
      this.#pendingChargedMsat -= s.chargedMsat;
    }
    if (!synced) this.#syncLog();
  }

  /** Flushes and stops the timer (the payee is closing). */
  close(): void {
    this.#disarm();
    try {
      this.flush();
    } finally {
      const wal = this.#wal;
      this.#wal = undefined;
      if (wal) {
        wal.closed = true;
        if (!wal.syncing) closeSync(wal.fd); // else the running sync's callback closes it
      }
    }
  }

  // One fsync of the log at a time, off the event loop; commits made while it runs get the next one.
  #syncLog(): void {
    if (this.#store.walPath === '') return;
    try {
      this.#wal ??= { fd: openSync(this.#store.walPath, 'r'), syncing: false, again: false, closed: false };
    } catch {
      return; // no descriptor now (EMFILE…): the next ordinary commit syncs the log, as after a failed sync
    }
    const wal = this.#wal;
    if (wal.syncing) return void (wal.again = true);
    wal.syncing = true;
    wal.again = false;
    fdatasync(wal.fd, () => {
      wal.syncing = false;
      if (wal.closed) return closeSync(wal.fd);
      // A failed sync loses nothing a crash would not: the next ordinary commit syncs the log again.
      if (wal.again) this.#syncLog();
    });
  }

  #arm(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      try {
        this.#commit(false);
      } catch {
        // The database refused the write (locked, disk full): the group stays in memory and is tried again.
        this.#arm();
      }
    }, this.#intervalMs);
    // An exit without close() loses the pending charges: the buyer's gain (module doc), never a hang.
    this.#timer.unref();
  }

  #disarm(): void {
    if (this.#timer === undefined) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
