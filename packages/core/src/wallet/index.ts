export { EcashWallet } from './wallet.ts';
export { openWallet, walletFileIsEmpty } from './open-wallet.ts';
export type { OpenWalletOptions, SendOptions, SentToken, Funding, Withdrawal, RecoveryReport } from './wallet-types.ts';
export type { Budgets } from './budget.ts';
export { DEFAULT_INVENTORY_POLICY } from './denomination-inventory.ts';
export type { InventoryPolicy, InventoryStats } from './denomination-inventory.ts';
export { TOTAL_BUDGET, checkTotalBudget } from './budget.ts';
export type { JournalEntry, JournalStatus, ProofState } from './store.ts';
export type { IncomingEntry, IncomingOutcome } from './incoming.ts';
export type { IncomingProblem, IncomingRecord, IncomingStatus } from './incoming-store.ts';
export {
  WalletError,
  InsufficientFunds,
  UnknownMint,
  ProofsAlreadySpent,
  UnreadableToken,
  BudgetExceeded,
  MnemonicMismatch,
  UnknownJournalEntry,
  MintRefused,
  PaymentFailed,
} from './errors.ts';
export type { BudgetCap } from './errors.ts';
