import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sat } from '../money/index.ts';
import { storeBackends } from '../storage/store-backends.ts';
import { checkBudget, checkTotalBudget, TOTAL_BUDGET } from './budget.ts';
import { WalletStore } from './store.ts';
import { BudgetExceeded } from './errors.ts';

describe('checkBudget', () => {
  it('refuses exactly when a cap would be exceeded, and reports by how much', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10_000 }),
        fc.option(fc.integer({ min: 0, max: 10_000 }), { nil: undefined }),
        fc.integer({ min: 0, max: 10_000 }),
        fc.integer({ min: 0, max: 20_000 }),
        (amount, perRequest, spent, windowMax) => {
          const budgets = { ...(perRequest === undefined ? {} : { perRequestMax: sat(perRequest) }), windows: [{ windowMs: 1000, max: sat(windowMax) }] };
          let since = -1;
          const run = (): void => checkBudget(budgets, sat(amount), 5000, (t) => ((since = t), spent));
          if (perRequest !== undefined && amount > perRequest) {
            expect(run).toThrow(BudgetExceeded);
            const e = (() => { try { run(); } catch (x) { return x as BudgetExceeded; } })();
            expect(e?.cap).toEqual({ kind: 'per_request', limit: perRequest });
            expect(e?.over).toBe(amount - perRequest);
          } else if (spent + amount > windowMax) {
            const e = (() => { try { run(); } catch (x) { return x as BudgetExceeded; } })();
            expect(e).toBeInstanceOf(BudgetExceeded);
            expect(e?.cap).toEqual({ kind: 'window', windowMs: 1000, limit: windowMax });
            expect(e?.over).toBe(spent + amount - windowMax);
            expect(since).toBe(4000);
          } else {
            expect(run).not.toThrow();
          }
        },
      ),
    );
  });

  it('allows anything without budgets', () => {
    expect(() => checkBudget(undefined, sat(1_000_000), 0, () => 1e9)).not.toThrow();
  });
});

describe.each(storeBackends('total-budget'))('the total budget on $name', (backend) => {
  it('keeps its spend in the wallet file: a reopened store (a restart) still counts it, and the cap refuses what would pass it', async () => {
    const path = await backend.fresh('wallet');
    const first = new WalletStore(path);
    first.addBudgetSpent(TOTAL_BUDGET, 30);
    first.addBudgetSpent(TOTAL_BUDGET, 12);
    first.close();
    const reopened = new WalletStore(path);
    expect(reopened.budgetSpent(TOTAL_BUDGET)).toBe(42);
    expect(() => checkTotalBudget(sat(50), sat(8), reopened.budgetSpent(TOTAL_BUDGET))).not.toThrow();
    const refused = (() => { try { checkTotalBudget(sat(50), sat(9), reopened.budgetSpent(TOTAL_BUDGET)); } catch (e) { return e as BudgetExceeded; } })();
    expect(refused).toBeInstanceOf(BudgetExceeded);
    expect(refused?.cap).toEqual({ kind: 'total', limit: 50, spent: 42 });
    expect(refused?.over).toBe(1);
    expect(() => reopened.addBudgetSpent(TOTAL_BUDGET, 1.5)).toThrow(RangeError);
    reopened.close();
  });
});
