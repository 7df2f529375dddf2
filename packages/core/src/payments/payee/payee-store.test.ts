import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import pg from 'pg';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { storeBackends } from '../../storage/store-backends.ts';
import { SQLITE_SCHEMA } from './payee-schema.ts';
import { PayeeStore } from './payee-store.ts';

const STORE_MODULE = new URL('./payee-store.ts', import.meta.url).href;

/** settleIfHeld in a process of its own (the store's calls block their thread), on its own connection. */
function settleInProcess(url: string, id: string, costMsat: number): Promise<void> {
  const code = `const [url, id, cost] = JSON.parse(process.argv[1]); const { PayeeStore } = await import(${JSON.stringify(STORE_MODULE)});
    const s = new PayeeStore(url); s.settleIfHeld(id, cost); s.close();`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code, JSON.stringify([url, id, costMsat])], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`settle process exited ${code}: ${stderr}`)))));
}

/**
 * Settles each [reservation, cost] at once on its own connection, the interleaving forced: a third
 * connection holds the account's row until every settle waits on a lock, then lets go.
 */
async function settleRace(url: string, apiKey: string, settles: [string, number][]): Promise<void> {
  const blocker = new pg.Client({ connectionString: url });
  // a fourth watches: a connection inside a transaction sees pg_stat_activity as it was when the transaction began
  const watcher = new pg.Client({ connectionString: url });
  await Promise.all([blocker.connect(), watcher.connect()]);
  try {
    await blocker.query('BEGIN');
    await blocker.query('SELECT 1 FROM payee.accounts WHERE api_key = $1 FOR UPDATE', [apiKey]);
    let failed: unknown;
    const done = Promise.all(settles.map(([id, cost]) => settleInProcess(url, id, cost)));
    done.catch((error: unknown) => (failed = error));
    const waiting = async (): Promise<number> => {
      if (failed !== undefined) throw failed;
      return (await watcher.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")).rows[0].n;
    };
    await vi.waitFor(async () => expect(await waiting()).toBe(settles.length), { timeout: 30_000, interval: 20 });
    await blocker.query('COMMIT');
    await done;
  } finally {
    await Promise.all([blocker.end(), watcher.end()]);
  }
}

describe.each(storeBackends('payee-store'))('PayeeStore on $name', (backend) => {
  const dirs: string[] = [];
  const file = (): string => {
    const dir = mkdtempSync(join(tmpdir(), 'payee-store-'));
    dirs.push(dir);
    return join(dir, 'payee.db');
  };
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('a settlement group written twice (its commit landed, a later step failed) debits and earns once', async () => {
    const store = new PayeeStore(await backend.fresh('payee'));
    store.tx(() => store.credit('sk-a', 10_000));
    const group = [
      { reservationId: 'r1', apiKey: 'sk-a', reservedMsat: 3_000, chargedMsat: 2_100 },
      { reservationId: 'r2', apiKey: 'sk-a', reservedMsat: 3_000, chargedMsat: 900 },
    ];
    store.tx(() => store.writeSettlements(group));
    store.tx(() => store.writeSettlements(group));
    expect(store.account('sk-a')).toMatchObject({ balanceMsat: 7_000, totalRequests: 2, totalSpentMsat: 3_000 });
    expect(store.revenueMsat()).toBe(3_000);
    store.close();
  });

  it('a refund is finished once: a second finish (another process, or a refused send after it was delivered) changes nothing and says so', async () => {
    const store = new PayeeStore(await backend.fresh('payee'));
    store.tx(() => store.insertRefund({ id: 'f1', apiKey: 'sk-a', sat: 5 }));
    expect(store.tx(() => store.finishRefund('f1', 'cashuAtoken'))).toBe(true);
    expect(store.tx(() => store.finishRefund('f1', ''))).toBe(false);
    expect(store.pendingRefunds('sk-a')).toEqual([]);
    store.close();
  });

  it('shared books: a held reservation adds to reserved; settled it debits and earns once, released it only frees the hold', async () => {
    const store = new PayeeStore(await backend.fresh('payee'));
    store.tx(() => store.credit('sk-a', 10_000));
    store.tx(() => store.holdReservation({ id: 'r1', apiKey: 'sk-a', amountMsat: 4_000, owner: '1:x' }));
    store.tx(() => store.holdReservation({ id: 'r2', apiKey: 'sk-a', amountMsat: 3_000, owner: '1:x' }));
    expect(store.account('sk-a')).toMatchObject({ balanceMsat: 10_000, reservedMsat: 7_000 });
    expect(store.heldReservations('sk-a').map((r) => [r.id, r.owner])).toEqual([['r1', '1:x'], ['r2', '1:x']]);
    store.tx(() => store.closeHeld(store.reservation('r1')!, { state: 'settled', chargedMsat: 4_500 }));
    store.tx(() => store.closeHeld(store.reservation('r2')!, { state: 'released' }));
    expect(store.account('sk-a')).toMatchObject({ balanceMsat: 5_500, reservedMsat: 0, totalRequests: 1, totalSpentMsat: 4_500 });
    expect(store.reservation('r1')).toMatchObject({ state: 'settled', costMsat: 4_500 });
    expect(store.reservation('r2')).toMatchObject({ state: 'released', costMsat: null });
    expect(store.revenueMsat()).toBe(4_500);
    store.close();
  });

  // PostgreSQL only: settleIfHeld runs on row locks alone there (no namespace lock); SQLite has one writer at a time
  if (backend.name === 'postgres') {
    it('regression, lockless settle: one reservation settled by two connections at once is debited once; two of one account settled at once above their gates never take the balance below zero', async () => {
      const url = await backend.fresh('payee');
      const store = new PayeeStore(url);
      store.tx(() => {
        store.credit('sk-a', 10_000);
        store.credit('sk-b', 10_000);
      });
      for (const [id, apiKey] of [['a1', 'sk-a'], ['b1', 'sk-b'], ['b2', 'sk-b']] as const) {
        expect(store.holdIfCovered({ id, apiKey, amountMsat: 3_000, owner: '1:x' })).toBe(true);
      }
      await settleRace(url, 'sk-a', [['a1', 4_000], ['a1', 4_000]]);
      expect(store.account('sk-a')).toMatchObject({ balanceMsat: 6_000, reservedMsat: 0, totalRequests: 1, totalSpentMsat: 4_000 });
      await settleRace(url, 'sk-b', [['b1', 8_000], ['b2', 8_000]]);
      // the second settle charges what the first left (2 000), not 8 000 from the balance it saw before
      expect(store.account('sk-b')).toMatchObject({ balanceMsat: 0, reservedMsat: 0, totalRequests: 2, totalSpentMsat: 10_000 });
      expect([store.reservation('b1')?.costMsat, store.reservation('b2')?.costMsat].sort()).toEqual([2_000, 8_000]);
      expect(store.revenueMsat()).toBe(14_000);
      store.close();
    });
  }

  // SQLite only: the case is about the SQLite file (defined only there, so no run reports it skipped)
  if (backend.name === 'sqlite') {
    it('a file written by the version before owners opens: the owner column is added in place, every record kept (owner null: nobody works on it)', () => {
      const path = file();
      const old = new DatabaseSync(path);
      old.exec(SQLITE_SCHEMA);
      old.exec(`INSERT INTO accounts VALUES ('sk-a', 9000, 2000, 3, 1000, NULL, NULL, 1);
        INSERT INTO reservations VALUES ('r-old', 'sk-a', 2000, 'held', NULL, 1);
        INSERT INTO xcashu VALUES ('h', 'cashuB…', 'req', 'http://mint', 'm', 21, 1, NULL, 'redeeming', NULL, NULL, NULL, 1, 1);
        INSERT INTO charges (ref, source, amount_msat, created_at) VALUES ('req-0', 'xcashu', 1000, 1);`);
      old.close();
      for (let open = 0; open < 2; open++) {
        const store = new PayeeStore(path); // the second open finds the columns there
        expect(store.account('sk-a')).toMatchObject({ balanceMsat: 9_000, reservedMsat: 2_000, totalRequests: 3 });
        expect(store.heldReservations()).toEqual([{ id: 'r-old', apiKey: 'sk-a', amountMsat: 2_000, state: 'held', costMsat: null, owner: null }]);
        expect(store.xcashu('h')).toMatchObject({ state: 'redeeming', faceSat: 21, owner: null });
        expect(store.revenueMsat()).toBe(1_000);
        store.close();
      }
      const store = new PayeeStore(path);
      store.tx(() => store.setOwner('xcashu', 'h', '1:y'));
      expect(store.ownerOf('xcashu', 'h')).toEqual({ owner: '1:y', state: 'redeeming' });
      store.close();
    });
  }
});
