import type { Sat } from '../money/index.ts';

/** Base class of every wallet error; `code` is stable and safe to branch on. */
export class WalletError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'WalletError';
  }
}

/** The wallet (or the chosen mint) holds fewer spendable sats than asked for. */
export class InsufficientFunds extends WalletError {
  readonly needed: Sat;
  readonly available: Sat;
  constructor(needed: Sat, available: Sat, mint?: string) {
    super('insufficient_funds', `need ${needed} sat, ${available} sat spendable${mint ? ` at ${mint}` : ''}`);
    this.name = 'InsufficientFunds';
    this.needed = needed;
    this.available = available;
  }
}

/** A mint that is not in the wallet's configured list. */
export class UnknownMint extends WalletError {
  readonly mint: string;
  constructor(mint: string) {
    super('unknown_mint', `mint ${mint} is not configured in this wallet`);
    this.name = 'UnknownMint';
    this.mint = mint;
  }
}

// The wallet talks to a mint, so its errors are named in Cashu's words (proofs, mint); the protocol
// module's TokenAlreadySpent, InvalidToken and MintError name what a Routstr node answered, in
// routstr-core's words. The same conditions carry the same `code`s: branch on `code` to handle either.

/** The token's proofs were already spent at the mint (by someone else, or twice). */
export class ProofsAlreadySpent extends WalletError {
  constructor(message = 'token already spent', options?: { cause?: unknown }) {
    super('token_already_spent', message, options);
    this.name = 'ProofsAlreadySpent';
  }
}

/** Not a Cashu token this wallet can read (malformed, wrong unit, empty). */
export class UnreadableToken extends WalletError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('invalid_token', message, options);
    this.name = 'UnreadableToken';
  }
}

/** Which budget cap refused a payment. */
export type BudgetCap =
  | { kind: 'per_request'; limit: Sat }
  | { kind: 'window'; windowMs: number; limit: Sat }
  /** Most one run (one payer) may spend. */
  | { kind: 'per_run'; limit: Sat }
  /** Most the wallet may ever spend; kept in its database across restarts. */
  | { kind: 'total'; limit: Sat; spent: Sat };

/** A payment would go over a budget cap; nothing left the wallet. */
export class BudgetExceeded extends WalletError {
  readonly cap: BudgetCap;
  /** Sats by which the payment would exceed the cap. */
  readonly over: Sat;
  constructor(cap: BudgetCap, over: Sat) {
    const which = cap.kind === 'per_request' ? 'per-request cap' : cap.kind === 'per_run' ? 'per-run cap' : cap.kind === 'total' ? `total budget (${cap.spent} sat already spent)` : `cap over ${cap.windowMs} ms`;
    super('budget_exceeded', `payment exceeds the ${which} of ${cap.limit} sat by ${over} sat`);
    this.name = 'BudgetExceeded';
    this.cap = cap;
    this.over = over;
  }
}

/** The mnemonic given does not match the one the store was created with. */
export class MnemonicMismatch extends WalletError {
  constructor() {
    super('mnemonic_mismatch', 'the store was created with a different mnemonic');
    this.name = 'MnemonicMismatch';
  }
}

/** A journal entry id that the store does not know. */
export class UnknownJournalEntry extends WalletError {
  constructor(id: string) {
    super('unknown_journal_entry', `no journal entry ${id}`);
    this.name = 'UnknownJournalEntry';
  }
}

/** The mint refused or failed an operation; `mintCode` keeps the NUT error code when there is one. */
export class MintRefused extends WalletError {
  readonly mintCode: number | undefined;
  constructor(message: string, mintCode?: number, options?: { cause?: unknown }) {
    super('mint_error', message, options);
    this.name = 'MintRefused';
    this.mintCode = mintCode;
  }
}

/** A Lightning payment (melt) the mint reported as failed or unpaid. */
export class PaymentFailed extends WalletError {
  constructor(message: string) {
    super('payment_failed', message);
    this.name = 'PaymentFailed';
  }
}
