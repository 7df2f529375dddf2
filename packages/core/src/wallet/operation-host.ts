/** What the wallet's operation flows (send, withdraw) share with the wallet, passed explicitly. */
import type { Budgets } from './budget.ts';
import { UnknownJournalEntry } from './errors.ts';
import type { DenominationInventory, InventoryStats } from './denomination-inventory.ts';
import type { MintContext } from './mint-context.ts';
import type { JournalEntry, OperationRecord, WalletStore } from './store.ts';

/** The wallet's books, mints, owner id and budgets, and how a failed mint call is settled. */
export interface OperationHost {
  readonly store: WalletStore;
  readonly contexts: ReadonlyMap<string, MintContext>;
  /** `<pid>:<instance>` written on every operation and journal entry (see storage/owner-liveness). */
  readonly owner: string;
  readonly budgets: Budgets | undefined;
  /** After a failed mint call: settle the operation now if the mint answers, else leave it for recover(). */
  tryResolve(opId: string): Promise<void>;
  /** The exact-change inventory (null: turned off, every send selects from all proofs as before). */
  readonly inventory: DenominationInventory | null;
  /** Exact and swap sends counted since open. */
  readonly stats: InventoryStats;
  /** After a send took proofs from `mint`: start a background refill if its inventory runs short. */
  afterSend(mint: string): void;
}

/** The operation `id`; it was written by this process, so its absence is a bug. */
export function requireOperation(store: WalletStore, id: string): OperationRecord {
  const op = store.operation(id);
  if (!op) throw new Error(`operation ${id} vanished`);
  return op;
}

/** The journal entry `id`, or UnknownJournalEntry. */
export function requireEntry(store: WalletStore, id: string): JournalEntry {
  const e = store.journalEntry(id);
  if (!e) throw new UnknownJournalEntry(id);
  return e;
}
