/**
 * The Batch API's books in PostgreSQL, shared by every node process of one provider. The schema
 * is versioned (`schema_version`, one row per applied migration of each component) and migrated
 * at open under an advisory lock, so processes starting together migrate once. A line is claimed
 * with `SELECT … FOR UPDATE SKIP LOCKED`: two processes never take the same line.
 *
 * A claimer holds its own session connection (not a pooled one) and is registered with that
 * connection's backend (`pg_backend_pid()` and its `backend_start`): it is live while that backend
 * is in `pg_stat_activity`. A killed process's connection closes and its backend ends, whichever
 * host it ran on; a new backend that got the same pid has another start time.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { ENDED_STATUSES, addCount, patchColumns, toBatch, toFile, toJsonText, toLine, type Row } from './batch-rows.ts';
import type { BatchPatch, BatchRecord, BatchStore, FileRecord, LineCounts, LineRecord, LineState, NewLine, StoredFile } from './batch-store.ts';
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
  // 2: lines record their claimer; claimers record the backend of their session connection.
  `ALTER TABLE lines ADD COLUMN claimer TEXT;
  CREATE INDEX lines_held ON lines (state, claimer) WHERE state IN ('running', 'answered');
  CREATE TABLE batch_claimers (
    claimer TEXT PRIMARY KEY, backend_pid INTEGER NOT NULL, backend_start TIMESTAMPTZ NOT NULL, registered_at BIGINT NOT NULL
  );`,
];

// A claimer whose session backend still runs (same pid and start: a reused pid is another backend). As core's
// owner liveness does, a backend_start hidden from this role (another role's session) counts as a match.
const LIVE_CLAIMERS = `SELECT c.claimer FROM batch_claimers c JOIN pg_stat_activity a
  ON a.pid = c.backend_pid AND (a.backend_start IS NULL OR a.backend_start = c.backend_start)`;

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
  readonly #url: string;
  // The session connection of each claimer registered here (its liveness).
  readonly #sessions = new Map<string, pg.Client>();

  private constructor(pool: pg.Pool, url: string) {
    this.#pool = pool;
    this.#url = url;
  }

  /** Connects to `url` (`postgres://…`) and migrates the schema to the current version. */
  static async open(url: string, options: { maxConnections?: number } = {}): Promise<PostgresBatchStore> {
    return new PostgresBatchStore(await openMigratedPool({ connectionString: url, max: options.maxConnections ?? 4 }, COMPONENT, MIGRATIONS), url);
  }

  async close(): Promise<void> {
    for (const claimer of [...this.#sessions.keys()]) await this.releaseClaimer(claimer).catch(() => undefined);
    if (!this.#pool.ended) await this.#pool.end();
  }

  // --- claimers -------------------------------------------------------------------------------

  async registerClaimer(): Promise<string> {
    const claimer = `${process.pid}:${randomUUID()}`;
    const session = new pg.Client({ connectionString: this.#url, keepAlive: true });
    // A dropped session makes this claimer gone for everyone else: its lines' moves then change nothing (fenced by claimer).
    session.on('error', () => undefined);
    await session.connect();
    try {
      await this.#query(`DELETE FROM batch_claimers WHERE claimer NOT IN (${LIVE_CLAIMERS})`);
      const { rowCount } = await session.query(
        'INSERT INTO batch_claimers (claimer, backend_pid, backend_start, registered_at) SELECT $1, pid, backend_start, $2 FROM pg_stat_activity WHERE pid = pg_backend_pid() AND backend_start IS NOT NULL',
        [claimer, Date.now()],
      );
      // Without its own backend in pg_stat_activity a claimer would look gone to everyone from the start.
      if (rowCount !== 1) throw new Error('this connection cannot see its own backend in pg_stat_activity: batch claimers need it');
    } catch (error) {
      await session.end().catch(() => undefined);
      throw error;
    }
    this.#sessions.set(claimer, session);
    return claimer;
  }

  async releaseClaimer(claimer: string): Promise<void> {
    const session = this.#sessions.get(claimer);
    this.#sessions.delete(claimer);
    try {
      // Tidiness only: once its session ends the claimer is gone whether or not its row is.
      if (!this.#pool.ended) await this.#query('DELETE FROM batch_claimers WHERE claimer = $1', [claimer]);
    } finally {
      await session?.end().catch(() => undefined);
    }
  }

  async claimerLive(claimer: string): Promise<boolean> {
    return (await this.#query(`SELECT 1 FROM (${LIVE_CLAIMERS}) l WHERE l.claimer = $1`, [claimer])).rows.length > 0;
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

  async claimPending(batchId: string, model: string, claimer: string): Promise<LineRecord | undefined> {
    // SKIP LOCKED: a line another process is claiming right now is passed over, not waited for. Only from a batch in
    // progress, its row share-locked: a process ending it (FOR UPDATE) waits for this claim, or this claim for its end.
    const r = (await this.#query(
      `UPDATE lines SET state = 'running', claimer = $3 WHERE (batch_id, idx) = (
         SELECT l.batch_id, l.idx FROM lines l WHERE l.batch_id = $1 AND l.state = 'pending' AND l.model = $2
           AND EXISTS (SELECT 1 FROM batches b WHERE b.id = $1 AND b.status = 'in_progress' FOR SHARE)
         ORDER BY l.idx LIMIT 1 FOR UPDATE OF l SKIP LOCKED
       ) RETURNING *`,
      [batchId, model, claimer],
    )).rows[0];
    return r ? toLine(r) : undefined;
  }

  async line(batchId: string, index: number): Promise<LineRecord | undefined> {
    const r = (await this.#query('SELECT * FROM lines WHERE batch_id = $1 AND idx = $2', [batchId, index])).rows[0];
    return r ? toLine(r) : undefined;
  }

  async linesIn(state: LineState): Promise<LineRecord[]> {
    return (await this.#query('SELECT * FROM lines WHERE state = $1', [state])).rows.map(toLine);
  }

  async orphanedLines(state: 'running' | 'answered'): Promise<LineRecord[]> {
    return (await this.#query(`SELECT * FROM lines WHERE state = $1 AND (claimer IS NULL OR claimer NOT IN (${LIVE_CLAIMERS}))`, [state])).rows.map(toLine);
  }

  async batchLines(batchId: string, state: LineState): Promise<LineRecord[]> {
    return batchLines(this.#query, batchId, state);
  }

  async holdReservation(batchId: string, index: number, claimer: string, reservationId: string, gateMsat: number): Promise<boolean> {
    return changed(await this.#query("UPDATE lines SET reservation_id = $1, gate_msat = $2 WHERE batch_id = $3 AND idx = $4 AND state = 'running' AND claimer = $5", [reservationId, gateMsat, batchId, index, claimer]));
  }

  async markAnswered(batchId: string, index: number, claimer: string, response: unknown, costMsat: number): Promise<boolean> {
    return changed(await this.#query("UPDATE lines SET state = 'answered', response = $1, cost_msat = $2 WHERE batch_id = $3 AND idx = $4 AND state = 'running' AND claimer = $5", [JSON.stringify(response), costMsat, batchId, index, claimer]));
  }

  async markDone(batchId: string, index: number, claimer: string | null, chargedMsat: number): Promise<boolean> {
    return changed(await this.#query("UPDATE lines SET state = 'done', cost_msat = $1 WHERE batch_id = $2 AND idx = $3 AND state = 'answered' AND claimer IS NOT DISTINCT FROM $4", [chargedMsat, batchId, index, claimer]));
  }

  async markFailed(batchId: string, index: number, claimer: string, response: unknown, error: unknown): Promise<boolean> {
    return changed(await this.#query(
      "UPDATE lines SET state = 'failed', response = $1, error = $2, cost_msat = NULL WHERE batch_id = $3 AND idx = $4 AND state = 'running' AND claimer = $5",
      [toJsonText(response), toJsonText(error), batchId, index, claimer],
    ));
  }

  async resetPending(batchId: string, index: number, claimer: string | null, from: 'running' | 'answered'): Promise<boolean> {
    return changed(await this.#query(
      "UPDATE lines SET state = 'pending', claimer = NULL, reservation_id = NULL, gate_msat = NULL, cost_msat = NULL, response = NULL WHERE batch_id = $1 AND idx = $2 AND state = $3 AND claimer IS NOT DISTINCT FROM $4",
      [batchId, index, from, claimer],
    ));
  }

  async failPending(batchId: string, error: unknown): Promise<number> {
    return failPending(this.#query, batchId, error);
  }

  async endBatch(batchId: string, failPendingWith: unknown, write: (done: LineRecord[], failed: LineRecord[]) => { files: StoredFile[]; patch: BatchPatch }): Promise<boolean> {
    return inTransaction(this.#pool, async (query) => {
      // The batch row's lock makes a second process ending the same batch wait, then see it ended.
      const status = (await query('SELECT status FROM batches WHERE id = $1 FOR UPDATE', [batchId])).rows[0]?.['status'];
      if (status === undefined || ENDED_STATUSES.includes(String(status))) return false;
      // A line on an engine (in any process) or awaiting its charge would miss the files: end once it has.
      if ((await query("SELECT 1 FROM lines WHERE batch_id = $1 AND state IN ('running', 'answered') LIMIT 1", [batchId])).rows.length > 0) return false;
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

const changed = (result: pg.QueryResult): boolean => result.rowCount === 1;

async function failPending(query: Query, batchId: string, error: unknown): Promise<number> {
  return (await query("UPDATE lines SET state = 'failed', error = $1 WHERE batch_id = $2 AND state = 'pending'", [JSON.stringify(error), batchId])).rowCount ?? 0;
}

async function batchLines(query: Query, batchId: string, state: LineState): Promise<LineRecord[]> {
  return (await query('SELECT * FROM lines WHERE batch_id = $1 AND state = $2 ORDER BY idx', [batchId, state])).rows.map(toLine);
}
