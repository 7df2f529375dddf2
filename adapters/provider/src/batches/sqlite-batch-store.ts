/**
 * The Batch API's books in one node:sqlite file (`<dataDir>/batches.db`), the embedded default.
 * No schema_version: tables are created if missing and a file an earlier version wrote gets the
 * `claimer` column of lines added at open. Claimers are owners of the core's OwnerRegistry
 * (`live_owners` in this file: pid + process start time), so several processes on one file see
 * each other's claimers live. Work is synchronous underneath; the async methods only fit the
 * BatchStore interface.
 */
import { randomUUID } from 'node:crypto';
import { DurableDatabase, OwnerRegistry } from '@routstr-kit/core';
import { ENDED_STATUSES, addCount, patchColumns, toBatch, toFile, toJsonText, toLine } from './batch-rows.ts';
import type { BatchPatch, BatchRecord, BatchStore, FileRecord, LineCounts, LineRecord, LineState, NewLine, StoredFile } from './batch-store.ts';

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


/** The Batch API's books in SQLite; see the module doc. */
export class SqliteBatchStore extends DurableDatabase implements BatchStore {
  readonly #owners: OwnerRegistry;

  constructor(path: string) {
    super(path, SCHEMA);
    this.tx(() => {
      // A file written before claimers (issue 19) lacks the column: added once, its lines keep a null claimer.
      if (!this.all('PRAGMA table_info(lines)').some((c) => c['name'] === 'claimer')) this.db.exec('ALTER TABLE lines ADD COLUMN claimer TEXT');
      this.db.exec("CREATE INDEX IF NOT EXISTS lines_held ON lines (state, claimer) WHERE state IN ('running', 'answered')");
    });
    this.#owners = new OwnerRegistry(this);
  }

  override async close(): Promise<void> {
    if (this.db.isOpen) this.#owners.releaseAll();
    super.close();
  }

  // --- claimers -------------------------------------------------------------------------------

  async registerClaimer(): Promise<string> {
    const claimer = `${process.pid}:${randomUUID()}`;
    this.#owners.register(claimer);
    return claimer;
  }

  async releaseClaimer(claimer: string): Promise<void> {
    this.#owners.release(claimer);
  }

  async claimerLive(claimer: string): Promise<boolean> {
    return !this.#owners.gone(claimer);
  }

  // --- files ----------------------------------------------------------------------------------

  async insertFile(f: FileRecord, content: Buffer): Promise<void> {
    this.#insertFile(f, content);
  }

