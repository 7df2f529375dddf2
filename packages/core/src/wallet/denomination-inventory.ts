/**
 * The denomination inventory: per mint, the wallet keeps `perDenomination` proofs of each power of
 * two up to the one that, with the smaller ones, covers `upTo` sats, so any amount up to `upTo` is
 * paid from exact proofs with no swap (no mint round trip on a request's path: an X-Cashu node's
 * change, a buyer's X-Cashu token). Receives and mints choose their output denominations to fill
 * what is missing, so the refill swap (a `send`-kind operation of our own proofs, journaled
 * write-ahead like every swap, finished or undone by the wallet's recovery) is rarely needed.
 *
 * Why powers of two and a count per denomination: one of each of 1..2^k pays any amount below
 * 2^(k+1) exactly; `perDenomination` copies let that many exact sends run at once before one has to
 * fall back to a swap. The default (every denomination up to 512, four of each: 4 092 sat) covers
 * X-Cashu change and tokens of up to 1 000 sat at four concurrent payments, which is what a node's
 * change and a buyer's per-request tokens look like, while a small wallet (a buyer holding 100 sat)
 * simply keeps what it can. At a mint that charges input fees a refill swap costs sats every time,
 * so by default refills run only at fee-free mints; receives still top the inventory up for free.
 */
import type { OutputType } from '@cashu/cashu-ts';
import type { WalletStore } from './store.ts';

/** How much exact-change inventory a wallet keeps per mint (`openWallet({ inventory })`). */
export interface InventoryPolicy {
  /** Any amount up to this many sats can be paid exactly from the inventory (default 1 000). */
  upTo: number;
  /** Proofs kept of each denomination: that many exact payments can run at once (default 4). */
  perDenomination: number;
  /** Also refill by swapping at mints that charge input fees (default false: receives top up for free). */
  refillWithFees?: boolean;
}

/** What `wallet.inventoryStats()` reports, counted since the wallet was opened. */
export interface InventoryStats {
  /** Sends paid from exact proofs (no mint call). */
  exactSends: number;
  /** Sends that found no exact proofs and swapped. */
  swapSends: number;
  /** Refill swaps finished. */
  refills: number;
}

/** The default policy (see the module doc for why). */
export const DEFAULT_INVENTORY_POLICY: InventoryPolicy = { upTo: 1000, perDenomination: 4, refillWithFees: false };

/** Most proofs one refill swap takes or makes (a bounded request to the mint). */
const MAX_REFILL_INPUTS = 16;

/** The policy an `openWallet` option means: default when absent, null when `false`; a bad one throws RangeError. */
export function resolveInventoryPolicy(option: InventoryPolicy | false | undefined): InventoryPolicy | null {
  if (option === false) return null;
  const policy = { ...DEFAULT_INVENTORY_POLICY, ...(option ?? {}) };
  if (!Number.isSafeInteger(policy.upTo) || policy.upTo < 1 || policy.upTo > 2 ** 40) throw new RangeError('inventory.upTo must be a whole number of sats, 1 to 2^40');
  if (!Number.isSafeInteger(policy.perDenomination) || policy.perDenomination < 1 || policy.perDenomination > 64) {
    throw new RangeError('inventory.perDenomination must be a whole number, 1 to 64');
  }
  return policy;
}

/** The denominations the policy keeps, smallest first: 1, 2, 4, … until they sum to at least `upTo`. */
export function inventoryDenominations(policy: InventoryPolicy): number[] {
  const out: number[] = [];
  let covered = 0;
  for (let d = 1; covered < policy.upTo; d *= 2) {
    out.push(d);
    covered += d;
  }
  return out;
}

/** How many proofs of each kept denomination are missing (only those with a deficit). */
export function deficits(policy: InventoryPolicy, counts: ReadonlyMap<number, number>): Map<number, number> {
  const out = new Map<number, number>();
  for (const d of inventoryDenominations(policy)) {
    const missing = policy.perDenomination - (counts.get(d) ?? 0);
    if (missing > 0) out.set(d, missing);
  }
  return out;
}

/**
 * Most outputs one refill swap asks the mint to sign: a deep inventory (a node keeps as many proofs
 * of each denomination as it runs requests at once) is filled over several bounded background swaps,
 * never by one that keeps a single-threaded mint busy for seconds while live redeems wait behind it.
 */
