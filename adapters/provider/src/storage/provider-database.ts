/**
 * The provider's `database` setting: a PostgreSQL URL that holds every book of the node (wallet,
 * payee, batches, the market maker's shared quotes and announcer lease), so that several node
 * processes on it serve as one provider. Checked before anything opens: a malformed URL or a
 * database that does not answer stops the start with a typed error, never a half-started node.
 */
import pg from 'pg';
import { redactLocation } from '@routstr-kit/core';

export type ProviderDatabaseErrorCode = 'invalid_database_url' | 'invalid_database_options' | 'database_unreachable';

/** The `database` setting cannot be used; the message never shows the URL's password. */
export class ProviderDatabaseError extends Error {
  readonly code: ProviderDatabaseErrorCode;
  constructor(code: ProviderDatabaseErrorCode, message: string) {
    super(message);
    this.name = 'ProviderDatabaseError';
    this.code = code;
  }
}


/** Refuses anything but a `postgres://` / `postgresql://` URL with a host and a database name. */
export function checkDatabaseUrl(url: string): void {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  const ok = parsed !== undefined && /^postgres(ql)?:$/i.test(parsed.protocol) && parsed.hostname !== '' && parsed.pathname.length > 1;
  if (!ok) {
    throw new ProviderDatabaseError('invalid_database_url', `database must be a postgres://[user[:password]@]host[:port]/dbname URL, got ${redactLocation(url)}`);
  }
}

/**
 * Connects once and runs `SELECT 1` (at most `timeoutMs`): the database is there and lets us in.
 * Throws `database_unreachable` with the driver's reason otherwise.
 */
export async function checkDatabaseReachable(url: string, timeoutMs = 5_000): Promise<void> {
  checkDatabaseUrl(url);
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs, query_timeout: timeoutMs, application_name: 'routstr-kit start check' });
  // a connection that fails after connect() rejected also emits 'error': nothing to crash on
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
  } catch (error) {
    const reason = (error as Error).message.split(url).join(redactLocation(url));
    throw new ProviderDatabaseError('database_unreachable', `cannot reach the database ${redactLocation(url)}: ${reason}`);
  } finally {
    await client.end().catch(() => undefined);
  }
}
