/**
 * One synchronous SQL connection, SQLite (node:sqlite) or PostgreSQL (a `pg` client in a worker
 * thread, called synchronously): the money books keep their synchronous transactions on either.
 * SQL is written with `?` placeholders; integers come back as JS numbers (or BigInts when asked).
 */
import type { SQLOutputValue } from 'node:sqlite';

export type Dialect = 'sqlite' | 'postgres';

/** A value bound to a `?` placeholder. */
export type SqlValue = null | number | bigint | string | Uint8Array;

/** One result row, column name → value. */
export type Row = Record<string, SQLOutputValue>;

/** How a read returns integers. */
export interface ReadOptions {
  /** Integers as BigInts, so one value past 2^53 cannot make the whole result unreadable. */
  readBigInts?: boolean;
}

/** A synchronous connection to one database; see the module doc. */
export interface SqlConnection {
  readonly dialect: Dialect;
  readonly isOpen: boolean;
  /** Runs one or more statements without parameters. */
  exec(sql: string): void;
  all(sql: string, params?: readonly SqlValue[], options?: ReadOptions): Row[];
  get(sql: string, params?: readonly SqlValue[], options?: ReadOptions): Row | undefined;
  /** Runs a write; returns the number of rows it changed. */
  run(sql: string, params?: readonly SqlValue[]): number;
  close(): void;
}

/** True when `location` names a PostgreSQL database (`postgres://` or `postgresql://` URL) rather than a file. */
export function isPostgresUrl(location: string): boolean {
  return /^postgres(ql)?:\/\//i.test(location);
}

/**
 * `location` with any password replaced by `***`, for messages and logs (a database URL carries its
 * credential): the URL's password and a `password` query parameter, whatever the scheme; in text that
 * is no URL, anything shaped like `user:secret@host`. A file path comes back as given.
 */
export function redactLocation(location: string): string {
  let url: URL;
  try {
    url = new URL(location);
  } catch {
    return location.replace(/:[^:@/\s]*@/, ':***@');
  }
  if (url.password === '' && !url.searchParams.has('password')) return location;
  if (url.password !== '') url.password = '***';
  if (url.searchParams.has('password')) url.searchParams.set('password', '***');
  return url.toString();
}

/**
 * `sql` with each `?` placeholder outside quoted strings, quoted identifiers and `--` comments
 * rewritten to PostgreSQL's `$1`, `$2`, … (block comments and dollar-quoted strings are not parsed: the
 * stores write none)
 */
export function numberPlaceholders(sql: string): string {
  let out = '';
  let n = 0;
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i] as string;
    if (c === "'" || c === '"') {
      const end = closingQuote(sql, i, c);
      out += sql.slice(i, end + 1);
      i = end;
    } else if (c === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i);
      const stop = end === -1 ? sql.length : end;
      out += sql.slice(i, stop);
      i = stop - 1;
    } else if (c === '?') {
      out += `$${++n}`;
    } else {
      out += c;
    }
  }
  return out;
}

/** Index of the quote closing the one at `start` (a doubled quote is an escaped one). */
function closingQuote(sql: string, start: number, quote: string): number {
  let i = start + 1;
  for (;;) {
    const at = sql.indexOf(quote, i);
    if (at === -1) return sql.length - 1;
    if (sql[at + 1] === quote) {
      i = at + 2;
      continue;
    }
    return at;
  }
}
