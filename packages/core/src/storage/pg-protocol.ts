/** The messages between PostgresConnection (main thread) and pg-worker.ts. */

/** A parameter as it crosses to the worker (BigInts as decimal strings). */
export type WireValue = null | number | string | Uint8Array;
export type WireRow = Record<string, null | number | bigint | string | Uint8Array>;

export type PgRequest =
  /** `queryTimeoutMs`: the client gives up on a statement after this long (a half-open connection, a stalled server). */
  | { op: 'open'; id: string; url: string; setup: string[]; queryTimeoutMs: number }
  | { op: 'exec'; id: string; sql: string }
  /** `begin`: run the statement in its own transaction opened by these statements (BEGIN + lock). */
  | { op: 'query'; id: string; sql: string; params: WireValue[]; bigints: boolean; begin?: string }
  | { op: 'close'; id: string };

export interface PgReply {
  rows: WireRow[];
  count: number;
}
