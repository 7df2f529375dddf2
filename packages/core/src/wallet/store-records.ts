/**
 * The wallet store's record types and how its rows read as them (store.ts keeps the schema and the
 * queries; the inventory reads proofs through the same mapping).
 */
import type { SQLInputValue } from 'node:sqlite';
import type { SerializedDLEQ } from '@cashu/cashu-ts';
import { sat, type Sat } from '../money/index.ts';

/** Where a proof is in its life: spendable, reserved by an operation in flight, or gone. */
export type ProofState = 'unspent' | 'pending' | 'spent';

/** A proof as the store keeps it (amount as a plain integer of the keyset's unit). */
export interface StoredProof {
  secret: string;
  mint: string;
  id: string;
  amount: number;
  C: string;
  dleq?: SerializedDLEQ;
  state: ProofState;
  opId: string | null;
}

export type OperationKind = 'send' | 'receive' | 'melt' | 'mint';
/** prepared: inputs reserved and outputs journaled, the mint may or may not have acted; done/aborted: final. */
export type OperationState = 'prepared' | 'done' | 'aborted';

/** A range of NUT-13 counters an operation's outputs were derived from (enough for a NUT-09 restore). */
export interface CounterRangeRecord {
  keysetId: string;
  start: number;
  count: number;
}

export interface OperationRecord {
  id: string;
  kind: OperationKind;
  mint: string;
  state: OperationState;
  owner: string;
  amount: number;
  fee: number;
  counters: CounterRangeRecord[];
  data: Record<string, unknown>;
  createdAt: number;
}

/**
 * pending: being prepared, has not left; outstanding: handed out, the recipient may redeem it;
 * spent: the recipient redeemed it, the payments layer has not settled it yet; settled: done;
 * reclaimed: taken back; aborted: never left the process.
 */
export type JournalStatus = 'pending' | 'outstanding' | 'spent' | 'settled' | 'reclaimed' | 'aborted';

/** One record of value leaving the wallet: a token, or a Lightning withdrawal (melt). */
export interface JournalEntry {
  id: string;
  kind: 'token' | 'melt';
  mint: string;
  /** Face value in sats (for a melt: the invoice amount). */
  amount: Sat;
  purpose: string;
  requestId: string | null;
  token: string | null;
  status: JournalStatus;
  opId: string | null;
  /** `pid:instance` of the wallet that wrote it (a live owner's tokens are never reclaimed by another). */
  owner: string;
  createdAt: number;
}

export interface MintQuoteRecord {
  id: string;
  mint: string;
  amount: number;
  request: string;
  state: 'unpaid' | 'paid' | 'issued' | 'expired';
  createdAt: number;
}

export interface KeysetRecord {
  mint: string;
  id: string;
  unit: string;
  active: boolean;
  inputFeePpk: number;
}

export type Row = Record<string, SQLInputValue>;

export function str(row: Row, key: string): string {
  return String(row[key]);
}
export function num(row: Row, key: string): number {
  return Number(row[key]);
}
function strOrNull(row: Row, key: string): string | null {
  const v = row[key];
  return v === null || v === undefined ? null : String(v);
}

/** A `proofs` row as a StoredProof. */
export function toProof(r: Row): StoredProof {
  const dleq = strOrNull(r, 'dleq');
  return {
    secret: str(r, 'secret'),
    mint: str(r, 'mint'),
    id: str(r, 'keyset_id'),
    amount: num(r, 'amount'),
    C: str(r, 'c'),
    ...(dleq ? { dleq: JSON.parse(dleq) as SerializedDLEQ } : {}),
    state: str(r, 'state') as ProofState,
    opId: strOrNull(r, 'op_id'),
  };
}

export function toOperation(r: Row): OperationRecord {
  return {
    id: str(r, 'id'),
    kind: str(r, 'kind') as OperationKind,
    mint: str(r, 'mint'),
    state: str(r, 'state') as OperationState,
    owner: str(r, 'owner'),
    amount: num(r, 'amount'),
    fee: num(r, 'fee'),
    counters: JSON.parse(str(r, 'counters')) as CounterRangeRecord[],
    data: JSON.parse(str(r, 'data')) as Record<string, unknown>,
    createdAt: num(r, 'created_at'),
  };
}

export function toJournal(r: Row): JournalEntry {
  return {
    id: str(r, 'id'),
    kind: str(r, 'kind') as JournalEntry['kind'],
    mint: str(r, 'mint'),
    amount: sat(num(r, 'amount')),
    purpose: str(r, 'purpose'),
    requestId: strOrNull(r, 'request_id'),
    token: strOrNull(r, 'token'),
    status: str(r, 'status') as JournalStatus,
    opId: strOrNull(r, 'op_id'),
    owner: str(r, 'owner'),
    createdAt: num(r, 'created_at'),
  };
}
