/**
 * The worker thread behind PostgresConnection: it owns one `pg` client per connection and answers
 * the main thread's synchronous calls (synckit). Loaded as .ts from the workspace (Node's type
 * stripping) and as .js from the built package, so it imports nothing of ours but types.
 */
import pg from 'pg';
import { runAsWorker } from 'synckit';
import type { PgReply, PgRequest, WireRow } from './pg-protocol.ts';

const INT8 = 20;
const NUMERIC = 1700;

/** Serves requests; the clients by connection id live as long as the thread. */
function serve(): void {
  const clients = new Map<string, { client: pg.Client; broken: Error | null }>();
  runAsWorker(async (request: PgRequest): Promise<PgReply> => answer(clients, request));
}

async function answer(clients: Map<string, { client: pg.Client; broken: Error | null }>, request: PgRequest): Promise<PgReply> {
  if (request.op === 'open') {
    const client = new pg.Client({
      connectionString: request.url, application_name: 'routstr-kit', connectionTimeoutMillis: 15_000,
      // a dead peer is noticed in seconds, not after the OS default of ~2 h; a statement never waits forever
      keepAlive: true, keepAliveInitialDelayMillis: 10_000, query_timeout: request.queryTimeoutMs,
    });
    const entry = { client, broken: null as Error | null };
    // a dropped connection (server restart, terminated backend) fails the next call instead of crashing the thread
    client.on('error', (error) => void (entry.broken = error));
    try {
      await client.connect();
      for (const sql of request.setup) await client.query(sql);
    } catch (error) {
      await client.end().catch(() => undefined);
      throw plain(error);
    }
    clients.set(request.id, entry);
    return { rows: [], count: 0 };
  }
  const entry = clients.get(request.id);
  if (request.op === 'close') {
    clients.delete(request.id);
    await entry?.client.end().catch(() => undefined);
    return { rows: [], count: 0 };
  }
  if (!entry) throw new Error('the PostgreSQL connection is closed');
  if (entry.broken) throw new Error(`the PostgreSQL connection was lost: ${entry.broken.message}`);
  try {
    if (request.op === 'exec') {
      const result = await entry.client.query(request.sql);
      // a statement that failed inside the transaction aborted it: PostgreSQL answers COMMIT with a
      // rollback, where SQLite would have committed the rest; never let that pass as a commit
      if (request.sql === 'COMMIT' && !Array.isArray(result) && result.command === 'ROLLBACK') {
        throw new Error('the transaction was rolled back, not committed: a statement in it failed');
      }
      return { rows: [], count: 0 };
    }
    if (request.begin === undefined) return reply(await entry.client.query(request.sql, request.params), request.bigints);
    // one write in its own transaction, under the namespace's lock: BEGIN + lock, the write, COMMIT
    try {
      await entry.client.query(request.begin);
      const result = reply(await entry.client.query(request.sql, request.params), request.bigints);
      await entry.client.query('COMMIT');
      return result;
    } catch (error) {
      await entry.client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
  } catch (error) {
    throw plain(error);
  }
}

serve();

/** A result as plain rows: int8/numeric as numbers (BigInts when asked), a non-safe integer refused. */
function reply(result: pg.QueryResult, bigints: boolean): PgReply {
  const wide = result.fields.filter((f) => f.dataTypeID === INT8 || f.dataTypeID === NUMERIC).map((f) => f.name);
  const rows = result.rows as WireRow[];
  if (wide.length > 0) {
    for (const row of rows) {
      for (const name of wide) {
        const v = row[name];
        if (typeof v === 'string') row[name] = bigints ? wideInteger(v) : integer(v, name);
      }
    }
  }
  return { rows, count: result.rowCount ?? 0 };
}

function integer(text: string, column: string): number {
  const n = Number(text);
  if (Number.isInteger(n) && !Number.isSafeInteger(n)) throw new RangeError(`column ${column} holds ${text}, past the integers a JS number holds exactly`);
  return n;
}

function wideInteger(text: string): bigint | number {
  return /^-?\d+$/.test(text) ? BigInt(text) : Number(text);
}

/** An error the main thread receives whole: the message, and PostgreSQL's SQLSTATE as `code`. */
function plain(error: unknown): Error {
  const e = error as { message?: unknown; code?: unknown };
  const out = new Error(String(e?.message ?? error));
  if (typeof e?.code === 'string') Object.assign(out, { code: e.code });
  return out;
}
