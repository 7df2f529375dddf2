/**
 * Files, batches and their lines in one node:sqlite file (`<dataDir>/batches.db`). A line moves
 * pending → running (reservation held) → answered (response and cost stored, not yet charged)
 * → done (charged), or → failed; on restart the runner finishes or re-runs each line from the
 * state it was left in (see BatchRunner.recover), so a line is charged at most once.
 */
import type { SQLInputValue } from 'node:sqlite';
import { DurableDatabase } from '@routstr-kit/core';

export type BatchStatus = 'validating' | 'in_progress' | 'finalizing' | 'completed' | 'expired' | 'cancelling' | 'cancelled' | 'failed';
export type LineState = 'pending' | 'running' | 'answered' | 'done' | 'failed';

/** A stored file (content kept apart). */
export interface FileRecord {
  id: string;
  owner: string;
  filename: string;
  purpose: string;
  bytes: number;
  createdAt: number;
}

/** A batch as stored; timestamps are unix seconds. */
export interface BatchRecord {
  id: string;
  owner: string;
  endpoint: string;
  inputFileId: string;
  completionWindow: string;
  status: BatchStatus;
  /** Completion price ceiling, msat/Mtok; null: no ceiling. */
  maxPriceMsatPerMtok: number | null;
  metadata: Record<string, string> | null;
  errors: unknown;
  outputFileId: string | null;
  errorFileId: string | null;
  createdAt: number;
  inProgressAt: number | null;
  expiresAt: number;
  finalizingAt: number | null;
  completedAt: number | null;
  failedAt: number | null;
  expiredAt: number | null;
  cancellingAt: number | null;
  cancelledAt: number | null;
}

/** One request line of a batch. */
export interface LineRecord {
  batchId: string;
  index: number;
  customId: string | null;
  /** `batch_req_…`: the id of its output/error line. */
  requestId: string;
  model: string | null;
  body: Record<string, unknown> | null;
  state: LineState;
  reservationId: string | null;
  gateMsat: number | null;
  costMsat: number | null;
  response: unknown;
  error: unknown;
}

