/**
 * Bearer (`sk-`) accounts on the request path, in memory: an account's balance and totals are
 * loaded from the books once and kept here, reservations live only here, and settlements are
 * charged here at once and committed in groups (settlement-group.ts, with the crash argument).
 *
 * This is sound because the node process is the only writer of its payee file: every durable
 * change to an account (deposit, top-up, refund) goes through the Payee, which mirrors it here
 * with `adjust()`. A second Payee on the same books is refused at open (registerOnBooks in
 * shared-ledger.ts); several processes on one database use shared books (shared-ledger.ts).
 *
 * A reservation is never written: a crash that loses one loses nothing, since nothing was charged
 * under it. The books' `reserved_msat` column stays 0 (only older versions wrote it; their held
 * reservations are released on open).
 */
import { randomUUID } from 'node:crypto';
import { insufficientBalanceError, invalidRequestError, keyNotFoundError } from './payee-errors.ts';
import type { PayeeStore } from './payee-store.ts';
import { SettlementGroup, type SettlementGroupOptions } from './settlement-group.ts';

/** An account as the node knows it now: committed books plus what is charged in memory. */
export interface LiveAccount {
  balanceMsat: number;
  reservedMsat: number;
  totalRequests: number;
  totalSpentMsat: number;
}

/** In-memory Bearer accounts and reservations over the payee's books; see the module doc. */
export class SessionLedger {
  readonly #store: PayeeStore;
  readonly #settlements: SettlementGroup;
  // Loaded once per account that is used (only paid-for accounts exist: memory grows with deposits, not requests).
  readonly #accounts = new Map<string, LiveAccount>();
  // Held reservations: one per request in flight.
  readonly #reservations = new Map<string, { apiKey: string; amountMsat: number }>();

  constructor(store: PayeeStore, options: SettlementGroupOptions = {}) {
    this.#store = store;
    this.#settlements = new SettlementGroup(store, options);
  }

  /** The account's live figures, or undefined when no such key exists. */
  account(apiKey: string): LiveAccount | undefined {
    const cached = this.#accounts.get(apiKey);
    if (cached) return cached;
    const row = this.#store.account(apiKey);
    if (!row) return undefined;
    const live = { balanceMsat: row.balanceMsat, reservedMsat: 0, totalRequests: row.totalRequests, totalSpentMsat: row.totalSpentMsat };
    this.#accounts.set(apiKey, live);
    return live;
  }

  /** Reserves the gate from the available balance (402 insufficient_balance); returns the reservation id. */
  reserve(apiKey: string, gateMsat: number): string {
    const a = this.account(apiKey);
    if (!a) throw keyNotFoundError();
    if (this.#settlements.backlogged) throw invalidRequestError('books_unavailable', 'The node cannot write its books now; try again later', 503);
    const available = a.balanceMsat - a.reservedMsat;
    if (available < gateMsat) throw insufficientBalanceError(gateMsat, available, a.reservedMsat);
    const id = randomUUID();
    a.reservedMsat += gateMsat;
    this.#reservations.set(id, { apiKey, amountMsat: gateMsat });
    return id;
  }

  /**
   * Settles a reservation at the real cost (as routstr-core: above the reservation it is charged
   * as far as the balance goes), charged now and committed with its group; idempotent.
   */
  settle(reservationId: string, costMsat: number): { chargedMsat: number; remainingMsat: number } {
    const r = this.#reservations.get(reservationId);
    if (!r) return this.#settledBefore(reservationId);
    const a = this.account(r.apiKey) as LiveAccount;
    const charged = Math.min(Math.max(0, Math.ceil(costMsat)), a.balanceMsat);
    this.#reservations.delete(reservationId);
    a.reservedMsat -= r.amountMsat;
    a.balanceMsat -= charged;
    a.totalRequests += 1;
    a.totalSpentMsat += charged;
    this.#settlements.add({ reservationId, apiKey: r.apiKey, reservedMsat: r.amountMsat, chargedMsat: charged });
    return { chargedMsat: charged, remainingMsat: a.balanceMsat - a.reservedMsat };
  }

  /** Releases a held reservation without charging (the upstream failed); unknown ids are ignored. */
  release(reservationId: string): void {
    const r = this.#reservations.get(reservationId);
    if (!r) return;
    this.#reservations.delete(reservationId);
    const a = this.#accounts.get(r.apiKey);
    if (a) a.reservedMsat -= r.amountMsat;
  }

  /** Mirrors a committed change of an account's balance (deposit +, refund −, refund put back +). */
  adjust(apiKey: string, deltaMsat: number): void {
    const a = this.#accounts.get(apiKey);
    if (a) a.balanceMsat += deltaMsat;
  }

  /** msats charged in memory, not yet committed (revenue the books do not show yet). */
  get pendingChargedMsat(): number {
    return this.#settlements.pendingChargedMsat;
  }

  /** Commits every pending settlement now (one transaction). */
  flush(): void {
    this.#settlements.flush();
  }

  /** Commits what is pending and stops the group timer. */
  close(): void {
    this.#settlements.close();
  }

  // A repeat settle answers what the first one charged: from memory while its group is pending, else from the books.
  #settledBefore(reservationId: string): { chargedMsat: number; remainingMsat: number } {
    const pending = this.#settlements.pending(reservationId);
    const row = pending ? undefined : this.#store.reservation(reservationId);
    if (!pending && row?.state !== 'settled') throw new Error(`unknown reservation ${reservationId}`);
    const apiKey = pending?.apiKey ?? (row?.apiKey as string);
    const a = this.account(apiKey);
    return { chargedMsat: pending?.chargedMsat ?? row?.costMsat ?? 0, remainingMsat: a ? a.balanceMsat - a.reservedMsat : 0 };
  }
}