export const MAX_REFILL_OUTPUTS = 64;

/**
 * Output denominations, summing to at most `amount` and at most `maxOutputs` of them, that fill the
 * deficits smallest first (the small ones run out first); the caller's library splits whatever is
 * left in powers of two.
 */
export function toppingUp(amount: number, missing: ReadonlyMap<number, number>, maxOutputs = Infinity): number[] {
  const out: number[] = [];
  let left = amount;
  for (const d of [...missing.keys()].sort((a, b) => a - b)) {
    for (let i = 0; i < (missing.get(d) ?? 0) && d <= left && out.length < maxOutputs; i++) {
      out.push(d);
      left -= d;
    }
  }
  return out;
}

/**
 * How many proofs of each denomination pay `amount` exactly, or null when the proofs on hand cannot.
 * Largest first is complete here: in a system where every denomination divides the next, smaller
 * proofs that sum to at least d always hold a subset summing to exactly d, so taking the largest
 * that fits never rules out an exact payment.
 */
export function exactPlan(amount: number, counts: ReadonlyMap<number, number>): Map<number, number> | null {
  const plan = new Map<number, number>();
  let left = amount;
  for (const d of [...counts.keys()].sort((a, b) => b - a)) {
    if (left === 0) break;
    const take = Math.min(counts.get(d) ?? 0, Math.floor(left / d));
    if (take > 0) {
      plan.set(d, take);
      left -= take * d;
    }
  }
  return left === 0 ? plan : null;
}

/**
 * The proofs a refill swaps: surplus (denominations the policy does not keep, or copies beyond
 * `perDenomination`), largest first, until they cover what is missing. Null when no denomination is
 * below its low-water mark or nothing would improve.
 */
export function refillInputs(policy: InventoryPolicy, counts: ReadonlyMap<number, number>): Map<number, number> | null {
  const missing = deficits(policy, counts);
  // Refill only once a denomination is down to under half its count, then fill every gap in one swap:
  // one refill per several payments instead of a mint call after every one.
  const lowWater = Math.ceil(policy.perDenomination / 2);
  if (![...missing.values()].some((k) => policy.perDenomination - k < lowWater)) return null;
  let need = 0;
  for (const [d, k] of missing) need += d * k;
  const kept = new Set(inventoryDenominations(policy));
  const take = new Map<number, number>();
  let got = 0;
  let n = 0;
  for (const d of [...counts.keys()].sort((a, b) => b - a)) {
    const surplus = (counts.get(d) ?? 0) - (kept.has(d) ? policy.perDenomination : 0);
    for (let i = 0; i < surplus && got < need && n < MAX_REFILL_INPUTS; i++) {
      take.set(d, (take.get(d) ?? 0) + 1);
      got += d;
      n++;
    }
  }
  // A refill that can only re-make the same denominations it takes changes nothing.
  if (got === 0 || toppingUp(got, missing).length === 0) return null;
  return take;
}

/** A wallet's inventory: its policy over the wallet's store. */
export class DenominationInventory {
  readonly policy: InventoryPolicy;
  readonly store: WalletStore;
  /** Mints with a refill running in this process (one at a time per mint). */
  readonly refilling = new Set<string>();

  constructor(policy: InventoryPolicy, store: WalletStore) {
    this.policy = policy;
    this.store = store;
  }

  /** The refill a mint needs now, if its inventory is short and it holds surplus to swap (cheap: one count query). */
  refillPlan(mint: string): Map<number, number> | null {
    return refillInputs(this.policy, this.store.denominationCounts(mint));
  }

  /** Output denominations for `amount` sats arriving at `mint` that top its inventory up (see toppingUp). */
  outputsFor(mint: string, amount: number): number[] {
    return toppingUp(amount, deficits(this.policy, this.store.denominationCounts(mint)));
  }
}

/** cashu-ts outputs (deterministic, NUT-13 counted) for `amount` sats arriving at `mint`, topping its inventory up when one is kept. */
export function arrivingOutputs(inventory: DenominationInventory | null, mint: string, amount: number): OutputType {
  return { type: 'deterministic', counter: 0, denominations: inventory && amount > 0 ? inventory.outputsFor(mint, amount) : [] };
}
