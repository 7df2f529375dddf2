/**
 * Bearer (`sk-`) accounts for shared books: several node processes (or several Payees) on one
 * payee database. Nothing is cached: every reserve, settle and release is one transaction that
 * reads the account row, checks, and writes — on sqlite serialised with every other writer (BEGIN
 * IMMEDIATE); on PostgreSQL reserve and settle are each one statement on row locks only
 * (PayeeStore.holdIfCovered / settleIfHeld: no namespace lock, so processes do not queue behind
 * each other's requests), and every other writer of these rows locks what it reads (lockAccount,
 * lockHeld) — so read-check-write is safe across processes and a balance never goes below zero.
 *
 * A reservation is a row ('held', with its owner) and adds to the account's `reserved_msat`; a
 * settlement closes it, debits the balance, and records the charge, in one transaction. These
 * commits do not wait for the disk (txUnsynced): like the single-process group commit
 * (settlement-group.ts), a reservation or a settlement only ever moves money from the buyer's
 * account to the node's revenue, so a power cut that loses the last of them favours the buyer;
 * every commit that pays money out (refund, payout) is synced and syncs those before it.
 * A process crash (SIGKILL) loses nothing committed. Held reservations of a process that died are
 * released by recovery, and by a reserve that finds the account short because of them.
 *
 * Failpoints (crash tests): `payee:reserve:after-commit` (held, the request not served),
 * `payee:settle:before-commit` (written, not committed: the reservation stays held and is released),
 * `payee:settle:after-commit` (charged, the answer not yet sent).
 */
import { randomUUID } from 'node:crypto';
import { OwnerRegistry } from '../../storage/index.ts';
import { failpoint } from '../../wallet/failpoint.ts';
import { insufficientBalanceError, keyNotFoundError } from './payee-errors.ts';
import type { AccountRecord, PayeeStore } from './payee-store.ts';
import type { LiveAccount } from './session-ledger.ts';

/** What the Payee needs of its Bearer accounts (in memory: SessionLedger; shared books: SharedLedger). */
export interface BearerLedger {
  account(apiKey: string): LiveAccount | undefined;
  reserve(apiKey: string, gateMsat: number): string;
  settle(reservationId: string, costMsat: number): { chargedMsat: number; remainingMsat: number };
  release(reservationId: string): void;
  /** Mirrors a committed balance change in memory (nothing to do without a cache). */
  adjust(apiKey: string, deltaMsat: number): void;
  readonly pendingChargedMsat: number;
  flush(): void;
  close(): void;
}

/** Who works on what: this process's owner id, and whether a record's owner is gone. */
export interface Ownership {
  readonly owner: string;
  /** True when a record written by `owner` may be taken over: nobody, or a process that is gone (never this one). */
  mayTake(owner: string | null): boolean;
}

const live = (a: AccountRecord): LiveAccount => ({
  balanceMsat: a.balanceMsat, reservedMsat: a.reservedMsat, totalRequests: a.totalRequests, totalSpentMsat: a.totalSpentMsat,
});

/** Bearer accounts read and written in the books on every call; see the module doc. */
export class SharedLedger implements BearerLedger {
  readonly #store: PayeeStore;
  readonly #ownership: Ownership;

  constructor(store: PayeeStore, ownership: Ownership) {
    this.#store = store;
    this.#ownership = ownership;
  }

  /** The account as the books hold it now, or undefined when no such key exists. */
  account(apiKey: string): LiveAccount | undefined {
    const a = this.#store.account(apiKey);
    return a ? live(a) : undefined;
  }

