/**
 * The orders' records, in the wallet's database (own tables, the wallet store's
 * transactions), so a restart finds every limit order and batch line where it was:
 * resting orders resume, filling ones are reconciled against the wallet journal, and a batch
 * line that was dispatched is never dispatched again.
 */
import { UnreadableOrder } from './errors.ts';
import { AttachedTables, type Row } from '../storage/index.ts';
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

const POSTGRES_SCHEMA = `
CREATE TABLE IF NOT EXISTS orders_limit (
  id TEXT PRIMARY KEY, state TEXT NOT NULL CHECK (state IN ('resting','filling','filled','expired','cancelled','failed')),
  request TEXT NOT NULL, max_price TEXT NOT NULL, shape TEXT NOT NULL, deadline BIGINT NOT NULL,
  fill TEXT, fill_request_id TEXT, result TEXT, error TEXT,
  created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL);
CREATE INDEX IF NOT EXISTS orders_limit_by_state ON orders_limit (state);
CREATE TABLE IF NOT EXISTS orders_batch (
  id TEXT PRIMARY KEY, state TEXT NOT NULL, model TEXT NOT NULL, max_price TEXT NOT NULL, deadline BIGINT NOT NULL,
  concurrency BIGINT NOT NULL, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS orders_batch_line (
  batch_id TEXT NOT NULL, idx BIGINT NOT NULL, custom_id TEXT NOT NULL, body TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('waiting','running','done','error')),
  request_id TEXT, output TEXT, price_msat BIGINT, charged_msat BIGINT, updated_at BIGINT NOT NULL,
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

/** A stored limit order that cannot be read (a value out of range, broken JSON); left as stored, never resumed. */
export interface UnreadableOrderRow {
  id: string;
  problem: string;
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

const STATES: readonly LimitOrderState[] = ['resting', 'filling', 'filled', 'expired', 'cancelled', 'failed'];
/** Epoch ms a Date can hold (±8.64e15). */
const MAX_EPOCH_MS = 8.64e15;

/** A stored row that cannot be read: out-of-range numbers, broken JSON, a missing field. */
class RowProblem extends Error {}

/** An integer column: rows are read with BigInts so one out-of-range value cannot make the whole table unreadable. */
function int(r: Row, column: string, min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): number {
  const v = r[column];
  // a REAL (a fractional value an older version stored) reads as its whole part
  const n = typeof v === 'bigint' ? (v >= BigInt(min) && v <= BigInt(max) ? Number(v) : Number.NaN) : typeof v === 'number' ? Math.trunc(v) : Number.NaN;
  if (!(n >= min && n <= max)) throw new RowProblem(`${column} is out of range`);
  return n;
}

function intOrNull(r: Row, column: string): number | null {
  return r[column] === null ? null : int(r, column);
}

function json<T>(r: Row, column: string): T | null {
  const v = r[column];
  if (v === null || v === undefined) return null;
  try {
    return JSON.parse(String(v)) as T;
  } catch {
    throw new RowProblem(`${column} is not JSON`);
  }
}

const isCount = (v: unknown): v is number => typeof v === 'number' && v >= 0 && v <= Number.MAX_SAFE_INTEGER;

function maxPriceOf(r: Row): unknown {
  const v = json<unknown>(r, 'max_price');
  const o = v as { prompt?: unknown; completion?: unknown } | null;
  if (!(typeof v === 'number' ? isCount(v) : typeof o === 'object' && o !== null && isCount(o.prompt) && isCount(o.completion))) throw new RowProblem('max_price is not a price');
  return v;
}

function limitOf(r: Row): LimitOrderRecord {
  const state = String(r['state']) as LimitOrderState;
  if (!STATES.includes(state)) throw new RowProblem(`state ${state.slice(0, 40)} is unknown`);
  const request = json<Record<string, unknown>>(r, 'request');
  if (typeof request !== 'object' || request === null || typeof request['model'] !== 'string') throw new RowProblem('request names no model');
  const shape = json<{ inputTokens: number; outputTokens: number }>(r, 'shape');
  if (!shape || !isCount(shape.inputTokens) || !isCount(shape.outputTokens)) throw new RowProblem('shape is not a request shape');
  return {
    id: String(r['id']),
    state,
    request,
    maxPrice: maxPriceOf(r),
    shape,
    deadline: int(r, 'deadline', -MAX_EPOCH_MS, MAX_EPOCH_MS),
    fill: json<Record<string, unknown>>(r, 'fill'),
    fillRequestId: r['fill_request_id'] === null ? null : String(r['fill_request_id']),
    result: json<Record<string, unknown>>(r, 'result'),
    error: json<{ code: string; message: string }>(r, 'error'),
    createdAt: int(r, 'created_at'),
    updatedAt: int(r, 'updated_at'),
  };
}

/** Reads a limit order row, or says why it cannot be read. */
function readLimit(r: Row): { record: LimitOrderRecord } | { unreadable: UnreadableOrderRow } {
  try {
    return { record: limitOf(r) };
  } catch (error) {
    if (!(error instanceof RowProblem)) throw error;
    return { unreadable: { id: String(r['id']), problem: error.message } };
  }
}

function lineOf(r: Row): BatchLineRecord {
  return {
    batchId: String(r['batch_id']),
    idx: int(r, 'idx'),
    customId: String(r['custom_id']),
    body: json<Record<string, unknown>>(r, 'body') ?? {},
    state: String(r['state']) as BatchLineState,
    requestId: r['request_id'] === null ? null : String(r['request_id']),
    output: json<Record<string, unknown>>(r, 'output'),
    priceMsat: intOrNull(r, 'price_msat'),
    chargedMsat: intOrNull(r, 'charged_msat'),
  };
}

/** Order tables over the wallet store's database handle. */
export class OrderStore extends AttachedTables {
  constructor(walletStore: WalletStore) {
    super(walletStore, { sqlite: SCHEMA, postgres: POSTGRES_SCHEMA }, 'orders');
  }

  // --- limit orders ----------------------------------------------------------------------------

  insertLimit(o: Pick<LimitOrderRecord, 'id' | 'request' | 'maxPrice' | 'shape' | 'deadline'>): void {
    const now = Date.now();
    this.run(`INSERT INTO orders_limit (id, state, request, max_price, shape, deadline, created_at, updated_at) VALUES (?, 'resting', ?, ?, ?, ?, ?, ?)`,
      o.id, JSON.stringify(o.request), JSON.stringify(o.maxPrice), JSON.stringify(o.shape), o.deadline, now, now);
  }

  /** The order `id`; throws UnreadableOrder when its row cannot be read (that row only). */
  limit(id: string): LimitOrderRecord | undefined {
    const r = this.allBigInts('SELECT * FROM orders_limit WHERE id = ?', id)[0];
    if (!r) return undefined;
    const read = readLimit(r);
    if ('unreadable' in read) throw new UnreadableOrder(read.unreadable.id, read.unreadable.problem);
    return read.record;
  }

  /** Readable orders in `states`, oldest first; unreadable rows are skipped (see unreadableLimits). */
  limitsIn(...states: LimitOrderState[]): LimitOrderRecord[] {
    return this.#limitRows(states).flatMap((read) => ('record' in read ? [read.record] : []));
  }

  /** Stored orders that cannot be read, and why. */
  unreadableLimits(): UnreadableOrderRow[] {
    return this.#limitRows(STATES).flatMap((read) => ('unreadable' in read ? [read.unreadable] : []));
  }

  #limitRows(states: readonly LimitOrderState[]): ReturnType<typeof readLimit>[] {
    const marks = states.map(() => '?').join(', ');
    return this.allBigInts(`SELECT * FROM orders_limit WHERE state IN (${marks}) ORDER BY created_at`, ...states).map(readLimit);
  }

  /** Moves an order from one of `from` to `to`; false (nothing written) when it was in another state. */
  moveLimit(id: string, from: readonly LimitOrderState[], to: LimitOrderState, fields: { fill?: unknown; fillRequestId?: string | null; result?: unknown; error?: unknown } = {}): boolean {
    return this.tx(() => {
      const cur = this.limit(id);
      if (!cur || !from.includes(cur.state)) return false;
      this.run(
          'UPDATE orders_limit SET state = ?, fill = ?, fill_request_id = ?, result = ?, error = ?, updated_at = ? WHERE id = ?',
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
    this.run('UPDATE orders_limit SET fill_request_id = ?, updated_at = ? WHERE id = ?', requestId, Date.now(), id);
  }

  // --- batches ---------------------------------------------------------------------------------

  insertBatch(b: BatchRecord, lines: ReadonlyArray<{ customId: string; body: Record<string, unknown> }>): void {
    const now = Date.now();
    this.tx(() => {
      this.run('INSERT INTO orders_batch (id, state, model, max_price, deadline, concurrency, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        b.id, b.state, b.model, JSON.stringify(b.maxPrice), b.deadline, b.concurrency, now, now);
      lines.forEach((l, i) => this.run(`INSERT INTO orders_batch_line (batch_id, idx, custom_id, body, state, updated_at) VALUES (?, ?, ?, ?, 'waiting', ?)`, b.id, i, l.customId, JSON.stringify(l.body), now));
    });
  }

  batch(id: string): BatchRecord | undefined {
    const r = this.allBigInts('SELECT * FROM orders_batch WHERE id = ?', id)[0];
    if (!r) return undefined;
    try {
      return { id: String(r['id']), state: String(r['state']), model: String(r['model']), maxPrice: maxPriceOf(r), deadline: int(r, 'deadline', -MAX_EPOCH_MS, MAX_EPOCH_MS), concurrency: int(r, 'concurrency', 1) };
    } catch (error) {
      if (error instanceof RowProblem) throw new UnreadableOrder(id, error.message);
      throw error;
    }
  }

  batchesIn(state: string): BatchRecord[] {
    return this.all('SELECT id FROM orders_batch WHERE state = ? ORDER BY created_at', state).flatMap((r) => {
      try {
        return [this.batch(String(r['id'])) as BatchRecord];
      } catch (error) {
        if (error instanceof UnreadableOrder) return [];
        throw error;
      }
    });
  }

  setBatchState(id: string, state: string): void {
    this.run('UPDATE orders_batch SET state = ?, updated_at = ? WHERE id = ?', state, Date.now(), id);
  }

  lines(batchId: string): BatchLineRecord[] {
    try {
      return this.allBigInts('SELECT * FROM orders_batch_line WHERE batch_id = ? ORDER BY idx', batchId).map(lineOf);
    } catch (error) {
      if (error instanceof RowProblem) throw new UnreadableOrder(batchId, error.message);
      throw error;
    }
  }

  /** Claims a waiting line for dispatch; false when it is not waiting (so it runs at most once). */
  claimLine(batchId: string, customId: string, priceMsat: number): boolean {
    const n = this.run(`UPDATE orders_batch_line SET state = 'running', price_msat = ?, updated_at = ? WHERE batch_id = ? AND custom_id = ? AND state = 'waiting'`, priceMsat, Date.now(), batchId, customId);
    return n === 1;
  }

  setLineRequestId(batchId: string, customId: string, requestId: string): void {
    this.run('UPDATE orders_batch_line SET request_id = ?, updated_at = ? WHERE batch_id = ? AND custom_id = ?', requestId, Date.now(), batchId, customId);
  }

  /** Finishes a running line (done or error) with its output line. */
  finishLine(batchId: string, customId: string, state: 'done' | 'error', output: Record<string, unknown>, chargedMsat: number | null): void {
    this.run('UPDATE orders_batch_line SET state = ?, output = ?, charged_msat = ?, updated_at = ? WHERE batch_id = ? AND custom_id = ?',
      state, JSON.stringify(output), chargedMsat, Date.now(), batchId, customId);
  }

  /** Puts a running line back in the queue (its try spent nothing). */
  requeueLine(batchId: string, customId: string): void {
    this.run(`UPDATE orders_batch_line SET state = 'waiting', request_id = NULL, price_msat = NULL, updated_at = ? WHERE batch_id = ? AND custom_id = ? AND state = 'running'`, Date.now(), batchId, customId);
  }
}
