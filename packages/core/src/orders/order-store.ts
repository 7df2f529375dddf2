/**
 * The orders' records, in the wallet's sqlite file (own tables, the wallet store's BEGIN
 * IMMEDIATE transactions), so a restart finds every limit order and batch line where it was:
 * resting orders resume, filling ones are reconciled against the wallet journal, and a batch
 * line that was dispatched is never dispatched again.
 */
import type { SQLInputValue } from 'node:sqlite';
import { AttachedTables } from '../storage/index.ts';
import type { WalletStore } from '../wallet/store.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS orders_limit (
  id TEXT PRIMARY KEY, state TEXT NOT NULL CHECK (state IN ('resting','filling','filled','expired','cancelled','failed')),
  request TEXT NOT NULL, max_price TEXT NOT NULL, shape TEXT NOT NULL, deadline INTEGER NOT NULL,
  fill TEXT, fill_request_id TEXT, result TEXT, error TEXT,
  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS orders_limit_by_state ON orders_limit (state);
CREATE TABLE IF NOT EXISTS orders_batch (
  id TEXT PRIMARY KEY, state TEXT NOT NULL, model TEXT NOT NULL, max_price TEXT NOT NULL, deadline INTEGER NOT NULL,
  concurrency INTEGER NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS orders_batch_line (
  batch_id TEXT NOT NULL, idx INTEGER NOT NULL, custom_id TEXT NOT NULL, body TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('waiting','running','done','error')),
  request_id TEXT, output TEXT, price_msat INTEGER, charged_msat INTEGER, updated_at INTEGER NOT NULL,
  PRIMARY KEY (batch_id, custom_id));
