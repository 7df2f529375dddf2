/**
 * The payer's budgets as a ledger: an amount is reserved when its token is made (before it
 * leaves), and settled when its fate is known — what the provider kept counts as spent, what
 * came back is released. Reserve is synchronous, so concurrent requests can never together put
 * more at risk than a cap allows. `perRunSat` counts this payer's spend; `totalSat` counts every
 * spend ever recorded in the wallet's database (`TotalSpend`), so it survives restarts.
 */
import { sat } from '../../money/index.ts';
import { BudgetExceeded, TOTAL_BUDGET } from '../../wallet/index.ts';

/** Sats at risk for one payment until it settles. */
export interface Reservation {
  readonly amountSat: number;
  /** Settles the reservation: `keptSat` (at most the amount) counts as spent, the rest is released. Idempotent. */
  settle(keptSat: number): void;
}

/** The caps a ledger enforces. */
export interface LedgerCaps {
  perRunSat?: number | undefined;
  totalSat?: number | undefined;
}

/** Where the lifetime ("total") spend is kept: the wallet's database. */
export interface TotalSpend {
  spent(): number;
  add(sat: number): void;
}

/** The wallet database's "total" budget as a TotalSpend. */
export function walletTotalSpend(store: { budgetSpent(name: string): number; addBudgetSpent(name: string, amount: number): void }): TotalSpend {
  return { spent: () => store.budgetSpent(TOTAL_BUDGET), add: (kept) => store.addBudgetSpent(TOTAL_BUDGET, kept) };
}

export class BudgetLedger {
  readonly #caps: LedgerCaps;
  readonly #total: TotalSpend | undefined;
  #spentSat = 0;
  #reservedSat = 0;

  constructor(caps: LedgerCaps, total?: TotalSpend) {
    this.#caps = caps;
    this.#total = total;
  }

  /** Sats the settled payments of this run took. */
  get spentSat(): number {
    return this.#spentSat;
  }

  /** Sats reserved by payments not settled yet. */
  get reservedSat(): number {
    return this.#reservedSat;
  }

  /** Throws BudgetExceeded if `amountSat` more would go over a cap (spent + reserved). */
  check(amountSat: number): void {
    const { perRunSat, totalSat } = this.#caps;
    const run = this.#spentSat + this.#reservedSat + amountSat;
    if (perRunSat !== undefined && run > perRunSat) {
      throw new BudgetExceeded({ kind: 'per_run', limit: sat(perRunSat) }, sat(run - perRunSat));
    }
    if (totalSat !== undefined) {
      const spent = this.#total?.spent() ?? this.#spentSat;
      const total = spent + this.#reservedSat + amountSat;
      if (total > totalSat) throw new BudgetExceeded({ kind: 'total', limit: sat(totalSat), spent: sat(spent) }, sat(total - totalSat));
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
        this.#spend(Math.min(amountSat, Math.max(0, keptSat)));
      },
    };
  }

  /** Counts a spend that had no reservation (a session debit beyond its reservation). */
  count(keptSat: number): void {
    this.#spend(Math.max(0, keptSat));
  }

  #spend(keptSat: number): void {
    if (keptSat === 0) return;
    this.#spentSat += keptSat;
    this.#total?.add(keptSat);
  }
}
