/**
 * The announcer's lease: a PostgreSQL session-level advisory lock, keyed by the provider's pubkey,
 * held on a connection of its own. Whoever holds it announces and ticks; PostgreSQL releases it when
 * the holder's connection ends (process killed, network gone, backend terminated), and the next
 * `tryTake` of another process gets it. Losing the connection drops the lease at once (the
 * client's 'error'/'end' event), and a holder checks its connection on every `tryTake`, so a silent
 * network loss is noticed within one query timeout.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';

/** The advisory lock key of a provider's lease (a signed 64-bit integer, as a decimal string). */
export function leaseKey(pubkey: string): string {
  const digest = createHash('sha256').update(`routstr-kit announcer ${pubkey}`).digest();
  return digest.readBigInt64BE(0).toString();
}

export interface AnnouncerLeaseOptions {
  database: string;
  /** The provider's pubkey (hex): one lease per provider. */
  pubkey: string;
  /** Shown in pg_stat_activity, so an operator sees which process holds it. */
  applicationName: string;
  /** Connect and query timeout (ms). */
  timeoutMs: number;
  log: (message: string) => void;
}

/** One process's hold (or not) on the provider's announcer lease. */
export class AnnouncerLease {
  readonly #options: AnnouncerLeaseOptions;
  readonly #key: string;
  #client: pg.Client | undefined;
  #held = false;
  #closed = false;
  readonly #listeners = new Set<(held: boolean) => void>();

  constructor(options: AnnouncerLeaseOptions) {
    this.#options = options;
    this.#key = leaseKey(options.pubkey);
  }

  /** Whether this process holds the lease now. */
  get held(): boolean {
    return this.#held;
  }

  /** Called with true when the lease is taken, false when it is lost. Returns an unsubscribe function. */
  onChange(listener: (held: boolean) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Takes the lease if free (connecting first if needed); a holder checks its connection. Returns whether held. */
  async tryTake(): Promise<boolean> {
    if (this.#closed) return false;
    try {
      const client = this.#client ?? (await this.#connect());
      if (this.#held) {
        await client.query('SELECT 1');
        return this.#held;
      }
      const { rows } = await client.query<{ taken: boolean }>('SELECT pg_try_advisory_lock($1::bigint) AS taken', [this.#key]);
      // the connection may have gone while the answer travelled
      if (rows[0]?.taken === true && this.#client === client && !this.#closed) this.#set(true);
    } catch (error) {
      this.#options.log(`market maker: announcer lease: ${error instanceof Error ? error.message : String(error)}`);
      this.#drop();
    }
    return this.#held;
  }

  /** Gives the lease up (ends its connection) and takes no more. */
  async close(): Promise<void> {
    this.#closed = true;
    const client = this.#client;
    this.#drop();
    await client?.end().catch(() => undefined);
  }

  async #connect(): Promise<pg.Client> {
    const client = new pg.Client({
      connectionString: this.#options.database,
      application_name: this.#options.applicationName,
      connectionTimeoutMillis: this.#options.timeoutMs,
      query_timeout: this.#options.timeoutMs,
      keepAlive: true,
    });
    const lost = (): void => {
      if (this.#client === client) this.#drop();
    };
    client.on('error', lost);
    client.on('end', lost);
    try {
      await client.connect();
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
    if (this.#closed) {
      await client.end().catch(() => undefined);
      throw new Error('lease closed');
    }
    this.#client = client;
    return client;
  }

  /** Forgets the connection (ending it releases the lock server-side) and the lease with it. */
  #drop(): void {
    const client = this.#client;
    this.#client = undefined;
    client?.end().catch(() => undefined);
    if (this.#held) this.#set(false);
  }

  #set(held: boolean): void {
    this.#held = held;
    for (const listener of [...this.#listeners]) listener(held);
  }
}
