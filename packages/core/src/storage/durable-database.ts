import { chmodSync, closeSync, existsSync, openSync } from 'node:fs';
import { DatabaseSync, type SQLInputValue, type SQLOutputValue, type StatementSync } from 'node:sqlite';

export type Row = Record<string, SQLOutputValue>;

export interface DurableDatabaseOptions {
  /** How long a writer waits for another process's write lock (default 15 s). */
  busyTimeoutMs?: number;
}

/**
 * A node:sqlite file set up for books that hold money: WAL with `synchronous = FULL` (a committed
 * token, charge or journal entry survives a power cut), a busy timeout so several processes can
 * share the file, cached statements, and BEGIN IMMEDIATE transactions that take the write lock up
 * front instead of failing halfway. Stores extend it and keep their own schema and queries.
 */
export class DurableDatabase {
  readonly db: DatabaseSync;
  /** The file's write-ahead log ('' for a database in memory): a caller of txUnsynced() syncs it. */
  readonly walPath: string;
  readonly #statements = new Map<string, StatementSync>();
  #depth = 0;

  constructor(path: string, schema: string, options: DurableDatabaseOptions = {}) {
    const busyTimeoutMs = Math.floor(options.busyTimeoutMs ?? 15_000);
    const onDisk = path !== '' && path !== ':memory:' && !path.startsWith('file:');
    // these files hold mnemonics, proofs and tokens: created 0600 before sqlite opens them
    // (node:sqlite creates with the umask, 0644 by default; the -wal and -shm files copy the main file's mode)
    if (onDisk) closeSync(openSync(path, 'a', 0o600));
    this.walPath = onDisk ? `${path}-wal` : '';
    this.db = new DatabaseSync(path, { timeout: busyTimeoutMs });
    this.db.exec(`PRAGMA busy_timeout = ${busyTimeoutMs}`);
    this.db.exec('PRAGMA journal_mode = WAL');
    if (onDisk) tightenModes(path);
    this.db.exec('PRAGMA synchronous = FULL');
    this.tx(() => this.db.exec(schema));
  }

  close(): void {
    if (this.db.isOpen) this.db.close();
  }

  /** Runs fn in one BEGIN IMMEDIATE transaction (nested calls join the outer one). fn must be synchronous. */
  tx<T>(fn: () => T): T {
    if (this.#depth > 0) return fn();
    this.db.exec('BEGIN IMMEDIATE');
    this.#depth++;
    try {
      const result = fn();
      this.db.exec('COMMIT');
      return result;
    } catch (error) {
      this.db.exec('ROLLBACK');
      throw error;
    } finally {
      this.#depth--;
    }
  }

  /**
   * Runs fn in one transaction committed without waiting for the disk (WAL `synchronous = NORMAL`):
   * it survives a process crash at once, and a power cut once the log is synced — by the next
   * ordinary commit (every one syncs the whole log), a checkpoint, or the caller's own fdatasync of
   * walPath. Only for writes whose loss can favour nobody but the other party (see settlement-group.ts).
   * Not inside another transaction (SQLite cannot change the sync level there).
   */
  txUnsynced<T>(fn: () => T): T {
    if (this.#depth > 0) throw new Error('txUnsynced inside a transaction');
    this.db.exec('PRAGMA synchronous = NORMAL');
    try {
      return this.tx(fn);
    } finally {
      this.db.exec('PRAGMA synchronous = FULL');
    }
  }

  protected all(sql: string, ...params: SQLInputValue[]): Row[] {
    return this.#statement(sql).all(...params) as Row[];
  }

  protected get(sql: string, ...params: SQLInputValue[]): Row | undefined {
    return this.#statement(sql).get(...params) as Row | undefined;
  }

  /** Runs a write; returns the number of rows it changed. */
  protected run(sql: string, ...params: SQLInputValue[]): number {
    return Number(this.#statement(sql).run(...params).changes);
  }

  #statement(sql: string): StatementSync {
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }
}

/** Makes a database file and its -wal/-shm files 0600 (files an older version created 0644 included). */
function tightenModes(path: string): void {
  for (const file of [path, `${path}-wal`, `${path}-shm`]) {
    if (!existsSync(file)) continue;
    try {
      chmodSync(file, 0o600);
    } catch {
      // a file another user owns (a shared wallet set up on purpose) keeps the mode its owner chose
    }
  }
}

/**
 * Tables that live in another store's database file and share its BEGIN IMMEDIATE transactions,
 * so one transaction can cover both (e.g. a payer's or an order's row and the wallet's journal).
 */
export class AttachedTables {
  readonly #host: DurableDatabase;

  constructor(host: DurableDatabase, schema: string) {
    this.#host = host;
    host.tx(() => host.db.exec(schema));
  }

  /** Runs fn in the host's transaction (nested calls join the outer one). */
  tx<T>(fn: () => T): T {
    return this.#host.tx(fn);
  }

  protected get db(): DatabaseSync {
    return this.#host.db;
  }
}
