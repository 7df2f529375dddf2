/**
 * The payee's tables, for node:sqlite and for PostgreSQL (amounts and times BIGINT there). Records
 * that can be in flight (X-Cashu requests, deposits, reservations, refunds, payouts) carry the
 * `owner` (`<pid>:<uuid>`, storage/owner-liveness.ts) of the process working on them, so that with
 * several processes on one database recovery touches only what a gone process left. A file
 * written before the column existed gets it by `ALTER TABLE … ADD COLUMN` (migrateOwnerColumns),
 * never by recreating a table.
 */

const TABLES = (int: string, serial: string): string => `
CREATE TABLE IF NOT EXISTS xcashu (
  token_hash TEXT PRIMARY KEY, token TEXT NOT NULL, request_id TEXT NOT NULL, mint TEXT NOT NULL, model TEXT NOT NULL,
  face_sat ${int} NOT NULL, gate_msat ${int} NOT NULL, credited_msat ${int}, state TEXT NOT NULL,
  cost_msat ${int}, change_sat ${int}, change_token TEXT, created_at ${int} NOT NULL, updated_at ${int} NOT NULL);
CREATE TABLE IF NOT EXISTS accounts (
  api_key TEXT PRIMARY KEY, balance_msat ${int} NOT NULL, reserved_msat ${int} NOT NULL, total_requests ${int} NOT NULL,
  total_spent_msat ${int} NOT NULL, refund_token TEXT, refund_sat ${int}, created_at ${int} NOT NULL);
CREATE TABLE IF NOT EXISTS deposits (
  token_hash TEXT PRIMARY KEY, token TEXT NOT NULL, api_key TEXT NOT NULL, mint TEXT NOT NULL, face_sat ${int} NOT NULL,
  state TEXT NOT NULL, credited_msat ${int}, created_at ${int} NOT NULL);
CREATE TABLE IF NOT EXISTS reservations (
  id TEXT PRIMARY KEY, api_key TEXT NOT NULL, amount_msat ${int} NOT NULL, state TEXT NOT NULL, cost_msat ${int},
  created_at ${int} NOT NULL);
CREATE TABLE IF NOT EXISTS charges (
  ${serial}, ref TEXT NOT NULL UNIQUE, source TEXT NOT NULL, amount_msat ${int} NOT NULL,
  created_at ${int} NOT NULL);
CREATE TABLE IF NOT EXISTS refunds (
  id TEXT PRIMARY KEY, api_key TEXT NOT NULL, sat ${int} NOT NULL, state TEXT NOT NULL, token TEXT, created_at ${int} NOT NULL);
CREATE TABLE IF NOT EXISTS payouts (
  id TEXT PRIMARY KEY, kind TEXT NOT NULL, amount_msat ${int} NOT NULL, state TEXT NOT NULL, token TEXT,
  created_at ${int} NOT NULL);
`;

/** Tables whose records may be in flight and so carry an owner. */
export const OWNED_TABLES = ['xcashu', 'deposits', 'reservations', 'refunds', 'payouts'] as const;

// Held reservations are looked up per account (a full account frees a gone process's holds) and at recovery.
const INDEXES = `CREATE INDEX IF NOT EXISTS reservations_held ON reservations (api_key) WHERE state = 'held';`;

/** The sqlite schema as the first version wrote it; the owner columns are added by migrateOwnerColumns. */
export const SQLITE_SCHEMA = TABLES('INTEGER', 'seq INTEGER PRIMARY KEY AUTOINCREMENT');

/** The PostgreSQL schema (no older layout exists there: the owner columns are part of it). */
export const POSTGRES_SCHEMA = `${TABLES('BIGINT', 'seq BIGSERIAL PRIMARY KEY')}
${OWNED_TABLES.map((t) => `ALTER TABLE ${t} ADD COLUMN IF NOT EXISTS owner TEXT;`).join('\n')}
${INDEXES}`;

/**
 * Adds the owner column to each owned table that lacks it, and the indexes (sqlite; run in a
 * transaction). `columns(table)` lists a table's column names.
 */
export function sqliteOwnerMigration(columns: (table: string) => string[]): string {
  const missing = OWNED_TABLES.filter((t) => !columns(t).includes('owner'));
  return `${missing.map((t) => `ALTER TABLE ${t} ADD COLUMN owner TEXT;`).join('\n')}\n${INDEXES}`;
}
