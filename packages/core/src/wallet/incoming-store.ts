/**
 * The incoming-token journal's table, in the wallet's sqlite file: every token the wallet was
 * handed (change, refunds) kept as a string the moment it arrives, until a receive swap redeems
 * it. Attached to the wallet store, so one transaction can keep a token and settle what it was for.
 */
import { sat, type Sat } from '../money/index.ts';
import { AttachedTables, type Row } from '../storage/index.ts';
import type { WalletStore } from './store.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS incoming (
  id TEXT PRIMARY KEY, mint TEXT NOT NULL, amount INTEGER NOT NULL, token TEXT NOT NULL, purpose TEXT NOT NULL,
  request_id TEXT, status TEXT NOT NULL CHECK (status IN ('kept','redeemed','refused')),
  credited INTEGER NOT NULL DEFAULT 0, problem TEXT, owner TEXT NOT NULL,
  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS incoming_by_status ON incoming (status, created_at);
CREATE UNIQUE INDEX IF NOT EXISTS incoming_by_token ON incoming (token);
`;

const POSTGRES_SCHEMA = `
CREATE TABLE IF NOT EXISTS incoming (
  id TEXT PRIMARY KEY, mint TEXT NOT NULL, amount BIGINT NOT NULL, token TEXT NOT NULL, purpose TEXT NOT NULL,
  request_id TEXT, status TEXT NOT NULL CHECK (status IN ('kept','redeemed','refused')),
  credited BIGINT NOT NULL DEFAULT 0, problem TEXT, owner TEXT NOT NULL,
  created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL);
CREATE INDEX IF NOT EXISTS incoming_by_status ON incoming (status, created_at);
CREATE UNIQUE INDEX IF NOT EXISTS incoming_by_token ON incoming (token);
`;

/**
 * kept: durable as a string, not redeemed yet (it counts in `incomingBalance`); redeemed: our
 * receive swap took it (its proofs are in the wallet); refused: the mint would not take it.
 */
export type IncomingStatus = 'kept' | 'redeemed' | 'refused';

/** Why the mint refused a kept token: spent by someone else, or not valid ecash of a mint we use. */
export type IncomingProblem = 'spent' | 'forged';

/** One token the wallet was handed, as the journal keeps it. */
export interface IncomingRecord {
  id: string;
  mint: string;
  /** Face value, sats (what the redeem swap gets, less the mint's input fee). */
  amount: Sat;
  token: string;
  purpose: string;
  requestId: string | null;
  status: IncomingStatus;
  /** Sats the redeem swap credited (0 until redeemed). */
  credited: Sat;
  problem: IncomingProblem | null;
  /** `pid:instance` of the wallet that kept it (a live owner's entries are redeemed by that owner). */
  owner: string;
  createdAt: number;
}

/** The `incoming` table over the wallet store's database (its transactions apply). */
export class IncomingStore extends AttachedTables {
  constructor(walletStore: WalletStore) {
    super(walletStore, { sqlite: SCHEMA, postgres: POSTGRES_SCHEMA }, 'incoming');
  }

  insert(r: Omit<IncomingRecord, 'createdAt' | 'credited' | 'problem' | 'status'>): number {
    const now = Date.now();
    this.run(
      `INSERT INTO incoming (id, mint, amount, token, purpose, request_id, status, owner, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, 'kept', ?, ?, ?)`,
      r.id, r.mint, r.amount, r.token, r.purpose, r.requestId, r.owner, now, now,
    );
    return now;
  }

  /** Records a kept entry's fate; an entry already decided keeps its first fate (recovery may see it twice). */
  decide(id: string, fate: { status: 'redeemed'; credited: number } | { status: 'refused'; problem: IncomingProblem }): void {
    const credited = fate.status === 'redeemed' ? fate.credited : 0;
    const problem = fate.status === 'refused' ? fate.problem : null;
    this.run("UPDATE incoming SET status = ?, credited = ?, problem = ?, updated_at = ? WHERE id = ? AND status = 'kept'", fate.status, credited, problem, Date.now(), id);
  }

  get(id: string): IncomingRecord | undefined {
    const r = this.one('SELECT * FROM incoming WHERE id = ?', id);
    return r ? toRecord(r) : undefined;
  }

  /** The entry that keeps exactly `token`, if any (a token is kept once). */
  byToken(token: string): IncomingRecord | undefined {
    const r = this.one('SELECT * FROM incoming WHERE token = ?', token);
    return r ? toRecord(r) : undefined;
  }

  /** Entries in a state, oldest first (or all). */
  list(status?: IncomingStatus): IncomingRecord[] {
    const rows = status === undefined
      ? this.all('SELECT * FROM incoming ORDER BY created_at, id')
      : this.all('SELECT * FROM incoming WHERE status = ? ORDER BY created_at, id', status);
    return rows.map(toRecord);
  }

  /** Σ face value of kept entries, per mint. */
  keptSums(): Map<string, number> {
    const out = new Map<string, number>();
    const rows = this.all("SELECT mint, SUM(amount) AS total FROM incoming WHERE status = 'kept' GROUP BY mint");
    for (const r of rows) out.set(String(r['mint']), Number(r['total']));
    return out;
  }
}

function toRecord(r: Row): IncomingRecord {
  const problem = r['problem'];
  return {
    id: String(r['id']),
    mint: String(r['mint']),
    amount: sat(Number(r['amount'])),
    token: String(r['token']),
    purpose: String(r['purpose']),
    requestId: r['request_id'] === null || r['request_id'] === undefined ? null : String(r['request_id']),
    status: String(r['status']) as IncomingStatus,
    credited: sat(Number(r['credited'])),
    problem: problem === null || problem === undefined ? null : (String(problem) as IncomingProblem),
    owner: String(r['owner']),
    createdAt: Number(r['created_at']),
  };
}
