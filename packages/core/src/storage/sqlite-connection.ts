/** The node:sqlite side of SqlConnection: a file (or ':memory:') with its prepared statements cached. */
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import type { ReadOptions, Row, SqlConnection, SqlValue } from './sql-connection.ts';

export class SqliteConnection implements SqlConnection {
  readonly dialect = 'sqlite' as const;
  readonly db: DatabaseSync;
  readonly #statements = new Map<string, StatementSync>();
  readonly #wide = new Map<string, StatementSync>();

  constructor(path: string, busyTimeoutMs: number) {
    this.db = new DatabaseSync(path, { timeout: busyTimeoutMs });
  }

  get isOpen(): boolean {
    return this.db.isOpen;
  }

  exec(sql: string): void {
    this.db.exec(sql);
  }

  all(sql: string, params: readonly SqlValue[] = [], options: ReadOptions = {}): Row[] {
    return this.#statement(sql, options).all(...params) as Row[];
  }

  get(sql: string, params: readonly SqlValue[] = [], options: ReadOptions = {}): Row | undefined {
    return this.#statement(sql, options).get(...params) as Row | undefined;
  }

  run(sql: string, params: readonly SqlValue[] = []): number {
    return Number(this.#statement(sql, {}).run(...params).changes);
  }

  close(): void {
    if (this.db.isOpen) this.db.close();
  }

  #statement(sql: string, options: ReadOptions): StatementSync {
    const cache = options.readBigInts ? this.#wide : this.#statements;
    let statement = cache.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      if (options.readBigInts) statement.setReadBigInts(true);
      cache.set(sql, statement);
    }
    return statement;
  }
}
