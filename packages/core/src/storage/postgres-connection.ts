/**
 * The PostgreSQL side of SqlConnection: a `pg` client owned by a worker thread (pg-worker.ts) and
 * called synchronously through synckit, so the stores keep their synchronous API. The worker is
 * unref'd: a process that exits without closing does not hang on it.
 */
import { randomUUID } from 'node:crypto';
import { createSyncFn } from 'synckit';
import type { PgReply, PgRequest, WireValue } from './pg-protocol.ts';
import type { ReadOptions, Row, SqlConnection, SqlValue } from './sql-connection.ts';
import { numberPlaceholders } from './sql-connection.ts';

type Call = (request: PgRequest) => PgReply;

/** How long the main thread waits for the worker at most (statements are bounded well below it: see DurableDatabase). */
const CALL_TIMEOUT_MS = 10 * 60_000;

/** The worker module beside this one: .ts in the workspace sources, .js in the built package. */
function workerUrl(): URL {
  return new URL(import.meta.url.endsWith('.ts') ? './pg-worker.ts' : './pg-worker.js', import.meta.url);
}

export class PostgresConnection implements SqlConnection {
  readonly dialect = 'postgres' as const;
  readonly #id = randomUUID();
  readonly #call: Call;
  /** `?` SQL → `$n` SQL, per statement text (the stores use a fixed set). */
  readonly #numbered = new Map<string, string>();
  #open = false;

  /**
   * Connects to `url` and runs `setup` (session settings) on the new connection; the client gives up
   * on a statement after `queryTimeoutMs`.
   */
  constructor(url: string, setup: readonly string[], queryTimeoutMs: number) {
    // the last bound on the main thread's wait, should the worker itself stall (one worker per process: synckit keeps one per file)
    this.#call = createSyncFn<(request: PgRequest) => Promise<PgReply>>(workerUrl(), { timeout: CALL_TIMEOUT_MS });
    this.#call({ op: 'open', id: this.#id, url, setup: [...setup], queryTimeoutMs });
    this.#open = true;
  }

  get isOpen(): boolean {
    return this.#open;
  }

  exec(sql: string): void {
    this.#call({ op: 'exec', id: this.#id, sql });
  }

  all(sql: string, params: readonly SqlValue[] = [], options: ReadOptions = {}): Row[] {
    return this.#query(sql, params, options.readBigInts ?? false).rows as Row[];
  }

  get(sql: string, params: readonly SqlValue[] = [], options: ReadOptions = {}): Row | undefined {
    return this.all(sql, params, options)[0];
  }

  run(sql: string, params: readonly SqlValue[] = []): number {
    return this.#query(sql, params, false).count;
  }

  /** Runs one write in a transaction of its own opened by `begin` (BEGIN + the namespace's lock); returns the rows it changed. */
  runAlone(begin: string, sql: string, params: readonly SqlValue[] = []): number {
    return this.#query(sql, params, false, begin).count;
  }

  close(): void {
    if (!this.#open) return;
    this.#open = false;
    this.#call({ op: 'close', id: this.#id });
  }

  #query(sql: string, params: readonly SqlValue[], bigints: boolean, begin?: string): PgReply {
    let text = this.#numbered.get(sql);
    if (text === undefined) {
      text = numberPlaceholders(sql);
      this.#numbered.set(sql, text);
    }
    const wire: WireValue[] = params.map((p) => (typeof p === 'bigint' ? p.toString() : p));
    return this.#call({ op: 'query', id: this.#id, sql: text, params: wire, bigints, ...(begin === undefined ? {} : { begin }) });
  }
}
