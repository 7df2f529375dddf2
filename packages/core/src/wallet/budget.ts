import { sat, type Sat } from '../money/index.ts';
import { BudgetExceeded } from './errors.ts';

/** Spending caps checked before any value leaves the wallet. */
export interface Budgets {
  /** Largest single payment (token or withdrawal). */
  perRequestMax?: Sat;
  /** Rolling caps: at most `max` sats may leave within any `windowMs`. */
  windows?: ReadonlyArray<{ windowMs: number; max: Sat }>;
}

/**
 * Throws BudgetExceeded if paying `amount` now would break a cap. `spentSince(t)` answers how
 * many sats left after time t; it reads the journal inside the caller's transaction, so two
 * processes cannot both squeeze under the same cap.
 */
export function checkBudget(budgets: Budgets | undefined, amount: Sat, now: number, spentSince: (since: number) => number): void {
  if (!budgets) return;
  const perRequest = budgets.perRequestMax;
  if (perRequest !== undefined && amount > perRequest) {
    throw new BudgetExceeded({ kind: 'per_request', limit: perRequest }, sat(amount - perRequest));
  }
  for (const w of budgets.windows ?? []) {
    const total = spentSince(now - w.windowMs) + amount;
    if (total > w.max) throw new BudgetExceeded({ kind: 'window', windowMs: w.windowMs, limit: w.max }, sat(total - w.max));
  }
}

/** The budget kept in the wallet's database under this name: its spend survives restarts. */
export const TOTAL_BUDGET = 'total';

/** Throws BudgetExceeded if paying `amount` would take the wallet's lifetime spend (`spent`) over `limit`. */
export function checkTotalBudget(limit: Sat | undefined, amount: Sat, spent: number): void {
  if (limit === undefined || spent + amount <= limit) return;
  throw new BudgetExceeded({ kind: 'total', limit, spent: sat(spent) }, sat(spent + amount - limit));
}
