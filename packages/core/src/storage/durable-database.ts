import { chmodSync, closeSync, existsSync, openSync } from 'node:fs';
import type { DatabaseSync } from 'node:sqlite';
import { PostgresConnection } from './postgres-connection.ts';
import { SqliteConnection } from './sqlite-connection.ts';
import { isPostgresUrl, type Dialect, type Row, type SqlConnection, type SqlValue } from './sql-connection.ts';

export type { Row } from './sql-connection.ts';

export interface DurableDatabaseOptions {
  /** How long a writer waits for another process's write lock (default 15 s). */
  busyTimeoutMs?: number;
  /**
   * PostgreSQL: the schema this store's tables live in (e.g. 'wallet', 'payee'), so several stores
   * share one database; also names the advisory lock that serialises its writers. Default 'public'.
   * Ignored on SQLite (one file per store).
   */
  namespace?: string;
}

/**
 * A store's schema: one text for both engines, or one per engine. On PostgreSQL a list is the
 * store's migrations (`[n - 1]` brings it to version n; never edit one that shipped); a text is migration 1.
 */
export type StoreSchema = string | { sqlite: string; postgres: string | readonly string[] };

const NAMESPACE = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * A database set up for books that hold money, on SQLite or PostgreSQL behind one synchronous API.
 *
 * SQLite (a file path or ':memory:'): WAL with `synchronous = FULL` (a committed token, charge or
 * journal entry survives a power cut), a busy timeout so several processes can share the file,
 * cached statements, and BEGIN IMMEDIATE transactions that take the write lock up front instead of
 * failing halfway.
 *
 * PostgreSQL (a `postgres://` URL): the store's tables in their own schema (`namespace`), versioned
 * (`schema_version`) and migrated at open; every transaction takes the namespace's advisory lock
 * first, so writers are serialised across processes and hosts as BEGIN IMMEDIATE serialises them
 * on one file, and a write outside a transaction runs in one of its own under that lock
 * (writeRowLocked is the one way around it, for statements that are safe on row locks alone).
 * Stores extend it and keep their own schema and queries (`dialect` picks the few non-portable forms).
 */
export class DurableDatabase {
  readonly connection: SqlConnection;
  readonly dialect: Dialect;
  /** The file's write-ahead log ('' for a database in memory or on PostgreSQL): a caller of txUnsynced() syncs it. */
  readonly walPath: string;
  /** PostgreSQL schema of this store's tables ('' on SQLite). */
  readonly namespace: string;
  readonly #begin: string;
  readonly #beginUnsynced: string;
  /** PostgreSQL: how to open the unsynced connection of writeRowLocked (made on first use). */
  readonly #unsyncedSetup: { url: string; setup: string[] } | undefined;
  #unsynced: PostgresConnection | undefined;
  #depth = 0;
  /** PostgreSQL: how long the client waits for one statement. */
  #queryTimeoutMs = 0;

