/**
 * The payer's `budget.totalSat` as a ledger: an amount is reserved when its token is made (before
 * it leaves), and settled when its fate is known — what the provider kept counts as spent, what
 * came back is released. Reserve is synchronous, so concurrent requests can never together put
 * more at risk than the budget allows.
 */
import { sat } from '../../money/index.ts';
import { BudgetExceeded } from '../../wallet/index.ts';

/** Sats at risk for one payment until it settles. */
export interface Reservation {
  readonly amountSat: number;
  /** Settles the reservation: `keptSat` (at most the amount) counts as spent, the rest is released. Idempotent. */
  settle(keptSat: number): void;
}

export class BudgetLedger {
  readonly #totalSat: number | undefined;
  #spentSat = 0;
  #reservedSat = 0;

  constructor(totalSat: number | undefined) {
    this.#totalSat = totalSat;
  }

  /** Sats the settled payments took. */
  get spentSat(): number {
    return this.#spentSat;
  }

  /** Sats reserved by payments not settled yet. */
  get reservedSat(): number {
    return this.#reservedSat;
  }

  /** Throws BudgetExceeded if `amountSat` more would go over the total (spent + reserved). */
  check(amountSat: number): void {
    const total = this.#totalSat;
    if (total !== undefined && this.#spentSat + this.#reservedSat + amountSat > total) {
      throw new BudgetExceeded({ kind: 'window', windowMs: Number.MAX_SAFE_INTEGER, limit: sat(total) }, sat(this.#spentSat + this.#reservedSat + amountSat - total));
    }
  }

  /** Checks and reserves `amountSat` in one step. */
  reserve(amountSat: number): Reservation {
    this.check(amountSat);
    this.#reservedSat += amountSat;
    let open = true;
    return {
      amountSat,
      settle: (keptSat: number): void => {
        if (!open) return;
        open = false;
        this.#reservedSat -= amountSat;
        this.#spentSat += Math.min(amountSat, Math.max(0, keptSat));
      },
    };
  }

  /** Counts a spend that had no reservation (a session debit beyond its reservation). */
  count(keptSat: number): void {
    this.#spentSat += Math.max(0, keptSat);
  }
}