`;

export type LimitOrderState = 'resting' | 'filling' | 'filled' | 'expired' | 'cancelled' | 'failed';

/** A limit order as stored. */
export interface LimitOrderRecord {
  id: string;
  state: LimitOrderState;
  request: Record<string, unknown>;
  maxPrice: unknown;
  shape: { inputTokens: number; outputTokens: number };
  deadline: number;
  /** The ask a fill went to (while filling, and once filled). */
  fill: Record<string, unknown> | null;
  /** The Payer's request id of the fill in progress (journal request id). */
  fillRequestId: string | null;
  result: Record<string, unknown> | null;
  error: { code: string; message: string } | null;
  createdAt: number;
  updatedAt: number;
}

export type BatchLineState = 'waiting' | 'running' | 'done' | 'error';

export interface BatchLineRecord {
  batchId: string;
  idx: number;
  customId: string;
  body: Record<string, unknown>;
  state: BatchLineState;
  requestId: string | null;
  /** One line of OpenAI's batch output (or error) file, as an object. */
  output: Record<string, unknown> | null;
  priceMsat: number | null;
  chargedMsat: number | null;
}

export interface BatchRecord {
  id: string;
  state: string;
  model: string;
  maxPrice: unknown;
  deadline: number;
  concurrency: number;
}

type Row = Record<string, SQLInputValue>;

const json = <T>(v: SQLInputValue | undefined): T | null => (v === null || v === undefined ? null : (JSON.parse(String(v)) as T));

function limitOf(r: Row): LimitOrderRecord {
  return {
    id: String(r['id']),
    state: String(r['state']) as LimitOrderState,
    request: json<Record<string, unknown>>(r['request']) ?? {},
    maxPrice: json<unknown>(r['max_price']),
    shape: json<{ inputTokens: number; outputTokens: number }>(r['shape']) ?? { inputTokens: 0, outputTokens: 0 },
    deadline: Number(r['deadline']),
    fill: json<Record<string, unknown>>(r['fill']),
    fillRequestId: r['fill_request_id'] === null ? null : String(r['fill_request_id']),
    result: json<Record<string, unknown>>(r['result']),
    error: json<{ code: string; message: string }>(r['error']),
    createdAt: Number(r['created_at']),
    updatedAt: Number(r['updated_at']),
  };
}

function lineOf(r: Row): BatchLineRecord {
  return {
    batchId: String(r['batch_id']),
    idx: Number(r['idx']),
    customId: String(r['custom_id']),
    body: json<Record<string, unknown>>(r['body']) ?? {},
    state: String(r['state']) as BatchLineState,
    requestId: r['request_id'] === null ? null : String(r['request_id']),
    output: json<Record<string, unknown>>(r['output']),
    priceMsat: r['price_msat'] === null ? null : Number(r['price_msat']),
    chargedMsat: r['charged_msat'] === null ? null : Number(r['charged_msat']),
  };
}

/** Order tables over the wallet store's database handle. */
export class OrderStore extends AttachedTables {
  constructor(walletStore: WalletStore) {
    super(walletStore, SCHEMA);
  }

  // --- limit orders ----------------------------------------------------------------------------

  insertLimit(o: Pick<LimitOrderRecord, 'id' | 'request' | 'maxPrice' | 'shape' | 'deadline'>): void {
    const now = Date.now();
    this.db
      .prepare(`INSERT INTO orders_limit (id, state, request, max_price, shape, deadline, created_at, updated_at) VALUES (?, 'resting', ?, ?, ?, ?, ?, ?)`)
      .run(o.id, JSON.stringify(o.request), JSON.stringify(o.maxPrice), JSON.stringify(o.shape), o.deadline, now, now);
  }

  limit(id: string): LimitOrderRecord | undefined {
    const r = this.db.prepare('SELECT * FROM orders_limit WHERE id = ?').get(id) as Row | undefined;
    return r ? limitOf(r) : undefined;
  }

  limitsIn(...states: LimitOrderState[]): LimitOrderRecord[] {
    return (this.db.prepare('SELECT * FROM orders_limit ORDER BY created_at').all() as Row[]).map(limitOf).filter((o) => states.includes(o.state));
  }

  /** Moves an order from one of `from` to `to`; false (nothing written) when it was in another state. */
  moveLimit(id: string, from: readonly LimitOrderState[], to: LimitOrderState, fields: { fill?: unknown; fillRequestId?: string | null; result?: unknown; error?: unknown } = {}): boolean {
    return this.tx(() => {
      const cur = this.limit(id);
      if (!cur || !from.includes(cur.state)) return false;
      this.db
        .prepare('UPDATE orders_limit SET state = ?, fill = ?, fill_request_id = ?, result = ?, error = ?, updated_at = ? WHERE id = ?')
        .run(
          to,
          'fill' in fields ? (fields.fill === null ? null : JSON.stringify(fields.fill)) : cur.fill === null ? null : JSON.stringify(cur.fill),
          'fillRequestId' in fields ? (fields.fillRequestId ?? null) : cur.fillRequestId,
          'result' in fields ? JSON.stringify(fields.result) : cur.result === null ? null : JSON.stringify(cur.result),
          'error' in fields ? JSON.stringify(fields.error) : cur.error === null ? null : JSON.stringify(cur.error),
          Date.now(),
          id,
        );
      return true;
    });
  }

  /** Records the Payer's request id of the fill in progress (before its token leaves). */
  setFillRequestId(id: string, requestId: string): void {
    this.db.prepare('UPDATE orders_limit SET fill_request_id = ?, updated_at = ? WHERE id = ?').run(requestId, Date.now(), id);
  }

  // --- batches ---------------------------------------------------------------------------------

  insertBatch(b: BatchRecord, lines: ReadonlyArray<{ customId: string; body: Record<string, unknown> }>): void {
    const now = Date.now();
    this.tx(() => {
      this.db
        .prepare('INSERT INTO orders_batch (id, state, model, max_price, deadline, concurrency, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
        .run(b.id, b.state, b.model, JSON.stringify(b.maxPrice), b.deadline, b.concurrency, now, now);
      const ins = this.db.prepare(`INSERT INTO orders_batch_line (batch_id, idx, custom_id, body, state, updated_at) VALUES (?, ?, ?, ?, 'waiting', ?)`);
      lines.forEach((l, i) => ins.run(b.id, i, l.customId, JSON.stringify(l.body), now));
    });
  }

  batch(id: string): BatchRecord | undefined {
    const r = this.db.prepare('SELECT * FROM orders_batch WHERE id = ?').get(id) as Row | undefined;
    if (!r) return undefined;
    return { id: String(r['id']), state: String(r['state']), model: String(r['model']), maxPrice: json<unknown>(r['max_price']), deadline: Number(r['deadline']), concurrency: Number(r['concurrency']) };
  }

  batchesIn(state: string): BatchRecord[] {
    return (this.db.prepare('SELECT id FROM orders_batch WHERE state = ? ORDER BY created_at').all(state) as Row[]).map((r) => this.batch(String(r['id'])) as BatchRecord);
  }

  setBatchState(id: string, state: string): void {
    this.db.prepare('UPDATE orders_batch SET state = ?, updated_at = ? WHERE id = ?').run(state, Date.now(), id);
  }

  lines(batchId: string): BatchLineRecord[] {
    return (this.db.prepare('SELECT * FROM orders_batch_line WHERE batch_id = ? ORDER BY idx').all(batchId) as Row[]).map(lineOf);
  }

  /** Claims a waiting line for dispatch; false when it is not waiting (so it runs at most once). */
  claimLine(batchId: string, customId: string, priceMsat: number): boolean {
    const n = this.db
      .prepare(`UPDATE orders_batch_line SET state = 'running', price_msat = ?, updated_at = ? WHERE batch_id = ? AND custom_id = ? AND state = 'waiting'`)
      .run(priceMsat, Date.now(), batchId, customId).changes;
    return Number(n) === 1;
  }

  setLineRequestId(batchId: string, customId: string, requestId: string): void {
    this.db.prepare('UPDATE orders_batch_line SET request_id = ?, updated_at = ? WHERE batch_id = ? AND custom_id = ?').run(requestId, Date.now(), batchId, customId);
  }

  /** Finishes a running line (done or error) with its output line. */
  finishLine(batchId: string, customId: string, state: 'done' | 'error', output: Record<string, unknown>, chargedMsat: number | null): void {
    this.db
      .prepare('UPDATE orders_batch_line SET state = ?, output = ?, charged_msat = ?, updated_at = ? WHERE batch_id = ? AND custom_id = ?')
      .run(state, JSON.stringify(output), chargedMsat, Date.now(), batchId, customId);
  }

  /** Puts a running line back in the queue (its try spent nothing). */
  requeueLine(batchId: string, customId: string): void {
    this.db.prepare(`UPDATE orders_batch_line SET state = 'waiting', request_id = NULL, price_msat = NULL, updated_at = ? WHERE batch_id = ? AND custom_id = ? AND state = 'running'`).run(Date.now(), batchId, customId);
  }
}
