import { DatabaseSync } from 'node:sqlite';
import { EventRepository, EventType, EventUtils } from '@nostr-relay/common';
import type { Event, EventRepositoryUpsertResult, Filter } from '@nostr-relay/common';
import { matchFilter } from 'nostr-tools/filter';
import type { Filter as NostrToolsFilter, Event as NostrToolsEvent } from 'nostr-tools';

/** Limit applied when a filter asks for none, so a REQ can never dump an unbounded table. */
const DEFAULT_LIMIT = 500;

interface EventRow {
  json: string;
}

/**
 * Event storage for the devnet relay on node:sqlite (`:memory:` by default, a file path for a
 * durable relay). Applies NIP-01 replaceable rules, NIP-09 deletions and NIP-40 expiration
 * itself, as `@nostr-relay/core` expects of a repository. No native addon: node:sqlite is built in.
 */
export class SqliteEventStore extends EventRepository {
  readonly #db: DatabaseSync;
  readonly #now: () => number;

  constructor(path = ':memory:', now: () => number = () => Math.floor(Date.now() / 1000)) {
    super();
    this.#now = now;
    this.#db = new DatabaseSync(path);
    this.#db.exec(`
      PRAGMA journal_mode = WAL;
      PRAGMA busy_timeout = 5000;
      CREATE TABLE IF NOT EXISTS events (
        id TEXT PRIMARY KEY,
        pubkey TEXT NOT NULL,
        kind INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        address TEXT,
        expiration INTEGER,
        json TEXT NOT NULL
      );
      CREATE INDEX IF NOT EXISTS events_address ON events(address);
      CREATE INDEX IF NOT EXISTS events_kind_created ON events(kind, created_at);
      CREATE TABLE IF NOT EXISTS deletions (
        target TEXT NOT NULL,
        pubkey TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (target, pubkey)
      );
    `);
  }

  isSearchSupported(): boolean {
    return false;
  }

  upsert(event: Event): EventRepositoryUpsertResult {
    const address = addressOf(event);
    if (this.#isDeleted(event, address)) return { isDuplicate: true };
    const expiration = EventUtils.extractExpirationTimestamp(event);
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      if (this.#db.prepare('SELECT 1 FROM events WHERE id = ?').get(event.id)) {
        this.#db.exec('COMMIT');
        return { isDuplicate: true };
      }
      if (address !== null) {
        const current = this.#db
          .prepare('SELECT id, created_at FROM events WHERE address = ?')
          .get(address) as { id: string; created_at: number } | undefined;
        // NIP-01: the newer created_at wins; on a tie the lower id wins.
        if (current && !supersedes(event, current)) {
          this.#db.exec('COMMIT');
          return { isDuplicate: true };
        }
        if (current) this.#db.prepare('DELETE FROM events WHERE id = ?').run(current.id);
      }
      this.#db
        .prepare('INSERT INTO events (id, pubkey, kind, created_at, address, expiration, json) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(event.id, event.pubkey, event.kind, event.created_at, address, expiration, JSON.stringify(event));
      this.#db.exec('COMMIT');
      return { isDuplicate: false };
    } catch (error) {
      this.#db.exec('ROLLBACK');
      throw error;
    }
  }

  find(filter: Filter): Event[] {
    const where: string[] = ['(expiration IS NULL OR expiration >= ?)'];
    const params: (string | number)[] = [this.#now()];
    const inList = (column: string, values: readonly (string | number)[] | undefined): void => {
      if (!values) return;
      where.push(values.length === 0 ? '0' : `${column} IN (${values.map(() => '?').join(',')})`);
      params.push(...values);
    };
    inList('id', filter.ids);
    inList('pubkey', filter.authors);
    inList('kind', filter.kinds);
    if (filter.since !== undefined) {
      where.push('created_at >= ?');
      params.push(filter.since);
    }
    if (filter.until !== undefined) {
      where.push('created_at <= ?');
      params.push(filter.until);
    }
    const rows = this.#db
      .prepare(`SELECT json FROM events WHERE ${where.join(' AND ')} ORDER BY created_at DESC, id ASC`)
      .all(...params) as unknown as EventRow[];
    const limit = Math.min(filter.limit ?? DEFAULT_LIMIT, DEFAULT_LIMIT);
    const result: Event[] = [];
    for (const row of rows) {
      if (result.length >= limit) break;
      const event = JSON.parse(row.json) as Event;
      // Tag filters (#d, #a, …) are checked here with nostr-tools' NIP-01 matcher.
      if (matchFilter(filter as NostrToolsFilter, event as NostrToolsEvent)) result.push(event);
    }
    return result;
  }

  /** NIP-09: remove the author's own events named by `e` ids or `a` addresses, and remember it. */
  override async deleteByDeletionRequest(request: Event): Promise<void> {
    const targets = request.tags.filter(([name]) => name === 'e' || name === 'a').map((tag) => tag[1]).filter((v): v is string => !!v);
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      for (const target of targets) {
        const column = target.includes(':') ? 'address' : 'id';
        this.#db
          .prepare(`DELETE FROM events WHERE ${column} = ? AND pubkey = ? AND created_at <= ?`)
          .run(target, request.pubkey, request.created_at);
        this.#db
          .prepare('INSERT OR REPLACE INTO deletions (target, pubkey, created_at) VALUES (?, ?, ?)')
          .run(target, request.pubkey, request.created_at);
      }
      this.#db.exec('COMMIT');
    } catch (error) {
      this.#db.exec('ROLLBACK');
      throw error;
    }
  }

  async destroy(): Promise<void> {
    if (this.#db.isOpen) this.#db.close();
  }

  #isDeleted(event: Event, address: string | null): boolean {
    const byId = this.#db.prepare('SELECT 1 FROM deletions WHERE target = ? AND pubkey = ?').get(event.id, event.pubkey);
    if (byId) return true;
    if (address === null) return false;
    const byAddress = this.#db
      .prepare('SELECT created_at FROM deletions WHERE target = ? AND pubkey = ?')
      .get(address, event.pubkey) as { created_at: number } | undefined;
    return byAddress !== undefined && event.created_at <= byAddress.created_at;
  }
}

/** The replaceable key of an event (`kind:pubkey:` or `kind:pubkey:d`), or null for regular events. */
function addressOf(event: Event): string | null {
  const type = EventUtils.getType(event.kind);
  if (type === EventType.REPLACEABLE) return `${event.kind}:${event.pubkey}:`;
  if (type === EventType.PARAMETERIZED_REPLACEABLE) return `${event.kind}:${event.pubkey}:${EventUtils.extractDTagValue(event) ?? ''}`;
  return null;
}

function supersedes(candidate: Event, current: { id: string; created_at: number }): boolean {
  if (candidate.created_at !== current.created_at) return candidate.created_at > current.created_at;
  return candidate.id < current.id;
}
