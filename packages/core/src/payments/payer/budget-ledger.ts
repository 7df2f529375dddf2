/**
 * The payer's budgets as a ledger: an amount is reserved when its token is made (before it
 * leaves), and settled when its fate is known — what the provider kept counts as spent, what
 * came back is released. Reserve is synchronous, so concurrent requests can never together put
 * more at risk than a cap allows. `perRunSat` counts this payer's spend; `totalSat` counts every
 * spend ever recorded in the wallet's database (`TotalSpend`), so it survives restarts. Nothing
 * here touches the database on a request's path: the total is read once and written in groups.
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
  /** Writes what is counted but not yet stored (a no-op when nothing is). */
  flush(): void;
}

/** Runs `flush` a little later (the group commit of the total spend). */
export type FlushScheduler = (flush: () => void) => void;

/** How long counted spend may wait for its group write (the write is a synchronous fsync on the event loop). */
const TOTAL_FLUSH_MS = 1_000;

/** The default FlushScheduler: a timer that never keeps the process alive on its own. */
const timerFlush: FlushScheduler = (flush) => void setTimeout(flush, TOTAL_FLUSH_MS).unref();

/**
 * The wallet database's "total" budget as a TotalSpend, kept in memory and written in groups: one
 * transaction for the spends counted within TOTAL_FLUSH_MS (never on a request's path: node:sqlite
 * fsyncs on the event loop, ~0.4–3 ms each), and on close. Each write also reads the stored total
 * back, so spends of other payers on the same file are seen from then on. A crash loses at most the
 * spends counted since the last write, which lets a later run spend that much more under
 * `totalSat` — as a crash between a debit and its receipt always could; the money itself is in the
 * wallet's journal, never in this counter.
 */
export function walletTotalSpend(
  store: { budgetSpent(name: string): number; addBudgetSpent(name: string, amount: number): void; tx<T>(fn: () => T): T },
  schedule: FlushScheduler = timerFlush,
): TotalSpend {
  let known = store.budgetSpent(TOTAL_BUDGET);
  let unwritten = 0;
  let scheduled = false;
  const flush = (): void => {
    scheduled = false;
    if (unwritten === 0) return;
    const amount = unwritten;
    known = store.tx(() => {
      store.addBudgetSpent(TOTAL_BUDGET, amount);
      return store.budgetSpent(TOTAL_BUDGET);
    });
    unwritten -= amount; // only once written: a failed write keeps the count for the next try
  };
  const later = (): void => {
    try {
      flush();
    } catch {
      // the store refused (busy, full, or closed under a payer that was not): the count stays
      // unwritten and the next spend schedules another try; close() writes it too
    }
  };
  return {
    spent: () => known,
    add: (kept) => {
      known += kept;
      unwritten += kept;
      if (!scheduled) {
        scheduled = true;
        schedule(later);
      }
    },
    flush,
  };
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
    return this.hold(amountSat);
  }

  /**
   * Reserves `amountSat` without a check: for sats already at risk under another reservation that
   * is settled right after (change kept but not yet redeemed, moved out of its token's reservation).
   */
  hold(amountSat: number): Reservation {
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

  /** Writes the counted total spend now (close). */
  flush(): void {
    this.#total?.flush();
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
