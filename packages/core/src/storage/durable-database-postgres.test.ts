// DurableDatabase on PostgreSQL: namespaces, versioned schema, the advisory lock, a process that
// exits without closing, and owner liveness by the owner connection's backend.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { startPostgresCluster, type PostgresCluster } from '@routstr-kit/devnet/postgres';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DurableDatabase } from './durable-database.ts';
import { OwnerRegistry } from './owner-liveness.ts';

let cluster: PostgresCluster;
beforeAll(async () => {
  cluster = await startPostgresCluster();
}, 120_000);
afterAll(async () => {
  await cluster?.stop();
});

/** A store with public helpers over its protected ones, for the tests. */
class Books extends DurableDatabase {
  rows(sql: string, ...params: (string | number)[]): Record<string, unknown>[] {
    return this.all(sql, ...params);
  }
  change(sql: string, ...params: (string | number)[]): number {
    return this.run(sql, ...params);
  }
}

const SCHEMA = 'CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY, v BIGINT NOT NULL)';

describe('DurableDatabase on PostgreSQL', () => {
  it('keeps each namespace in its own schema (same table names, no clash) and records migration 1 once', async () => {
    const url = await cluster.newDatabase('namespaces');
    const a = new Books(url, SCHEMA, { namespace: 'alpha' });
    const b = new Books(url, SCHEMA, { namespace: 'beta' });
    a.change('INSERT INTO t (k, v) VALUES (?, ?)', 'x', 1);
    expect(b.rows('SELECT * FROM t')).toEqual([]);
    const again = new Books(url, SCHEMA, { namespace: 'alpha' });
    expect(again.rows('SELECT k, v FROM t')).toEqual([{ k: 'x', v: 1 }]);
    expect(again.rows('SELECT component, version FROM schema_version')).toEqual([{ component: 'alpha', version: 1 }]);
    // a database migrated by a newer version is refused, not half-used
    again.change("INSERT INTO schema_version (component, version, applied_at) VALUES ('alpha', 2, 0)");
    expect(() => new Books(url, SCHEMA, { namespace: 'alpha' })).toThrow(/newer than this code knows/);
    expect(() => new Books(url, SCHEMA, { namespace: 'Bad-Name' })).toThrow(/namespace/);
    for (const s of [a, b, again]) s.close();
  });

  it('a failed statement caught inside a transaction fails the commit instead of silently rolling back the rest', async () => {
    const store = new Books(await cluster.newDatabase('aborted'), SCHEMA, { namespace: 'books' });
    expect(() =>
      store.tx(() => {
        store.change('INSERT INTO t (k, v) VALUES (?, ?)', 'kept?', 1);
        try {
          store.change('INSERT INTO t (k, v) VALUES (?, ?)', 'kept?', 2);
        } catch {
          // swallowed: SQLite would commit the first insert
        }
      }),
    ).toThrow(/rolled back, not committed/);
    expect(store.rows('SELECT * FROM t')).toEqual([]);
    store.close();
  });

  it('a writer waiting for another connection\'s transaction gives up after busyTimeoutMs (lock_timeout), as SQLite does', async () => {
    const url = await cluster.newDatabase('busy');
    const holder = new Books(url, SCHEMA, { namespace: 'books' });
    const waiter = new Books(url, SCHEMA, { namespace: 'books', busyTimeoutMs: 200 });
    holder.tx(() => {
      expect(() => waiter.change('INSERT INTO t (k, v) VALUES (?, ?)', 'w', 1)).toThrow(/lock timeout/);
    });
    expect(waiter.change('INSERT INTO t (k, v) VALUES (?, ?)', 'w', 1)).toBe(1);
    holder.close();
    waiter.close();
  });

  it('writeRowLocked runs past the namespace lock another connection holds, and waits on the rows it touches (synced and unsynced)', async () => {
    const url = await cluster.newDatabase('row_locked');
    const holder = new Books(url, SCHEMA, { namespace: 'books' });
    const other = new Books(url, SCHEMA, { namespace: 'books', busyTimeoutMs: 200 });
    holder.change('INSERT INTO t (k, v) VALUES (?, ?)', 'x', 1);
    holder.tx(() => {
      holder.change('UPDATE t SET v = v + 1 WHERE k = ?', 'x'); // the namespace lock and x's row held until the end
      for (const synced of [true, false]) {
        expect(other.writeRowLocked('INSERT INTO t (k, v) VALUES (?, ?)', [`y-${synced}`, 1], { synced })).toBe(1);
        expect(() => other.writeRowLocked('UPDATE t SET v = v + 10 WHERE k = ?', ['x'], { synced })).toThrow(/lock timeout/);
      }
      expect(() => other.change('INSERT INTO t (k, v) VALUES (?, ?)', 'z', 1)).toThrow(/lock timeout/);
    });
    expect(() => other.tx(() => other.writeRowLocked('UPDATE t SET v = 0', [], { synced: true }))).toThrow(/inside a transaction/);
    expect(other.rows('SELECT k, v FROM t ORDER BY k')).toEqual([{ k: 'x', v: 2 }, { k: 'y-false', v: 1 }, { k: 'y-true', v: 1 }]);
    holder.close();
    other.close();
  });

  it('a process that exits without closing its store does not hang (the worker is unref\'d)', async () => {
    const url = await cluster.newDatabase('no_close');
    const module = fileURLToPath(new URL('./durable-database.ts', import.meta.url));
    const script = `import { DurableDatabase } from ${JSON.stringify(module)};
      const db = new DurableDatabase(${JSON.stringify(url)}, ${JSON.stringify(SCHEMA)}, { namespace: 'books' });
      db.tx(() => undefined);
      console.log('opened');`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise((resolve) => child.on('close', resolve));
    expect(out.trim()).toBe('opened');
    expect(code).toBe(0);
  });
});