  constructor(location: string, schema: StoreSchema, options: DurableDatabaseOptions = {}) {
    const busyTimeoutMs = Math.floor(options.busyTimeoutMs ?? 15_000);
    if (isPostgresUrl(location)) {
      const namespace = options.namespace ?? 'public';
      if (!NAMESPACE.test(namespace)) throw new Error(`namespace must be a lower-case SQL name, got ${JSON.stringify(namespace)}`);
      this.namespace = namespace;
      this.dialect = 'postgres';
      this.walPath = '';
      const lock = `SELECT pg_advisory_xact_lock(hashtext('routstr-kit:${namespace}'))`;
      this.#begin = `BEGIN; ${lock}`;
      this.#beginUnsynced = `BEGIN; SET LOCAL synchronous_commit = off; ${lock}`;
      // Every wait is bounded: a lock after busyTimeoutMs, a statement soon after (the server cancels it),
      // the client a little later (a half-open connection), and a process stalled inside a transaction
      // (SIGSTOP, a debugger) loses its session after 30 s, so it cannot hold the namespace's lock for good.
      const statementTimeoutMs = busyTimeoutMs + 15_000;
      const setup = [
        `SET lock_timeout = '${busyTimeoutMs}ms'`, `SET statement_timeout = '${statementTimeoutMs}ms'`,
        "SET idle_in_transaction_session_timeout = '30s'", `SET search_path TO "${namespace}"`,
      ];
      this.#queryTimeoutMs = statementTimeoutMs + 10_000;
      this.connection = new PostgresConnection(location, setup, this.#queryTimeoutMs);
      this.#unsyncedSetup = { url: location, setup: [...setup, 'SET synchronous_commit = off'] };
      try {
        this.tx(() => {
          this.connection.exec(`CREATE SCHEMA IF NOT EXISTS "${namespace}"`);
          this.migrate(namespace, typeof schema === 'string' ? schema : schema.postgres);
        });
      } catch (error) {
        this.connection.close();
        throw error;
      }
      return;
    }
    this.namespace = '';
    this.dialect = 'sqlite';
    this.#unsyncedSetup = undefined;
    this.#begin = 'BEGIN IMMEDIATE';
    this.#beginUnsynced = 'BEGIN IMMEDIATE';
    const onDisk = location !== '' && location !== ':memory:' && !location.startsWith('file:');
    // these files hold mnemonics, proofs and tokens: created 0600 before sqlite opens them
    // (node:sqlite creates with the umask, 0644 by default; the -wal and -shm files copy the main file's mode)
    if (onDisk) closeSync(openSync(location, 'a', 0o600));
    this.walPath = onDisk ? `${location}-wal` : '';
    const connection = new SqliteConnection(location, busyTimeoutMs);
    this.connection = connection;
    connection.exec(`PRAGMA busy_timeout = ${busyTimeoutMs}`);
    connection.exec('PRAGMA journal_mode = WAL');
    if (onDisk) tightenModes(location);
    connection.exec('PRAGMA synchronous = FULL');
    this.tx(() => connection.exec(typeof schema === 'string' ? schema : schema.sqlite));
  }

  /** The raw node:sqlite handle (SQLite only; PostgreSQL has none). */
  get db(): DatabaseSync {
    if (!(this.connection instanceof SqliteConnection)) throw new Error('a PostgreSQL store has no node:sqlite handle');
    return this.connection.db;
  }

  get isOpen(): boolean {
    return this.connection.isOpen;
  }

  close(): void {
    this.#unsynced?.close();
    this.connection.close();
  }

  /** Runs fn in one transaction that holds the write lock from its start (nested calls join the outer one). fn must be synchronous. */
  tx<T>(fn: () => T): T {
    return this.#transaction(this.#begin, fn);
  }

  /**
   * Runs fn in one transaction committed without waiting for the disk (SQLite: WAL `synchronous =
   * NORMAL`; PostgreSQL: `synchronous_commit = off`): it survives a process crash at once, and a
   * power cut once the log is synced — by the next ordinary commit (every one syncs the whole log),
   * a checkpoint, or (SQLite) the caller's own fdatasync of walPath. Only for writes whose loss can
   * favour nobody but the other party (see settlement-group.ts). Not inside another transaction
   * (SQLite cannot change the sync level there).
   */
  txUnsynced<T>(fn: () => T): T {
    if (this.#depth > 0) throw new Error('txUnsynced inside a transaction');
    if (this.dialect === 'postgres') return this.#transaction(this.#beginUnsynced, fn);
    this.connection.exec('PRAGMA synchronous = NORMAL');
    try {
      return this.tx(fn);
    } finally {
      this.connection.exec('PRAGMA synchronous = FULL');
    }
  }

  /**
   * Runs a write; returns the number of rows it changed. Outside a transaction on PostgreSQL it runs
   * in one of its own under the namespace's lock (as a lone SQLite write waits for the file's lock).
   */
  write(sql: string, params: readonly SqlValue[] = []): number {
    if (this.#depth === 0 && this.connection instanceof PostgresConnection) return this.connection.runAlone(this.#begin, sql, params);
    return this.connection.run(sql, params);
  }

  /**
   * Runs one write as a transaction of its own WITHOUT the namespace's lock (PostgreSQL: one round
   * trip, autocommit); returns the rows it changed. Allowed only for a statement whose correctness
   * rests on the row locks of the rows it touches — it re-checks its condition on the locked rows
   * (an UPDATE's WHERE, READ COMMITTED re-evaluates it on the newest version) or locks what it reads
   * (`SELECT … FOR UPDATE`) — and only while every locked writer of those rows reads them
   * `FOR UPDATE` (or writes relative to the row, the check in its WHERE): the lock serialises those
   * writers with each other, not with this. `synced: false` commits without waiting for the disk
   * (see txUnsynced: only for a write whose loss favours the other party), on a second connection
   * whose session has `synchronous_commit = off`. SQLite has no row locks: there it is write() (the
   * file's lock). Not inside a transaction (it would run outside it).
   */
  writeRowLocked(sql: string, params: readonly SqlValue[], options: { synced: boolean }): number {
    if (this.#depth > 0) throw new Error('writeRowLocked inside a transaction');
    if (this.#unsyncedSetup === undefined) return this.write(sql, params);
    if (options.synced) return this.connection.run(sql, params);
    this.#unsynced ??= new PostgresConnection(this.#unsyncedSetup.url, this.#unsyncedSetup.setup, this.#queryTimeoutMs);
    return this.#unsynced.run(sql, params);
  }

  /**
   * Brings `component`'s tables to the newest of `migrations` (PostgreSQL; in the caller's
   * transaction, under the namespace's lock): a database at a newer version than this code knows is refused.
   */
  migrate(component: string, migrations: string | readonly string[]): void {
    const steps = typeof migrations === 'string' ? [migrations] : migrations;
    this.tx(() => {
      this.connection.exec('CREATE TABLE IF NOT EXISTS schema_version (component TEXT NOT NULL, version INTEGER NOT NULL, applied_at BIGINT NOT NULL, PRIMARY KEY (component, version))');
      const current = Number(this.connection.get('SELECT COALESCE(MAX(version), 0) AS v FROM schema_version WHERE component = ?', [component])?.['v'] ?? 0);
      if (current > steps.length) throw new Error(`the ${component} schema is at version ${current}, newer than this code knows (${steps.length}): upgrade routstr-kit`);
      for (let v = current + 1; v <= steps.length; v++) {
        this.connection.exec(steps[v - 1] as string);
        this.connection.run('INSERT INTO schema_version (component, version, applied_at) VALUES (?, ?, ?)', [component, v, Math.floor(Date.now() / 1000)]);
      }
    });
  }

  protected all(sql: string, ...params: SqlValue[]): Row[] {
    return this.connection.all(sql, params);
  }

  /** Like all(), integers as BigInts (one value past 2^53 cannot make the whole result unreadable). */
  protected allBigInts(sql: string, ...params: SqlValue[]): Row[] {
    return this.connection.all(sql, params, { readBigInts: true });
  }

  protected get(sql: string, ...params: SqlValue[]): Row | undefined {
    return this.connection.get(sql, params);
  }

  /** Runs a write; returns the number of rows it changed. */
  protected run(sql: string, ...params: SqlValue[]): number {
    return this.write(sql, params);
  }

  #transaction<T>(begin: string, fn: () => T): T {
    if (this.#depth > 0) return fn();
    try {
      this.connection.exec(begin);
    } catch (error) {
      // PostgreSQL: BEGIN ran and the lock wait failed (lock_timeout): end the aborted transaction
      if (this.dialect === 'postgres') this.#rollback();
      throw error;
    }
    this.#depth++;
    try {
      const result = fn();
      this.connection.exec('COMMIT');
      return result;
    } catch (error) {
      if (this.dialect === 'sqlite') this.connection.exec('ROLLBACK');
      else this.#rollback();
      throw error;
    } finally {
      this.#depth--;
    }
  }

  /** PostgreSQL: ends the open transaction, if the connection still stands (a lost one was rolled back by the server). */
  #rollback(): void {
    if (!this.connection.isOpen) return;
    try {
      this.connection.exec('ROLLBACK');
    } catch {
      // the connection is gone: the server rolled the transaction back
    }
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
 * Tables that live in another store's database (its file, or its PostgreSQL namespace) and share
 * its transactions, so one transaction can cover both (e.g. a payer's or an order's row and the
 * wallet's journal). On PostgreSQL `component` versions them in the host's `schema_version`.
 */
export class AttachedTables {
  readonly #host: DurableDatabase;

  constructor(host: DurableDatabase, schema: StoreSchema, component?: string) {
    this.#host = host;
    if (host.dialect === 'sqlite') host.tx(() => host.connection.exec(typeof schema === 'string' ? schema : schema.sqlite));
    else {
      const migrations = typeof schema === 'string' ? schema : schema.postgres;
      if (component === undefined) host.tx(() => host.connection.exec(typeof migrations === 'string' ? migrations : migrations.join(';\n')));
      else host.migrate(component, migrations);
    }
  }

  get dialect(): Dialect {
    return this.#host.dialect;
  }

  /** Runs fn in the host's transaction (nested calls join the outer one). */
  tx<T>(fn: () => T): T {
    return this.#host.tx(fn);
  }

  protected get isOpen(): boolean {
    return this.#host.isOpen;
  }

  /** The host's raw node:sqlite handle (SQLite only). */
  protected get db(): DatabaseSync {
    return this.#host.db;
  }

  protected all(sql: string, ...params: SqlValue[]): Row[] {
    return this.#host.connection.all(sql, params);
  }

  /** Like all(), integers as BigInts. */
  protected allBigInts(sql: string, ...params: SqlValue[]): Row[] {
    return this.#host.connection.all(sql, params, { readBigInts: true });
  }

  /** The first row of a read (named `one`, not `get`: an attached store may have a `get` of its own). */
  protected one(sql: string, ...params: SqlValue[]): Row | undefined {
    return this.#host.connection.get(sql, params);
  }

  /** Runs a write; returns the number of rows it changed. */
  protected run(sql: string, ...params: SqlValue[]): number {
    return this.#host.write(sql, params);
  }
}
