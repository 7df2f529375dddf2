import { DurableDatabase } from '../storage/index.ts';
import type { ProofLike } from '@cashu/cashu-ts';
import {
  num, str, toJournal, toOperation, toProof,
  type ProofState,
  type StoredProof,
  type OperationRecord,
  type JournalStatus,
  type JournalEntry,
  type MintQuoteRecord,
  type KeysetRecord,
} from './store-records.ts';

export type { ProofState, StoredProof, OperationKind, OperationState, CounterRangeRecord, OperationRecord, JournalStatus, JournalEntry, MintQuoteRecord, KeysetRecord } from './store-records.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS keysets (
  mint TEXT NOT NULL, id TEXT NOT NULL, unit TEXT NOT NULL, active INTEGER NOT NULL,
  input_fee_ppk INTEGER NOT NULL, PRIMARY KEY (mint, id));
CREATE TABLE IF NOT EXISTS counters (keyset_id TEXT PRIMARY KEY, next INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS proofs (
  secret TEXT PRIMARY KEY, mint TEXT NOT NULL, keyset_id TEXT NOT NULL, amount INTEGER NOT NULL,
  c TEXT NOT NULL, dleq TEXT, state TEXT NOT NULL CHECK (state IN ('unspent','pending','spent')),
  op_id TEXT, updated_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS proofs_by_state ON proofs (mint, state);
CREATE INDEX IF NOT EXISTS proofs_by_denomination ON proofs (mint, state, amount);
CREATE INDEX IF NOT EXISTS proofs_by_op ON proofs (op_id);
CREATE TABLE IF NOT EXISTS operations (
  id TEXT PRIMARY KEY, kind TEXT NOT NULL, mint TEXT NOT NULL, state TEXT NOT NULL, owner TEXT NOT NULL,
  amount INTEGER NOT NULL, fee INTEGER NOT NULL DEFAULT 0, counters TEXT NOT NULL DEFAULT '[]',
  data TEXT NOT NULL DEFAULT '{}', created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS operations_by_state ON operations (state);
CREATE TABLE IF NOT EXISTS journal (
  id TEXT PRIMARY KEY, kind TEXT NOT NULL, mint TEXT NOT NULL, amount INTEGER NOT NULL,
  purpose TEXT NOT NULL, request_id TEXT, token TEXT, status TEXT NOT NULL, op_id TEXT, owner TEXT NOT NULL,
  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS journal_by_status ON journal (status, created_at);
CREATE TABLE IF NOT EXISTS budget_spend (name TEXT PRIMARY KEY, spent INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS mint_quotes (
  id TEXT NOT NULL, mint TEXT NOT NULL, amount INTEGER NOT NULL, request TEXT NOT NULL,
  state TEXT NOT NULL, created_at INTEGER NOT NULL, PRIMARY KEY (mint, id));
CREATE TABLE IF NOT EXISTS melt_quotes (
  id TEXT NOT NULL, mint TEXT NOT NULL, amount INTEGER NOT NULL, fee_reserve INTEGER NOT NULL,
  request TEXT NOT NULL, state TEXT NOT NULL, created_at INTEGER NOT NULL, PRIMARY KEY (mint, id));
`;

/** The same tables on PostgreSQL (amounts, counters and times BIGINT), migration 1 of the 'wallet' namespace. */
const POSTGRES_SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS keysets (
  mint TEXT NOT NULL, id TEXT NOT NULL, unit TEXT NOT NULL, active INTEGER NOT NULL,
  input_fee_ppk BIGINT NOT NULL, PRIMARY KEY (mint, id));
CREATE TABLE IF NOT EXISTS counters (keyset_id TEXT PRIMARY KEY, next BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS proofs (
  secret TEXT PRIMARY KEY, mint TEXT NOT NULL, keyset_id TEXT NOT NULL, amount BIGINT NOT NULL,
  c TEXT NOT NULL, dleq TEXT, state TEXT NOT NULL CHECK (state IN ('unspent','pending','spent')),
  op_id TEXT, updated_at BIGINT NOT NULL);
CREATE INDEX IF NOT EXISTS proofs_by_state ON proofs (mint, state);
CREATE INDEX IF NOT EXISTS proofs_by_denomination ON proofs (mint, state, amount);
CREATE INDEX IF NOT EXISTS proofs_by_op ON proofs (op_id);
CREATE TABLE IF NOT EXISTS operations (
  id TEXT PRIMARY KEY, kind TEXT NOT NULL, mint TEXT NOT NULL, state TEXT NOT NULL, owner TEXT NOT NULL,
  amount BIGINT NOT NULL, fee BIGINT NOT NULL DEFAULT 0, counters TEXT NOT NULL DEFAULT '[]',
  data TEXT NOT NULL DEFAULT '{}', created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL);
CREATE INDEX IF NOT EXISTS operations_by_state ON operations (state);
CREATE TABLE IF NOT EXISTS journal (
  id TEXT PRIMARY KEY, kind TEXT NOT NULL, mint TEXT NOT NULL, amount BIGINT NOT NULL,
  purpose TEXT NOT NULL, request_id TEXT, token TEXT, status TEXT NOT NULL, op_id TEXT, owner TEXT NOT NULL,
  created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL);
CREATE INDEX IF NOT EXISTS journal_by_status ON journal (status, created_at);
CREATE INDEX IF NOT EXISTS journal_by_request ON journal (request_id);
CREATE TABLE IF NOT EXISTS budget_spend (name TEXT PRIMARY KEY, spent BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS mint_quotes (
  id TEXT NOT NULL, mint TEXT NOT NULL, amount BIGINT NOT NULL, request TEXT NOT NULL,
  state TEXT NOT NULL, created_at BIGINT NOT NULL, PRIMARY KEY (mint, id));
CREATE TABLE IF NOT EXISTS melt_quotes (
  id TEXT NOT NULL, mint TEXT NOT NULL, amount BIGINT NOT NULL, fee_reserve BIGINT NOT NULL,
  request TEXT NOT NULL, state TEXT NOT NULL, created_at BIGINT NOT NULL, PRIMARY KEY (mint, id));
`;

/**
 * The wallet's durable state in one node:sqlite file, or in the 'wallet' schema of a PostgreSQL
 * database (a `postgres://` URL as the path). Every multi-step change runs in a
 * BEGIN IMMEDIATE transaction, so several processes may share the file: the write lock is taken
 * up front and waits out other writers (busy timeout) instead of failing halfway.
 */
export class WalletStore extends DurableDatabase {

  /** Opens the store at a file path, ':memory:', or a `postgres://` URL. */
  constructor(path: string, options: { busyTimeoutMs?: number } = {}) {
    super(path, { sqlite: SCHEMA, postgres: POSTGRES_SCHEMA }, { ...options, namespace: 'wallet' });
  }

  // --- meta ---------------------------------------------------------------------------------

  getMeta(key: string): string | undefined {
    const row = this.get('SELECT value FROM meta WHERE key = ?', key);
    return row ? str(row, 'value') : undefined;
  }

  setMeta(key: string, value: string): void {
    this.run('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value', key, value);
  }

  /** True when the store has never held proofs, counters or operations (a restore candidate). */
  isEmpty(): boolean {
    const row = this.get(
      'SELECT (SELECT COUNT(*) FROM proofs) + (SELECT COUNT(*) FROM counters) + (SELECT COUNT(*) FROM operations) AS n',
    );
    return row ? num(row, 'n') === 0 : true;
  }

  // --- keysets and counters -----------------------------------------------------------------

  saveKeysets(keysets: KeysetRecord[]): void {
    this.tx(() => {
      for (const k of keysets) {
        this.run(
          `INSERT INTO keysets (mint, id, unit, active, input_fee_ppk) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (mint, id) DO UPDATE SET unit = excluded.unit, active = excluded.active, input_fee_ppk = excluded.input_fee_ppk`,
          k.mint, k.id, k.unit, k.active ? 1 : 0, k.inputFeePpk,
        );
      }
    });
  }

  keysets(mint: string): KeysetRecord[] {
    return this.all('SELECT * FROM keysets WHERE mint = ? ORDER BY id', mint).map((r) => ({
      mint: str(r, 'mint'),
      id: str(r, 'id'),
      unit: str(r, 'unit'),
      active: num(r, 'active') === 1,
      inputFeePpk: num(r, 'input_fee_ppk'),
    }));
  }

  counterNext(keysetId: string): number {
    const row = this.get('SELECT next FROM counters WHERE keyset_id = ?', keysetId);
    return row ? num(row, 'next') : 0;
  }

  /** Atomically takes `count` counters for a keyset; returns the first one. */
  reserveCounters(keysetId: string, count: number): number {
    return this.tx(() => {
      const start = this.counterNext(keysetId);
      if (count > 0) this.setCounterNext(keysetId, start + count);
      return start;
    });
  }

  /** Reserves exactly [start, start+count); throws if any of it was already issued. */
  reserveCountersAt(keysetId: string, start: number, count: number): void {
    this.tx(() => {
      const next = this.counterNext(keysetId);
      if (start < next) throw new Error(`counter ${start} for keyset ${keysetId} was already issued (next is ${next})`);
      this.setCounterNext(keysetId, start + count);
    });
  }

  advanceCounter(keysetId: string, minNext: number): void {
    this.tx(() => {
      if (this.counterNext(keysetId) < minNext) this.setCounterNext(keysetId, minNext);
    });
  }

  setCounterNext(keysetId: string, next: number): void {
    this.run(
      'INSERT INTO counters (keyset_id, next) VALUES (?, ?) ON CONFLICT (keyset_id) DO UPDATE SET next = excluded.next',
      keysetId, next,
    );
  }

  counterSnapshot(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const r of this.all('SELECT keyset_id, next FROM counters')) out[str(r, 'keyset_id')] = num(r, 'next');
    return out;
  }

  // --- proofs -------------------------------------------------------------------------------

  /** Adds proofs (ignoring any already known by secret: recovery may see the same proof twice). */
  insertProofs(mint: string, proofs: readonly ProofLike[], state: ProofState, opId: string | null = null): void {
    const now = Date.now();
    this.tx(() => {
      for (const p of proofs) {
        this.run(
          `INSERT INTO proofs (secret, mint, keyset_id, amount, c, dleq, state, op_id, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (secret) DO NOTHING`,
          p.secret, mint, p.id, Number(p.amount.toString()), p.C, p.dleq ? JSON.stringify(p.dleq) : null, state, opId, now,
        );
      }
    });
  }

  /** Moves proofs to a state and ties them to an operation (or frees them with opId null). */
  setProofState(secrets: readonly string[], state: ProofState, opId: string | null): void {
    const now = Date.now();
    this.tx(() => {
      for (const s of secrets) this.run('UPDATE proofs SET state = ?, op_id = ?, updated_at = ? WHERE secret = ?', state, opId, now, s);
    });
  }

  proofs(mint: string, state: ProofState): StoredProof[] {
    return this.all('SELECT * FROM proofs WHERE mint = ? AND state = ? ORDER BY amount DESC, secret', mint, state).map(toProof);
  }

  proofsOfOperation(opId: string): StoredProof[] {
    return this.all('SELECT * FROM proofs WHERE op_id = ?', opId).map(toProof);
  }

  /** Sum of proofs per mint in a state. */
  sums(state: ProofState): Map<string, number> {
    const out = new Map<string, number>();
    for (const r of this.all('SELECT mint, SUM(amount) AS total FROM proofs WHERE state = ? GROUP BY mint', state)) {
      out.set(str(r, 'mint'), num(r, 'total'));
    }
    return out;
  }

  /** Unspent proofs per denomination at `mint` (one grouped, indexed query; no proof rows loaded). */
  denominationCounts(mint: string): Map<number, number> {
    const out = new Map<number, number>();
    for (const r of this.all("SELECT amount, COUNT(*) AS n FROM proofs WHERE mint = ? AND state = 'unspent' GROUP BY amount", mint)) {
      out.set(num(r, 'amount'), num(r, 'n'));
    }
    return out;
  }

  /** The unspent proofs a plan names (`denomination → count`) at `mint`. */
  unspentByPlan(mint: string, plan: ReadonlyMap<number, number>): StoredProof[] {
    const out: StoredProof[] = [];
    for (const [amount, count] of plan) {
      out.push(...this.all("SELECT * FROM proofs WHERE mint = ? AND state = 'unspent' AND amount = ? ORDER BY secret LIMIT ?", mint, amount, count).map(toProof));
    }
    return out;
  }

  /** Per mint, the proofs an inventory refill swap holds pending (still this wallet's value: the refill only re-splits them). */
  refillingSums(): Map<string, number> {
    const out = new Map<string, number>();
    const refill = this.dialect === 'sqlite' ? "json_extract(o.data, '$.refill') = 1" : "(o.data::jsonb -> 'refill') IN ('true'::jsonb, '1'::jsonb)";
    const rows = this.all(
      `SELECT p.mint AS mint, SUM(p.amount) AS total FROM proofs p JOIN operations o ON o.id = p.op_id
       WHERE p.state = 'pending' AND ${refill} GROUP BY p.mint`,
    );
    for (const r of rows) out.set(str(r, 'mint'), num(r, 'total'));
    return out;
  }

  // --- operations ---------------------------------------------------------------------------

  insertOperation(op: Omit<OperationRecord, 'createdAt'>): void {
    const now = Date.now();
    this.run(
      `INSERT INTO operations (id, kind, mint, state, owner, amount, fee, counters, data, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      op.id, op.kind, op.mint, op.state, op.owner, op.amount, op.fee, JSON.stringify(op.counters), JSON.stringify(op.data), now, now,
    );
  }

  updateOperation(id: string, patch: Partial<Pick<OperationRecord, 'state' | 'fee' | 'counters' | 'data' | 'owner'>>): void {
    const op = this.operation(id);
    if (!op) throw new Error(`no operation ${id}`);
    const next = { ...op, ...patch };
    this.run(
      'UPDATE operations SET state = ?, fee = ?, counters = ?, data = ?, owner = ?, updated_at = ? WHERE id = ?',
      next.state, next.fee, JSON.stringify(next.counters), JSON.stringify(next.data), next.owner, Date.now(), id,
    );
  }

  operation(id: string): OperationRecord | undefined {
    const row = this.get('SELECT * FROM operations WHERE id = ?', id);
    return row ? toOperation(row) : undefined;
  }

  /** Receive operations whose journaled inputs include the proof with `secret` (any state). */
  receivesOfSecret(secret: string): OperationRecord[] {
    // The inputs are stored as JSON: match the secret's JSON form, then confirm on the parsed data.
    const contains = this.dialect === 'sqlite' ? 'instr(data, ?) > 0' : 'strpos(data, ?) > 0';
    return this.all(`SELECT * FROM operations WHERE kind = 'receive' AND ${contains} ORDER BY created_at`, JSON.stringify(secret))
      .map(toOperation)
      .filter((op) => ((op.data['inputs'] as Array<{ secret?: unknown }> | undefined) ?? []).some((p) => p.secret === secret));
  }

  openOperations(): OperationRecord[] {
    return this.all("SELECT * FROM operations WHERE state = 'prepared' ORDER BY created_at").map(toOperation);
  }

  /** Total fees paid to mints (inputs minus outputs of every finished operation). */
  feesPaid(mint?: string): number {
    const row = mint === undefined
      ? this.get('SELECT COALESCE(SUM(fee), 0) AS f FROM operations')
      : this.get('SELECT COALESCE(SUM(fee), 0) AS f FROM operations WHERE mint = ?', mint);
    return row ? num(row, 'f') : 0;
  }

  // --- journal ------------------------------------------------------------------------------

  insertJournal(entry: Omit<JournalEntry, 'createdAt'>, createdAt = Date.now()): void {
    this.run(
      `INSERT INTO journal (id, kind, mint, amount, purpose, request_id, token, status, op_id, owner, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      entry.id, entry.kind, entry.mint, entry.amount, entry.purpose, entry.requestId, entry.token, entry.status, entry.opId, entry.owner,
      createdAt, createdAt,
    );
  }

  updateJournal(id: string, patch: Partial<Pick<JournalEntry, 'status' | 'token' | 'amount'>>): void {
    const e = this.journalEntry(id);
    if (!e) throw new Error(`no journal entry ${id}`);
    const next = { ...e, ...patch };
    this.run('UPDATE journal SET status = ?, token = ?, amount = ?, updated_at = ? WHERE id = ?', next.status, next.token, next.amount, Date.now(), id);
  }

  journalEntry(id: string): JournalEntry | undefined {
    const row = this.get('SELECT * FROM journal WHERE id = ?', id);
    return row ? toJournal(row) : undefined;
  }

  journal(filter: { status?: JournalStatus; requestId?: string } = {}): JournalEntry[] {
    if (filter.requestId !== undefined) {
      return this.all('SELECT * FROM journal WHERE request_id = ? ORDER BY created_at, id', filter.requestId).map(toJournal);
    }
    if (filter.status !== undefined) {
      return this.all('SELECT * FROM journal WHERE status = ? ORDER BY created_at, id', filter.status).map(toJournal);
    }
    return this.all('SELECT * FROM journal ORDER BY created_at, id').map(toJournal);
  }

  /** Sats that left (or are leaving) since `since` ms epoch: everything journaled except what came back. */
  spentSince(since: number): number {
    const row = this.get(
      "SELECT COALESCE(SUM(amount), 0) AS s FROM journal WHERE created_at > ? AND status NOT IN ('reclaimed', 'aborted')",
      since,
    );
    return row ? num(row, 's') : 0;
  }

  /** Sats charged against the named budget, over every run of every process on this file. */
  budgetSpent(name: string): number {
    const row = this.get('SELECT spent FROM budget_spend WHERE name = ?', name);
    return row ? num(row, 'spent') : 0;
  }

  /** Adds `amount` sats to the named budget's spend (one statement: concurrent writers add up). */
  addBudgetSpent(name: string, amount: number): void {
    if (!Number.isSafeInteger(amount) || amount < 0) throw new RangeError(`budget spend must be a whole number of sats, got ${amount}`);
    // PostgreSQL reads a bare `spent` in DO UPDATE as ambiguous: the stored row's is named by its table
    const spent = this.dialect === 'sqlite' ? 'spent' : 'budget_spend.spent';
    this.run(`INSERT INTO budget_spend (name, spent) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET spent = ${spent} + excluded.spent`, name, amount);
  }

  // --- quotes -------------------------------------------------------------------------------

  upsertMintQuote(q: Omit<MintQuoteRecord, 'createdAt'>): void {
    this.run(
      `INSERT INTO mint_quotes (id, mint, amount, request, state, created_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (mint, id) DO UPDATE SET state = excluded.state`,
      q.id, q.mint, q.amount, q.request, q.state, Date.now(),
    );
  }

  mintQuotes(state?: MintQuoteRecord['state']): MintQuoteRecord[] {
    const rows = state === undefined ? this.all('SELECT * FROM mint_quotes ORDER BY created_at') : this.all('SELECT * FROM mint_quotes WHERE state = ? ORDER BY created_at', state);
    return rows.map((r) => ({
      id: str(r, 'id'),
      mint: str(r, 'mint'),
      amount: num(r, 'amount'),
      request: str(r, 'request'),
      state: str(r, 'state') as MintQuoteRecord['state'],
      createdAt: num(r, 'created_at'),
    }));
  }

  upsertMeltQuote(q: { id: string; mint: string; amount: number; feeReserve: number; request: string; state: string }): void {
    this.run(
      `INSERT INTO melt_quotes (id, mint, amount, fee_reserve, request, state, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (mint, id) DO UPDATE SET state = excluded.state`,
      q.id, q.mint, q.amount, q.feeReserve, q.request, q.state, Date.now(),
    );
  }

  setMeltQuoteState(mint: string, id: string, state: string): void {
    this.run('UPDATE melt_quotes SET state = ? WHERE mint = ? AND id = ?', state, mint, id);
  }
}