describe('OwnerRegistry on PostgreSQL', () => {
  it('two registries (two connections) see each other live until one releases; a row whose backend is gone reads gone, even on this host, and the next register sweeps it', async () => {
    const url = await cluster.newDatabase('owners');
    const a = new Books(url, '', { namespace: 'wallet' });
    const b = new Books(url, '', { namespace: 'wallet' });
    const first = new OwnerRegistry(a);
    const second = new OwnerRegistry(b);
    const ownerA = `${process.pid}:${randomUUID()}`;
    const ownerB = `${process.pid}:${randomUUID()}`;
    first.register(ownerA);
    second.register(ownerB);
    expect(second.gone(ownerA)).toBe(false);
    expect(first.gone(ownerB)).toBe(false);
    first.release(ownerA);
    expect(second.gone(ownerA)).toBe(true);
    // this process lives, but the connection that registered ownerB closes: its backend goes, and so does the owner
    const pid = Number(b.rows('SELECT backend_pid FROM live_owners WHERE owner = ?', ownerB)[0]?.['backend_pid']);
    b.close();
    await vi.waitFor(() => expect(a.rows('SELECT pid FROM pg_stat_activity WHERE pid = ?', pid)).toEqual([]), { timeout: 10_000, interval: 20 });
    expect(first.gone(ownerB)).toBe(true);
    first.register(ownerA);
    expect(a.rows('SELECT owner FROM live_owners')).toEqual([{ owner: ownerA }]);
    a.close();
    expect(() => first.release(ownerA)).not.toThrow();
  });

  it('an owner registered from a session in one time zone reads live from a session in another (backend_start compared as epoch, not as session text)', async () => {
    const url = await cluster.newDatabase('owners_tz');
    const inZone = (zone: string): string => {
      const u = new URL(url);
      u.searchParams.set('options', `-c timezone=${zone} -c datestyle=SQL,DMY`);
      return u.href;
    };
    const utc = new Books(inZone('UTC'), '', { namespace: 'wallet' });
    const tokyo = new Books(inZone('Asia/Tokyo'), '', { namespace: 'wallet' });
    expect(tokyo.rows('SHOW timezone')).toEqual([{ TimeZone: 'Asia/Tokyo' }]);
    const owner = `${process.pid}:${randomUUID()}`;
    new OwnerRegistry(utc).register(owner);
    expect(new OwnerRegistry(tokyo).gone(owner)).toBe(false);
    utc.close();
    tokyo.close();
  });
});