type Row = Record<string, SQLInputValue>;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS files (
  id TEXT PRIMARY KEY, owner TEXT NOT NULL, filename TEXT NOT NULL, purpose TEXT NOT NULL,
  bytes INTEGER NOT NULL, created_at INTEGER NOT NULL, content BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS batches (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, owner TEXT NOT NULL, endpoint TEXT NOT NULL,
  input_file_id TEXT NOT NULL, completion_window TEXT NOT NULL, status TEXT NOT NULL, max_price INTEGER,
  metadata TEXT, errors TEXT, output_file_id TEXT, error_file_id TEXT, created_at INTEGER NOT NULL,
  in_progress_at INTEGER, expires_at INTEGER NOT NULL, finalizing_at INTEGER, completed_at INTEGER,
  failed_at INTEGER, expired_at INTEGER, cancelling_at INTEGER, cancelled_at INTEGER
);
CREATE INDEX IF NOT EXISTS batches_owner ON batches (owner, seq);
CREATE TABLE IF NOT EXISTS lines (
  batch_id TEXT NOT NULL, idx INTEGER NOT NULL, custom_id TEXT, request_id TEXT NOT NULL, model TEXT, body TEXT,
  state TEXT NOT NULL, reservation_id TEXT, gate_msat INTEGER, cost_msat INTEGER, response TEXT, error TEXT,
  PRIMARY KEY (batch_id, idx)
);
CREATE INDEX IF NOT EXISTS lines_state ON lines (batch_id, state, model, idx);
`;

const str = (v: SQLInputValue | undefined): string | null => (v === null || v === undefined ? null : String(v));
const num = (v: SQLInputValue | undefined): number | null => (v === null || v === undefined ? null : Number(v));
const json = (v: SQLInputValue | undefined): unknown => (v === null || v === undefined ? null : (JSON.parse(String(v)) as unknown));

const BATCH_COLUMNS: Record<string, string> = {
  status: 'status', errors: 'errors', outputFileId: 'output_file_id', errorFileId: 'error_file_id',
  inProgressAt: 'in_progress_at', finalizingAt: 'finalizing_at', completedAt: 'completed_at', failedAt: 'failed_at',
  expiredAt: 'expired_at', cancellingAt: 'cancelling_at', cancelledAt: 'cancelled_at',
};

function toBatch(r: Row): BatchRecord {
  return {
    id: String(r['id']), owner: String(r['owner']), endpoint: String(r['endpoint']), inputFileId: String(r['input_file_id']),
    completionWindow: String(r['completion_window']), status: String(r['status']) as BatchStatus, maxPriceMsatPerMtok: num(r['max_price']),
    metadata: json(r['metadata']) as Record<string, string> | null, errors: json(r['errors']),
    outputFileId: str(r['output_file_id']), errorFileId: str(r['error_file_id']), createdAt: Number(r['created_at']),
    inProgressAt: num(r['in_progress_at']), expiresAt: Number(r['expires_at']), finalizingAt: num(r['finalizing_at']),
    completedAt: num(r['completed_at']), failedAt: num(r['failed_at']), expiredAt: num(r['expired_at']),
    cancellingAt: num(r['cancelling_at']), cancelledAt: num(r['cancelled_at']),
  };
}

function toLine(r: Row): LineRecord {
  return {
    batchId: String(r['batch_id']), index: Number(r['idx']), customId: str(r['custom_id']), requestId: String(r['request_id']),
    model: str(r['model']), body: json(r['body']) as Record<string, unknown> | null, state: String(r['state']) as LineState,
    reservationId: str(r['reservation_id']), gateMsat: num(r['gate_msat']), costMsat: num(r['cost_msat']),
    response: json(r['response']), error: json(r['error']),
  };
}

function toFile(r: Row): FileRecord {
  return { id: String(r['id']), owner: String(r['owner']), filename: String(r['filename']), purpose: String(r['purpose']), bytes: Number(r['bytes']), createdAt: Number(r['created_at']) };
}

/** A new line as the store takes it. */
export interface NewLine {
  index: number;
  customId: string | null;
  requestId: string;
  model: string | null;
  body: Record<string, unknown> | null;
  /** Set for a line refused at validation (it is stored failed). */
  error?: unknown;
}

/** The durable books of the Batch API; see the module doc. */
export class BatchStore extends DurableDatabase {

  constructor(path: string) {
    super(path, SCHEMA);
  }

  // --- files ----------------------------------------------------------------------------------

  insertFile(f: FileRecord, content: Buffer): void {
    this.run('INSERT INTO files (id, owner, filename, purpose, bytes, created_at, content) VALUES (?, ?, ?, ?, ?, ?, ?)', f.id, f.owner, f.filename, f.purpose, f.bytes, f.createdAt, content);
  }

  file(id: string): FileRecord | undefined {
    const r = this.get('SELECT id, owner, filename, purpose, bytes, created_at FROM files WHERE id = ?', id);
    return r ? toFile(r) : undefined;
  }

  fileContent(id: string): Buffer | undefined {
    const r = this.get('SELECT content FROM files WHERE id = ?', id);
    return r ? Buffer.from(r['content'] as Uint8Array) : undefined;
  }

  // --- batches --------------------------------------------------------------------------------

  /** Stores a batch and all its lines (refused ones already failed) at once. */
  insertBatch(b: BatchRecord, lines: readonly NewLine[]): void {
    this.tx(() => {
      this.run(
        `INSERT INTO batches (id, owner, endpoint, input_file_id, completion_window, status, max_price, metadata, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        b.id, b.owner, b.endpoint, b.inputFileId, b.completionWindow, b.status, b.maxPriceMsatPerMtok, b.metadata ? JSON.stringify(b.metadata) : null, b.createdAt, b.expiresAt,
      );
      for (const l of lines) {
        this.run(
          'INSERT INTO lines (batch_id, idx, custom_id, request_id, model, body, state, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
          b.id, l.index, l.customId, l.requestId, l.model, l.body ? JSON.stringify(l.body) : null, l.error === undefined ? 'pending' : 'failed', l.error === undefined ? null : JSON.stringify(l.error),
        );
      }
    });
  }

  batch(id: string): BatchRecord | undefined {
    const r = this.get('SELECT * FROM batches WHERE id = ?', id);
    return r ? toBatch(r) : undefined;
  }

  /** An owner's batches, newest first; `after`: only those older than that batch. */
  listBatches(owner: string, limit: number, after?: string): { batches: BatchRecord[]; hasMore: boolean } {
    const rows = after
      ? this.all('SELECT * FROM batches WHERE owner = ? AND seq < (SELECT seq FROM batches WHERE id = ?) ORDER BY seq DESC LIMIT ?', owner, after, limit + 1)
      : this.all('SELECT * FROM batches WHERE owner = ? ORDER BY seq DESC LIMIT ?', owner, limit + 1);
    return { batches: rows.slice(0, limit).map(toBatch), hasMore: rows.length > limit };
  }

  /** Batches the runner still has work on, oldest first. */
  activeBatches(): BatchRecord[] {
    return this.all("SELECT * FROM batches WHERE status IN ('validating', 'in_progress', 'finalizing', 'cancelling') ORDER BY seq").map(toBatch);
  }

  updateBatch(id: string, patch: Partial<Pick<BatchRecord, 'status' | 'errors' | 'outputFileId' | 'errorFileId' | 'inProgressAt' | 'finalizingAt' | 'completedAt' | 'failedAt' | 'expiredAt' | 'cancellingAt' | 'cancelledAt'>>): void {
    for (const [key, value] of Object.entries(patch)) {
      const column = BATCH_COLUMNS[key];
      if (!column) throw new Error(`unknown batch field ${key}`);
      const v = key === 'errors' ? (value == null ? null : JSON.stringify(value)) : (value as SQLInputValue);
      this.run(`UPDATE batches SET ${column} = ? WHERE id = ?`, v, id);
    }
  }

  // --- lines ----------------------------------------------------------------------------------

  /** total / completed (done) / failed, as OpenAI's request_counts. */
  counts(batchId: string): { total: number; completed: number; failed: number; unfinished: number } {
    const out = { total: 0, completed: 0, failed: 0, unfinished: 0 };
    for (const r of this.all('SELECT state, COUNT(*) AS n FROM lines WHERE batch_id = ? GROUP BY state', batchId)) {
      const n = Number(r['n']);
      out.total += n;
      if (r['state'] === 'done') out.completed += n;
      else if (r['state'] === 'failed') out.failed += n;
      else out.unfinished += n;
    }
    return out;
  }

  /** Models of a batch's pending lines. */
  pendingModels(batchId: string): string[] {
    return this.all("SELECT DISTINCT model FROM lines WHERE batch_id = ? AND state = 'pending'", batchId).map((r) => String(r['model']));
  }

  /** The first pending line of `model` in a batch. */
  nextPending(batchId: string, model: string): LineRecord | undefined {
    const r = this.get("SELECT * FROM lines WHERE batch_id = ? AND state = 'pending' AND model = ? ORDER BY idx LIMIT 1", batchId, model);
    return r ? toLine(r) : undefined;
  }

  line(batchId: string, index: number): LineRecord | undefined {
    const r = this.get('SELECT * FROM lines WHERE batch_id = ? AND idx = ?', batchId, index);
    return r ? toLine(r) : undefined;
  }

  /** Lines in a state, across batches (recovery). */
  linesIn(state: LineState): LineRecord[] {
    return this.all('SELECT * FROM lines WHERE state = ?', state).map(toLine);
  }

  /** A batch's lines in a state, in input order (output and error files). */
  batchLines(batchId: string, state: LineState): LineRecord[] {
    return this.all('SELECT * FROM lines WHERE batch_id = ? AND state = ? ORDER BY idx', batchId, state).map(toLine);
  }

  markRunning(batchId: string, index: number, reservationId: string, gateMsat: number): void {
    this.run("UPDATE lines SET state = 'running', reservation_id = ?, gate_msat = ? WHERE batch_id = ? AND idx = ? AND state = 'pending'", reservationId, gateMsat, batchId, index);
  }

  markAnswered(batchId: string, index: number, response: unknown, costMsat: number): void {
    this.run("UPDATE lines SET state = 'answered', response = ?, cost_msat = ? WHERE batch_id = ? AND idx = ?", JSON.stringify(response), costMsat, batchId, index);
  }

  markDone(batchId: string, index: number, chargedMsat: number): void {
    this.run("UPDATE lines SET state = 'done', cost_msat = ? WHERE batch_id = ? AND idx = ?", chargedMsat, batchId, index);
  }

  markFailed(batchId: string, index: number, response: unknown, error: unknown): void {
    this.run(
      "UPDATE lines SET state = 'failed', response = ?, error = ?, cost_msat = NULL WHERE batch_id = ? AND idx = ?",
      response == null ? null : JSON.stringify(response), error == null ? null : JSON.stringify(error), batchId, index,
    );
  }

  /** Back to pending, uncharged (the run was cut off before any charge). */
  resetPending(batchId: string, index: number): void {
    this.run("UPDATE lines SET state = 'pending', reservation_id = NULL, gate_msat = NULL, cost_msat = NULL, response = NULL WHERE batch_id = ? AND idx = ?", batchId, index);
  }

  /** Fails every pending line of a batch with `error` (expiry, cancellation); returns how many. */
  failPending(batchId: string, error: unknown): number {
    return this.run("UPDATE lines SET state = 'failed', error = ? WHERE batch_id = ? AND state = 'pending'", JSON.stringify(error), batchId);
  }
}
