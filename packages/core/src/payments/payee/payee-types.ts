/** The payee's public shapes: token facts, X-Cashu payments and change, accounts, balances, payouts. */
import type { Msat, Sat } from '../../money/index.ts';
import type { EcashWallet } from '../../wallet/index.ts';
import type { SettlementGroupOptions } from './settlement-group.ts';

/** A token header read without a mint. */
export interface TokenFacts {
  readonly token: string;
  /** sha256(utf8(token)) hex: the key of its X-Cashu request. */
  readonly hash: string;
  readonly mint: string;
  readonly faceSat: Sat;
  readonly faceMsat: Msat;
}

/** An X-Cashu payment redeemed into the node's wallet, ready to serve. */
export interface XCashuPayment {
  readonly tokenHash: string;
  readonly requestId: string;
  readonly faceSat: Sat;
  /** What the wallet got (face minus mint input fees). */
  readonly creditedSat: Sat;
}

/** The change of an X-Cashu request (token undefined when nothing is owed). */
export interface XCashuChange {
  readonly changeSat: Sat;
  readonly token: string | undefined;
  readonly costMsat: Msat;
}

/** What `refundFor(originalToken)` knows. */
export type RefundLookup =
  | { readonly state: 'unknown' }
  | { readonly state: 'pending' }
  | { readonly state: 'done'; readonly token: string | undefined; readonly changeSat: Sat };

/** A Bearer account as `/v1/balance/info` shows it. */
export interface AccountInfo {
  readonly apiKey: string;
  /** Available msats (balance − reserved). */
  readonly availableMsat: number;
  readonly reservedMsat: number;
  readonly totalRequests: number;
  readonly totalSpentMsat: number;
}

/** A Bearer account refund. */
export interface AccountRefund {
  readonly token: string;
  readonly sat: Sat;
}

/** What the node holds and earned. */
export interface PayeeBalances {
  /** Spendable sats in the wallet. */
  readonly heldSat: number;
  /** Sats locked by wallet operations in flight. */
  readonly pendingSat: number;
  /** Settled charges, msats. */
  readonly revenueMsat: number;
  /** Paid out by admin withdrawals, msats. */
  readonly paidOutMsat: number;
  /** Owed to clients: account balances and undelivered change, msats. */
  readonly liabilitiesMsat: number;
  /** What an admin may withdraw now, sats. */
  readonly withdrawableSat: number;
}

/** An admin payout. */
export interface Payout {
  readonly id: string;
  readonly kind: 'token' | 'invoice';
  readonly amountSat: number;
  readonly feeSat: number;
  readonly token: string | undefined;
}

/** How `openPayee` opens the payee's books. */
export interface OpenPayeeOptions {
  /** The node's wallet (open it with `reclaimOnOpen: false`). */
  readonly wallet: EcashWallet;
  /**
   * sqlite file of the payee's books. Without `shared`, one open Payee per file (it keeps Bearer
   * accounts in memory); a PostgreSQL URL always opens shared books.
   */
  readonly dbPath: string;
  /**
   * Shared books: several node processes (or Payees) on one database. No balance is cached: each
   * reservation and settlement is one transaction on the account's row; recovery (at open and
   * whenever `recover()` runs) touches only what a gone process left. Always on for PostgreSQL.
   */
  readonly shared?: boolean;
  /** Shared books: how often recovery runs while open, ms (default 10 000; 0: only at open and on recover()). */
  readonly recoverEveryMs?: number;
  /** How Bearer settlements are grouped into commits (default: up to 256 per commit, at most 10 ms apart). */
  readonly groupCommit?: SettlementGroupOptions;
}
