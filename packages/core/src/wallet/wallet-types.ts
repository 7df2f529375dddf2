/** The wallet's public shapes: how to open it, what a send or withdrawal returns, what recovery did. */
import type { Sat } from '../money/index.ts';
import type { Budgets } from './budget.ts';
import type { InventoryPolicy } from './denomination-inventory.ts';
import type { JournalEntry } from './store.ts';

/** How `openWallet` opens (or creates) a wallet. */
export interface OpenWalletOptions {
  /** The store: a sqlite file, or a `postgres://` URL (its `wallet` schema); either is shared safely by several processes. */
  path: string;
  /** Mint URLs this wallet uses; tokens from other mints are refused with UnknownMint. */
  mints: readonly string[];
  /** BIP-39 mnemonic; generated and stored when absent. An empty store with a mnemonic is restored (NUT-09). */
  mnemonic?: string;
  budgets?: Budgets;
  /** On open, take back outstanding tokens nobody redeemed (default true). */
  reclaimOnOpen?: boolean;
  /** NUT-09 restore: stop after this many unsigned counters in a row (default 100). */
  restoreGapLimit?: number;
  /** How often `Funding.complete` polls the mint quote (default 250 ms). */
  pollIntervalMs?: number;
  /** Exact-change inventory kept per mint (default DEFAULT_INVENTORY_POLICY); false: none, every send selects from all proofs. */
  inventory?: InventoryPolicy | false;
  /**
   * Worker threads for the curve maths of swaps (blinding, unblinding, DLEQ checks), so a busy
   * wallet uses more than one core; started on first use, ended by `close()`. 0 runs them on the
   * calling thread. Default: one per spare core, at most 4.
   */
  curveWorkers?: number;
}

/** How `send` makes a token. */
export interface SendOptions {
  /** Pay from this mint; default: the first configured mint that can cover the amount. */
  mint?: string;
  /** Why the token leaves (kept in the journal). */
  purpose: string;
  requestId?: string;
  /** Add the recipient's input fee for redeeming the token on top of `amount`. */
  includeFees?: boolean;
  /** Handed over for good: journaled 'settled' in the same commit (no settle() call, never reclaimed). */
  settled?: boolean;
}

/** A token that has left the wallet, with the journal entry written before it was returned. */
export interface SentToken {
  token: string;
  /** Face value of the token. */
  amount: Sat;
  entry: JournalEntry;
}

/** A pending top-up: pay `invoice`, then `complete()` mints the proofs. */
export interface Funding {
  quoteId: string;
  mint: string;
  amount: Sat;
  invoice: string;
  /** Waits until the invoice is paid, mints, and returns the sats added. */
  complete(options?: { signal?: AbortSignal }): Promise<Sat>;
}

/** The outcome of a withdrawal (melt to a bolt11 invoice). */
export interface Withdrawal {
  state: 'paid' | 'pending';
  amount: Sat;
  /** Lightning fee plus mint input fees actually paid (0 while pending). */
  feePaid: Sat;
  preimage: string | null;
  entry: JournalEntry;
}

/** What the last recovery pass did. */
export interface RecoveryReport {
  operationsResolved: number;
  proofsReturned: number;
  proofsRestored: number;
  tokensReclaimed: number;
  restoredFromSeed: Sat;
}
