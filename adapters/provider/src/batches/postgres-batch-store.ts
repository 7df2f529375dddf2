/**
 * The Batch API's books in PostgreSQL, shared by every node process of one provider. The schema
 * is versioned (`schema_version`, one row per applied migration of each component) and migrated
 * at open under an advisory lock, so processes starting together migrate once. A line is claimed
 * with `SELECT … FOR UPDATE SKIP LOCKED`: two processes never take the same line.
 */
import pg from 'pg';
import { ENDED_STATUSES, addCount, patchColumns, toBatch, toFile, toJsonText, toLine, type Row } from './batch-rows.ts';
import type { BatchPatch, BatchRecord, BatchStore, FileRecord, LineCounts, LineHold, LineRecord, LineState, NewLine, StoredFile } from './batch-store.ts';
import { openMigratedPool } from '../storage/pg-migrations.ts';

/** The component name of this store's rows in schema_version. */
const COMPONENT = 'batches';

/** Migrations in order; migration n brings the schema to version n. Never edit one that shipped: add the next. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE files (
    id TEXT PRIMARY KEY, owner TEXT NOT NULL, filename TEXT NOT NULL, purpose TEXT NOT NULL,
    bytes BIGINT NOT NULL, created_at BIGINT NOT NULL, content BYTEA NOT NULL
  );
  CREATE TABLE batches (
    seq BIGSERIAL PRIMARY KEY, id TEXT NOT NULL UNIQUE, owner TEXT NOT NULL, endpoint TEXT NOT NULL,
    input_file_id TEXT NOT NULL, completion_window TEXT NOT NULL, status TEXT NOT NULL, max_price BIGINT,
    metadata TEXT, errors TEXT, output_file_id TEXT, error_file_id TEXT, created_at BIGINT NOT NULL,
    in_progress_at BIGINT, expires_at BIGINT NOT NULL, finalizing_at BIGINT, completed_at BIGINT,
    failed_at BIGINT, expired_at BIGINT, cancelling_at BIGINT, cancelled_at BIGINT
  );
  CREATE INDEX batches_owner ON batches (owner, seq);
  CREATE TABLE lines (
    batch_id TEXT NOT NULL, idx INTEGER NOT NULL, custom_id TEXT, request_id TEXT NOT NULL, model TEXT, body TEXT,
    state TEXT NOT NULL, reservation_id TEXT, gate_msat BIGINT, cost_msat BIGINT, response TEXT, error TEXT,
    PRIMARY KEY (batch_id, idx)
  );
  CREATE INDEX lines_state ON lines (batch_id, state, model, idx);`,
];

type Query = (sql: string, params?: unknown[]) => Promise<pg.QueryResult<Row>>;

/** Runs fn in one transaction on one pooled connection (rolled back if it throws). */
async function inTransaction<T>(pool: pg.Pool, fn: (query: Query) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await fn((sql, params) => client.query<Row>(sql, params));
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/** The Batch API's books in PostgreSQL; see the module doc. */
export class PostgresBatchStore implements BatchStore {
  readonly #pool: pg.Pool;

  private constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  /** Connects to `url` (`postgres://…`) and migrates the schema to the current version. */
  static async open(url: string, options: { maxConnections?: number } = {}): Promise<PostgresBatchStore> {
    return new PostgresBatchStore(await openMigratedPool({ connectionString: url, max: options.maxConnections ?? 4 }, COMPONENT, MIGRATIONS));
  }

  async close(): Promise<void> {
    if (!this.#pool.ended) await this.#pool.end();
  }

  #query = (sql: string, params?: unknown[]): Promise<pg.QueryResult<Row>> => this.#pool.query<Row>(sql, params);

  // --- files ----------------------------------------------------------------------------------

  async insertFile(f: FileRecord, content: Buffer): Promise<void> {
    await insertFile(this.#query, f, content);
  }

  async file(id: string): Promise<FileRecord | undefined> {
    const r = (await this.#query('SELECT id, owner, filename, purpose, bytes, created_at FROM files WHERE id = $1', [id])).rows[0];
    return r ? toFile(r) : undefined;
  }

  async fileContent(id: string): Promise<Buffer | undefined> {
    const r = (await this.#query('SELECT content FROM files WHERE id = $1', [id])).rows[0];
    return r ? Buffer.from(r['content'] as Uint8Array) : undefined;
  }

  // --- batches --------------------------------------------------------------------------------

  async insertBatch(b: BatchRecord, lines: readonly NewLine[]): Promise<void> {
    await inTransaction(this.#pool, async (query) => {
      await query(
        `INSERT INTO batches (id, owner, endpoint, input_file_id, completion_window, status, max_price, metadata, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
        [b.id, b.owner, b.endpoint, b.inputFileId, b.completionWindow, b.status, b.maxPriceMsatPerMtok, toJsonText(b.metadata), b.createdAt, b.expiresAt],
      );
      // One statement for all lines (a batch may hold thousands): the columns go as arrays.
      if (lines.length === 0) return;
      await query(
        `INSERT INTO lines (batch_id, idx, custom_id, request_id, model, body, state, error)
         SELECT $1, * FROM unnest($2::int[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])`,
        [
          b.id, lines.map((l) => l.index), lines.map((l) => l.customId), lines.map((l) => l.requestId), lines.map((l) => l.model),
          lines.map((l) => toJsonText(l.body)), lines.map((l) => (l.error === undefined ? 'pending' : 'failed')),
          lines.map((l) => (l.error === undefined ? null : JSON.stringify(l.error))),
        ],
      );
    });
  }

  async batch(id: string): Promise<BatchRecord | undefined> {
    const r = (await this.#query('SELECT * FROM batches WHERE id = $1', [id])).rows[0];
    return r ? toBatch(r) : undefined;
  }

  async listBatches(owner: string, limit: number, after?: string): Promise<{ batches: BatchRecord[]; hasMore: boolean }> {
    const { rows } = after
      ? await this.#query('SELECT * FROM batches WHERE owner = $1 AND seq < (SELECT seq FROM batches WHERE id = $2) ORDER BY seq DESC LIMIT $3', [owner, after, limit + 1])
      : await this.#query('SELECT * FROM batches WHERE owner = $1 ORDER BY seq DESC LIMIT $2', [owner, limit + 1]);
    return { batches: rows.slice(0, limit).map(toBatch), hasMore: rows.length > limit };
  }

  async activeBatches(): Promise<BatchRecord[]> {
    return (await this.#query("SELECT * FROM batches WHERE status IN ('validating', 'in_progress', 'finalizing', 'cancelling') ORDER BY seq")).rows.map(toBatch);
  }

  async updateBatch(id: string, patch: BatchPatch): Promise<void> {
    await updateBatch(this.#query, id, patch);
  }

  // --- lines ----------------------------------------------------------------------------------

  async counts(batchId: string): Promise<LineCounts> {
    const out = { total: 0, completed: 0, failed: 0, unfinished: 0 };
    for (const r of (await this.#query('SELECT state, COUNT(*) AS n FROM lines WHERE batch_id = $1 GROUP BY state', [batchId])).rows) addCount(out, r['state'], Number(r['n']));
    return out;
  }

  async pendingModels(batchId: string): Promise<string[]> {
    return (await this.#query("SELECT DISTINCT model FROM lines WHERE batch_id = $1 AND state = 'pending'", [batchId])).rows.map((r) => String(r['model']));
  }

  async claimPending(batchId: string, model: string, hold: (line: LineRecord) => LineHold): Promise<{ line: LineRecord; hold: LineHold } | undefined> {
    return inTransaction(this.#pool, async (query) => {
      // SKIP LOCKED: a line another process is claiming right now is passed over, not waited for.
      const r = (await query("SELECT * FROM lines WHERE batch_id = $1 AND state = 'pending' AND model = $2 ORDER BY idx LIMIT 1 FOR UPDATE SKIP LOCKED", [batchId, model])).rows[0];
      if (!r) return undefined;
      const line = toLine(r);
      const decided = hold(line);
      if ('failed' in decided) {
        await markFailed(query, batchId, line.index, null, decided.failed);
        return { line: { ...line, state: 'failed' as const, error: decided.failed }, hold: decided };
      }
      await query("UPDATE lines SET state = 'running', reservation_id = $1, gate_msat = $2 WHERE batch_id = $3 AND idx = $4", [decided.reservationId, decided.gateMsat, batchId, line.index]);
      return { line: { ...line, state: 'running' as const, reservationId: decided.reservationId, gateMsat: decided.gateMsat }, hold: decided };
    });
  }

  async line(batchId: string, index: number): Promise<LineRecord | undefined> {
    const r = (await this.#query('SELECT * FROM lines WHERE batch_id = $1 AND idx = $2', [batchId, index])).rows[0];
    return r ? toLine(r) : undefined;
  }

  async linesIn(state: LineState): Promise<LineRecord[]> {
    return (await this.#query('SELECT * FROM lines WHERE state = $1', [state])).rows.map(toLine);
  }

  async batchLines(batchId: string, state: LineState): Promise<LineRecord[]> {
    return batchLines(this.#query, batchId, state);
  }

  async markAnswered(batchId: string, index: number, response: unknown, costMsat: number): Promise<void> {
    await this.#query("UPDATE lines SET state = 'answered', response = $1, cost_msat = $2 WHERE batch_id = $3 AND idx = $4", [JSON.stringify(response), costMsat, batchId, index]);
  }

  async markDone(batchId: string, index: number, chargedMsat: number): Promise<void> {
    await this.#query("UPDATE lines SET state = 'done', cost_msat = $1 WHERE batch_id = $2 AND idx = $3", [chargedMsat, batchId, index]);
  }

  async markFailed(batchId: string, index: number, response: unknown, error: unknown): Promise<void> {
    await markFailed(this.#query, batchId, index, response, error);
  }

  async resetPending(batchId: string, index: number): Promise<void> {
    await this.#query("UPDATE lines SET state = 'pending', reservation_id = NULL, gate_msat = NULL, cost_msat = NULL, response = NULL WHERE batch_id = $1 AND idx = $2", [batchId, index]);
  }

  async failPending(batchId: string, error: unknown): Promise<number> {
    return failPending(this.#query, batchId, error);
  }

  async endBatch(batchId: string, failPendingWith: unknown, write: (done: LineRecord[], failed: LineRecord[]) => { files: StoredFile[]; patch: BatchPatch }): Promise<boolean> {
    return inTransaction(this.#pool, async (query) => {
      // The batch row's lock makes a second process ending the same batch wait, then see it ended.
      const status = (await query('SELECT status FROM batches WHERE id = $1 FOR UPDATE', [batchId])).rows[0]?.['status'];
      if (status === undefined || ENDED_STATUSES.includes(String(status))) return false;
      if (failPendingWith !== undefined) await failPending(query, batchId, failPendingWith);
      const { files, patch } = write(await batchLines(query, batchId, 'done'), await batchLines(query, batchId, 'failed'));
      for (const f of files) await insertFile(query, f.file, f.content);
      await updateBatch(query, batchId, patch);
      return true;
    });
  }
}

// Statements used both alone and inside a transaction take the query function to run on.

async function insertFile(query: Query, f: FileRecord, content: Buffer): Promise<void> {
  await query('INSERT INTO files (id, owner, filename, purpose, bytes, created_at, content) VALUES ($1, $2, $3, $4, $5, $6, $7)', [f.id, f.owner, f.filename, f.purpose, f.bytes, f.createdAt, content]);
}

async function updateBatch(query: Query, id: string, patch: BatchPatch): Promise<void> {
  const columns = patchColumns(patch);
  if (columns.length === 0) return;
  await query(`UPDATE batches SET ${columns.map(([c], i) => `${c} = $${i + 1}`).join(', ')} WHERE id = $${columns.length + 1}`, [...columns.map(([, v]) => v), id]);
}

async function markFailed(query: Query, batchId: string, index: number, response: unknown, error: unknown): Promise<void> {
  await query("UPDATE lines SET state = 'failed', response = $1, error = $2, cost_msat = NULL WHERE batch_id = $3 AND idx = $4", [toJsonText(response), toJsonText(error), batchId, index]);
}

async function failPending(query: Query, batchId: string, error: unknown): Promise<number> {
  return (await query("UPDATE lines SET state = 'failed', error = $1 WHERE batch_id = $2 AND state = 'pending'", [JSON.stringify(error), batchId])).rowCount ?? 0;
}

async function batchLines(query: Query, batchId: string, state: LineState): Promise<LineRecord[]> {
  return (await query('SELECT * FROM lines WHERE batch_id = $1 AND state = $2 ORDER BY idx', [batchId, state])).rows.map(toLine);
}