  /** Reserves the gate from the available balance in one transaction (402 insufficient_balance); returns the reservation id. */
  reserve(apiKey: string, gateMsat: number): string {
    const id = randomUUID();
    // PostgreSQL: the common case in one statement (each call to the database is a round trip); else
    // (or when it did not cover the gate) the same check in a transaction, which also says why it failed.
    if (this.#store.dialect === 'postgres' && this.#store.holdIfCovered({ id, apiKey, amountMsat: gateMsat, owner: this.#ownership.owner })) {
      failpoint('payee:reserve:after-commit');
      return id;
    }
    this.#store.txUnsynced(() => {
      let a = this.#store.lockAccount(apiKey);
      if (!a) throw keyNotFoundError();
      if (a.balanceMsat - a.reservedMsat < gateMsat && a.reservedMsat > 0 && freeGoneHolds(this.#store, apiKey, (o) => this.#ownership.mayTake(o))) {
        a = this.#store.lockAccount(apiKey) as AccountRecord;
      }
      const available = a.balanceMsat - a.reservedMsat;
      if (available < gateMsat) throw insufficientBalanceError(gateMsat, available, a.reservedMsat);
      this.#store.holdReservation({ id, apiKey, amountMsat: gateMsat, owner: this.#ownership.owner });
    });
    failpoint('payee:reserve:after-commit');
    return id;
  }

  /**
   * Settles a reservation at the real cost (above the reservation it is charged as far as the
   * balance goes, as routstr-core) in one transaction; a repeat answers what the first charged.
   */
  settle(reservationId: string, costMsat: number): { chargedMsat: number; remainingMsat: number } {
    if (this.#store.dialect === 'postgres') return this.#settleInOne(reservationId, costMsat);
    const settled = this.#store.txUnsynced(() => {
      const r = this.#store.reservation(reservationId);
      if (!r || r.state === 'released') throw new Error(`unknown reservation ${reservationId}`);
      const a = this.#store.account(r.apiKey) as AccountRecord;
      if (r.state === 'settled') return { chargedMsat: r.costMsat ?? 0, remainingMsat: a.balanceMsat - a.reservedMsat };
      const charged = Math.min(Math.max(0, Math.ceil(costMsat)), a.balanceMsat);
      this.#store.closeHeld(r, { state: 'settled', chargedMsat: charged });
      failpoint('payee:settle:before-commit');
      return { chargedMsat: charged, remainingMsat: a.balanceMsat - charged - Math.max(0, a.reservedMsat - r.amountMsat) };
    });
    failpoint('payee:settle:after-commit');
    return settled;
  }

  /** Releases a held reservation without charging (the upstream failed); unknown or closed ids are ignored. */
  release(reservationId: string): void {
    this.#store.txUnsynced(() => {
      const r = this.#store.lockHeld(reservationId);
      if (r) this.#store.closeHeld(r, { state: 'released' });
    });
  }

  // PostgreSQL: one statement settles (a repeat changes nothing), one read answers what was charged.
  #settleInOne(reservationId: string, costMsat: number): { chargedMsat: number; remainingMsat: number } {
    failpoint('payee:settle:before-commit'); // here: nothing written yet (the statement commits as a whole)
    this.#store.settleIfHeld(reservationId, Math.max(0, Math.ceil(costMsat)));
    failpoint('payee:settle:after-commit');
    const r = this.#store.reservationWithAccount(reservationId);
    if (r?.state !== 'settled') throw new Error(`unknown reservation ${reservationId}`);
    return { chargedMsat: r.costMsat ?? 0, remainingMsat: r.balanceMsat - r.reservedMsat };
  }

  adjust(): void {
    // the books are the only copy: a committed change is already what the next read sees
  }

  get pendingChargedMsat(): number {
    return 0;
  }

  flush(): void {
    // every settlement is committed when settle() returns
  }

  close(): void {
    // nothing held in memory
  }
}

/** Releases an account's reservations held by processes that are gone (call inside tx); true when any was. */
export function freeGoneHolds(store: PayeeStore, apiKey: string, mayTake: (owner: string | null) => boolean): boolean {
  let freed = false;
  for (const seen of store.heldReservations(apiKey)) {
    if (!mayTake(seen.owner)) continue; // a live process's holds are not locked (its settle must not wait on this)
    const r = store.lockHeld(seen.id);
    if (!r || !mayTake(r.owner)) continue;
    store.closeHeld(r, { state: 'released' });
    freed = true;
  }
  return freed;
}

// Marks a single-process Payee's id on the books (it caches balances: nobody else may write them).
const SINGLE = 'single-';

/**
 * Registers a Payee on its books (live while it is open; gone when closed or its process dies) and
 * refuses the mixes whose cached balances would go stale: a single-process Payee while any other
 * Payee is live on the books, or a shared one while a single-process one is. Returns its id.
 */
export function registerOnBooks(store: PayeeStore, shared: boolean): { registry: OwnerRegistry; id: string } {
  const registry = new OwnerRegistry(store);
  const id = `${process.pid}:${shared ? '' : SINGLE}${randomUUID()}`;
  store.tx(() => {
    const live = store.registeredOwners().filter((o) => !registry.gone(o));
    if (live.some((o) => o.includes(`:${SINGLE}`)) || (!shared && live.length > 0)) {
      throw new Error(
        shared || live.some((o) => o.includes(`:${SINGLE}`))
          ? 'the payee books are open in a single-process Payee: close it, or open every Payee on these books with shared: true'
          : 'the payee books are open shared by another process: open this Payee with shared: true',
      );
    }
    registry.register(id);
  });
  return { registry, id };
}