  #insertFile(f: FileRecord, content: Buffer): void {
    this.run('INSERT INTO files (id, owner, filename, purpose, bytes, created_at, content) VALUES (?, ?, ?, ?, ?, ?, ?)', f.id, f.owner, f.filename, f.purpose, f.bytes, f.createdAt, content);
  }

  async file(id: string): Promise<FileRecord | undefined> {
    const r = this.get('SELECT id, owner, filename, purpose, bytes, created_at FROM files WHERE id = ?', id);
    return r ? toFile(r) : undefined;
  }

  async fileContent(id: string): Promise<Buffer | undefined> {
    const r = this.get('SELECT content FROM files WHERE id = ?', id);
    return r ? Buffer.from(r['content'] as Uint8Array) : undefined;
  }

  // --- batches --------------------------------------------------------------------------------

  async insertBatch(b: BatchRecord, lines: readonly NewLine[]): Promise<void> {
    this.tx(() => {
      this.run(
        `INSERT INTO batches (id, owner, endpoint, input_file_id, completion_window, status, max_price, metadata, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        b.id, b.owner, b.endpoint, b.inputFileId, b.completionWindow, b.status, b.maxPriceMsatPerMtok, toJsonText(b.metadata), b.createdAt, b.expiresAt,
      );
      for (const l of lines) {
        this.run(
          'INSERT INTO lines (batch_id, idx, custom_id, request_id, model, body, state, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
          b.id, l.index, l.customId, l.requestId, l.model, toJsonText(l.body), l.error === undefined ? 'pending' : 'failed', l.error === undefined ? null : JSON.stringify(l.error),
        );
      }
    });
  }

  async batch(id: string): Promise<BatchRecord | undefined> {
    const r = this.get('SELECT * FROM batches WHERE id = ?', id);
    return r ? toBatch(r) : undefined;
  }

  async listBatches(owner: string, limit: number, after?: string): Promise<{ batches: BatchRecord[]; hasMore: boolean }> {
    const rows = after
      ? this.all('SELECT * FROM batches WHERE owner = ? AND seq < (SELECT seq FROM batches WHERE id = ?) ORDER BY seq DESC LIMIT ?', owner, after, limit + 1)
      : this.all('SELECT * FROM batches WHERE owner = ? ORDER BY seq DESC LIMIT ?', owner, limit + 1);
    return { batches: rows.slice(0, limit).map(toBatch), hasMore: rows.length > limit };
  }

  async activeBatches(): Promise<BatchRecord[]> {
    return this.all("SELECT * FROM batches WHERE status IN ('validating', 'in_progress', 'finalizing', 'cancelling') ORDER BY seq").map(toBatch);
  }

  async updateBatch(id: string, patch: BatchPatch): Promise<void> {
    this.#updateBatch(id, patch);
  }

  #updateBatch(id: string, patch: BatchPatch): void {
    const columns = patchColumns(patch);
    if (columns.length === 0) return;
    this.run(`UPDATE batches SET ${columns.map(([c]) => `${c} = ?`).join(', ')} WHERE id = ?`, ...columns.map(([, v]) => v), id);
  }

  // --- lines ----------------------------------------------------------------------------------

  async counts(batchId: string): Promise<LineCounts> {
    const out = { total: 0, completed: 0, failed: 0, unfinished: 0 };
    for (const r of this.all('SELECT state, COUNT(*) AS n FROM lines WHERE batch_id = ? GROUP BY state', batchId)) addCount(out, r['state'], Number(r['n']));
    return out;
  }

  async pendingModels(batchId: string): Promise<string[]> {
    return this.all("SELECT DISTINCT model FROM lines WHERE batch_id = ? AND state = 'pending'", batchId).map((r) => String(r['model']));
  }

  async claimPending(batchId: string, model: string, claimer: string): Promise<LineRecord | undefined> {
    // One BEGIN IMMEDIATE transaction: the write lock is taken before the read, so two processes on one file cannot take the same line.
    return this.tx(() => {
      // Only from a batch still in progress: one another process is ending (or has ended) gives no more lines.
      if (this.get('SELECT status FROM batches WHERE id = ?', batchId)?.['status'] !== 'in_progress') return undefined;
      const r = this.get("SELECT * FROM lines WHERE batch_id = ? AND state = 'pending' AND model = ? ORDER BY idx LIMIT 1", batchId, model);
      if (!r) return undefined;
      this.run("UPDATE lines SET state = 'running', claimer = ? WHERE batch_id = ? AND idx = ?", claimer, batchId, Number(r['idx']));
      return { ...toLine(r), state: 'running' as const, claimer };
    });
  }

  async line(batchId: string, index: number): Promise<LineRecord | undefined> {
    const r = this.get('SELECT * FROM lines WHERE batch_id = ? AND idx = ?', batchId, index);
    return r ? toLine(r) : undefined;
  }

  async linesIn(state: LineState): Promise<LineRecord[]> {
    return this.all('SELECT * FROM lines WHERE state = ?', state).map(toLine);
  }

  async orphanedLines(state: 'running' | 'answered'): Promise<LineRecord[]> {
    const gone = new Map<string, boolean>();
    const isGone = (claimer: string | null): boolean => {
      if (claimer === null) return true;
      let g = gone.get(claimer);
      if (g === undefined) gone.set(claimer, (g = this.#owners.gone(claimer)));
      return g;
    };
    return this.all('SELECT * FROM lines WHERE state = ?', state).map(toLine).filter((l) => isGone(l.claimer));
  }

  async batchLines(batchId: string, state: LineState): Promise<LineRecord[]> {
    return this.#batchLines(batchId, state);
  }

  #batchLines(batchId: string, state: LineState): LineRecord[] {
    return this.all('SELECT * FROM lines WHERE batch_id = ? AND state = ? ORDER BY idx', batchId, state).map(toLine);
  }

  async holdReservation(batchId: string, index: number, claimer: string, reservationId: string, gateMsat: number): Promise<boolean> {
    return this.run("UPDATE lines SET reservation_id = ?, gate_msat = ? WHERE batch_id = ? AND idx = ? AND state = 'running' AND claimer IS ?", reservationId, gateMsat, batchId, index, claimer) === 1;
  }

  async markAnswered(batchId: string, index: number, claimer: string, response: unknown, costMsat: number): Promise<boolean> {
    return this.run("UPDATE lines SET state = 'answered', response = ?, cost_msat = ? WHERE batch_id = ? AND idx = ? AND state = 'running' AND claimer IS ?", JSON.stringify(response), costMsat, batchId, index, claimer) === 1;
  }

  async markDone(batchId: string, index: number, claimer: string | null, chargedMsat: number): Promise<boolean> {
    return this.run("UPDATE lines SET state = 'done', cost_msat = ? WHERE batch_id = ? AND idx = ? AND state = 'answered' AND claimer IS ?", chargedMsat, batchId, index, claimer) === 1;
  }

  async markFailed(batchId: string, index: number, claimer: string, response: unknown, error: unknown): Promise<boolean> {
    return this.run("UPDATE lines SET state = 'failed', response = ?, error = ?, cost_msat = NULL WHERE batch_id = ? AND idx = ? AND state = 'running' AND claimer IS ?", toJsonText(response), toJsonText(error), batchId, index, claimer) === 1;
  }

  async resetPending(batchId: string, index: number, claimer: string | null, from: 'running' | 'answered'): Promise<boolean> {
    return this.run(
      'UPDATE lines SET state = \'pending\', claimer = NULL, reservation_id = NULL, gate_msat = NULL, cost_msat = NULL, response = NULL WHERE batch_id = ? AND idx = ? AND state = ? AND claimer IS ?',
      batchId, index, from, claimer,
    ) === 1;
  }

  async failPending(batchId: string, error: unknown): Promise<number> {
    return this.#failPending(batchId, error);
  }

  #failPending(batchId: string, error: unknown): number {
    return this.run("UPDATE lines SET state = 'failed', error = ? WHERE batch_id = ? AND state = 'pending'", JSON.stringify(error), batchId);
  }

  async endBatch(batchId: string, failPendingWith: unknown, write: (done: LineRecord[], failed: LineRecord[]) => { files: StoredFile[]; patch: BatchPatch }): Promise<boolean> {
    return this.tx(() => {
      const status = this.get('SELECT status FROM batches WHERE id = ?', batchId)?.['status'];
      if (status === undefined || ENDED_STATUSES.includes(String(status))) return false;
      // A line on an engine (in any process) or awaiting its charge would miss the files: end once it has.
      if (this.get("SELECT 1 FROM lines WHERE batch_id = ? AND state IN ('running', 'answered') LIMIT 1", batchId)) return false;
      if (failPendingWith !== undefined) this.#failPending(batchId, failPendingWith);
      const { files, patch } = write(this.#batchLines(batchId, 'done'), this.#batchLines(batchId, 'failed'));
      for (const f of files) this.#insertFile(f.file, f.content);
      this.#updateBatch(batchId, patch);
      return true;
    });
  }
}

