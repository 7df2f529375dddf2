// The batch store, the same cases against node:sqlite and a throwaway PostgreSQL cluster, and the
// claim across two PostgreSQL stores (two pools, as two node processes hold); claimers live in
// another process (batch-claimer-child.ts) stay live until it is SIGKILLed.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgresCluster, type PostgresCluster } from '@routstr-kit/devnet/postgres';
import pg from 'pg';
import { PostgresBatchStore, SqliteBatchStore, openBatchStore, type BatchRecord, type BatchStore, type NewLine } from '../src/index.ts';
import { migrate } from '../src/storage/pg-migrations.ts';
import { spawnClaimer, until } from './spawn-batch-children.ts';

let cluster: PostgresCluster;
const dirs: string[] = [];
beforeAll(async () => {
  cluster = await startPostgresCluster();
}, 120_000);
afterAll(async () => {
  await cluster?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

let databases = 0;
const backends: { name: string; location: () => Promise<string> }[] = [
  {
    name: 'sqlite',
    location: async () => {
      const dir = mkdtempSync(join(tmpdir(), 'batch-store-'));
      dirs.push(dir);
      return join(dir, 'batches.db');
    },
  },
  { name: 'postgres', location: () => cluster.newDatabase(`batches_${++databases}`) },
];

const batchRecord = (id: string, owner = 'acct', patch: Partial<BatchRecord> = {}): BatchRecord => ({
  id, owner, endpoint: '/v1/chat/completions', inputFileId: 'file-in', completionWindow: '24h', status: 'in_progress',
  maxPriceMsatPerMtok: 5_000_000, metadata: { note: 'x' }, errors: null, outputFileId: null, errorFileId: null, createdAt: 1_700_000_000,
  inProgressAt: null, expiresAt: 1_700_086_400, finalizingAt: null, completedAt: null, failedAt: null, expiredAt: null,
  cancellingAt: null, cancelledAt: null, ...patch,
});
const newLine = (index: number, model = 'm'): NewLine => ({ index, customId: `c${index}`, requestId: `batch_req_${index}`, model, body: { model, messages: [{ role: 'user', content: `line ${index}` }] } });

describe.each(backends)('batch store on $name', ({ location }) => {
  let store: BatchStore;
  let where: string;
  let me: string;
  beforeAll(async () => {
    where = await location();
    store = await openBatchStore(where);
    me = await store.registerClaimer();
  });
  afterAll(async () => {
    await store?.close();
  });

  it('stores a file and its bytes; an unknown id is undefined', async () => {
    const content = Buffer.from([0, 1, 2, 255, 10, 13]);
    await store.insertFile({ id: 'file-1', owner: 'acct', filename: 'in.jsonl', purpose: 'batch', bytes: content.length, createdAt: 1_700_000_000 }, content);
    expect(await store.file('file-1')).toEqual({ id: 'file-1', owner: 'acct', filename: 'in.jsonl', purpose: 'batch', bytes: 6, createdAt: 1_700_000_000 });
    expect((await store.fileContent('file-1'))?.equals(content)).toBe(true);
    expect(await store.file('file-none')).toBeUndefined();
    expect(await store.fileContent('file-none')).toBeUndefined();
  });

  it('stores a batch with its lines (refused ones failed), reads it back and patches it', async () => {
    const b = batchRecord('batch_a');
    await store.insertBatch(b, [newLine(0), newLine(1), { index: 2, customId: 'bad', requestId: 'batch_req_2', model: null, body: null, error: { code: 'invalid_json', message: 'no' } }]);
    expect(await store.batch('batch_a')).toEqual(b);
    expect(await store.counts('batch_a')).toEqual({ total: 3, completed: 0, failed: 1, unfinished: 2 });
    expect((await store.line('batch_a', 2))?.error).toEqual({ code: 'invalid_json', message: 'no' });
    expect(await store.line('batch_a', 0)).toMatchObject({ state: 'pending', customId: 'c0', body: newLine(0).body, reservationId: null });
    await store.updateBatch('batch_a', { status: 'in_progress', inProgressAt: 1_700_000_010, errors: { object: 'list', data: [] } });
    expect(await store.batch('batch_a')).toEqual({ ...b, status: 'in_progress', inProgressAt: 1_700_000_010, errors: { object: 'list', data: [] } });
    expect((await store.activeBatches()).map((x) => x.id)).toContain('batch_a');
    await expect(store.updateBatch('batch_a', { owner: 'x' } as never)).rejects.toThrow(/unknown batch field/);
    expect(await store.batch('batch_none')).toBeUndefined();
  });

  it("lists an owner's batches newest first, a page at a time, never another owner's", async () => {
    for (let i = 0; i < 5; i++) await store.insertBatch(batchRecord(`batch_p${i}`, 'lister'), [newLine(0)]);
    await store.insertBatch(batchRecord('batch_other', 'someone-else'), [newLine(0)]);
    const first = await store.listBatches('lister', 2);
    expect(first.batches.map((x) => x.id)).toEqual(['batch_p4', 'batch_p3']);
    expect(first.hasMore).toBe(true);
    const second = await store.listBatches('lister', 2, 'batch_p3');
    expect(second.batches.map((x) => x.id)).toEqual(['batch_p2', 'batch_p1']);
    const last = await store.listBatches('lister', 2, 'batch_p1');
    expect(last).toEqual({ batches: [expect.objectContaining({ id: 'batch_p0' })], hasMore: false });
    expect(await store.listBatches('lister', 10, 'batch_unknown')).toEqual({ batches: [], hasMore: false });
  });

  it('claims pending lines in order per model for a claimer, records the reservation, then moves them answered → done, failed, or back to pending', async () => {
    await store.insertBatch(batchRecord('batch_s'), [newLine(0, 'm'), newLine(1, 'n'), newLine(2, 'm'), newLine(3, 'm')]);
    expect((await store.pendingModels('batch_s')).sort()).toEqual(['m', 'n']);
    const first = await store.claimPending('batch_s', 'm', me);
    expect(first).toMatchObject({ index: 0, state: 'running', claimer: me, reservationId: null, gateMsat: null });
    expect(await store.holdReservation('batch_s', 0, me, 'r0', 700)).toBe(true);
    expect(await store.line('batch_s', 0)).toMatchObject({ state: 'running', claimer: me, reservationId: 'r0', gateMsat: 700 });
    expect((await store.claimPending('batch_s', 'm', me))?.index).toBe(2);
    expect((await store.claimPending('batch_s', 'n', me))?.index).toBe(1);
    expect(await store.pendingModels('batch_s')).toEqual(['m']);
    expect((await store.linesIn('running')).filter((l) => l.batchId === 'batch_s').map((l) => l.index).sort()).toEqual([0, 1, 2]);

    expect(await store.markAnswered('batch_s', 0, me, { status_code: 200, body: { id: 'x' } }, 321)).toBe(true);
    expect(await store.line('batch_s', 0)).toMatchObject({ state: 'answered', costMsat: 321, response: { status_code: 200, body: { id: 'x' } } });
    expect(await store.markDone('batch_s', 0, me, 300)).toBe(true);
    expect(await store.line('batch_s', 0)).toMatchObject({ state: 'done', costMsat: 300 });
    expect(await store.markFailed('batch_s', 1, me, { status_code: 500, body: null }, null)).toBe(true);
    expect(await store.line('batch_s', 1)).toMatchObject({ state: 'failed', costMsat: null, response: { status_code: 500, body: null }, error: null });
    expect(await store.resetPending('batch_s', 2, me, 'running')).toBe(true);
    expect(await store.line('batch_s', 2)).toMatchObject({ state: 'pending', claimer: null, reservationId: null, gateMsat: null, costMsat: null, response: null });
    expect(await store.counts('batch_s')).toEqual({ total: 4, completed: 1, failed: 1, unfinished: 2 });
    expect((await store.batchLines('batch_s', 'pending')).map((l) => l.index)).toEqual([2, 3]);
    expect(await store.claimPending('batch_s', 'other-model', me)).toBeUndefined();
  });

  it('a move naming another claimer than the line holds changes nothing and says so (a line taken back is never answered by the runner that lost it)', async () => {
    await store.insertBatch(batchRecord('batch_h'), [newLine(0), newLine(1)]);
    const other = await store.registerClaimer();
    await store.claimPending('batch_h', 'm', me);
    await store.claimPending('batch_h', 'm', other);
    expect(await store.holdReservation('batch_h', 0, other, 'r-x', 1)).toBe(false);
    expect(await store.markAnswered('batch_h', 0, other, { status_code: 200 }, 5)).toBe(false);
    expect(await store.markDone('batch_h', 0, other, 5)).toBe(false);
    expect(await store.markFailed('batch_h', 0, other, null, { code: 'x' })).toBe(false);
    expect(await store.resetPending('batch_h', 0, other, 'running')).toBe(false);
    expect(await store.resetPending('batch_h', 0, null, 'running')).toBe(false);
    // The right claimer but another state than the line is in: nothing (recovery of an answered line never resets a running one, nor back).
    expect(await store.resetPending('batch_h', 0, me, 'answered')).toBe(false);
    expect(await store.markDone('batch_h', 0, me, 5)).toBe(false);
    expect(await store.line('batch_h', 0)).toMatchObject({ state: 'running', claimer: me, reservationId: null, costMsat: null, response: null });
    // Taken back (reset) and claimed again: the first claimer's late moves land nowhere.
    expect(await store.resetPending('batch_h', 1, other, 'running')).toBe(true);
    expect((await store.claimPending('batch_h', 'm', me))?.index).toBe(1);
    expect(await store.markAnswered('batch_h', 1, other, { status_code: 200 }, 5)).toBe(false);
    expect(await store.line('batch_h', 1)).toMatchObject({ state: 'running', claimer: me });
    // An answered line moves only to done (or back to pending by recovery); a done line no longer moves.
    await store.markAnswered('batch_h', 1, me, { status_code: 200 }, 1);
    expect(await store.markFailed('batch_h', 1, me, null, { code: 'x' })).toBe(false);
    expect(await store.markDone('batch_h', 1, me, 1)).toBe(true);
    expect(await store.resetPending('batch_h', 1, me, 'answered')).toBe(false);
    await store.releaseClaimer(other);
  });

  it('recovery sees only lines whose claimer is gone: released, or its process SIGKILLed; a live claimer in another process keeps its lines', { timeout: 60_000 }, async () => {
    await store.insertBatch(batchRecord('batch_r'), Array.from({ length: 6 }, (_, i) => newLine(i)));
    const released = await store.registerClaimer();
    expect(await store.claimerLive(released)).toBe(true);
    await store.claimPending('batch_r', 'm', released);
    await store.claimPending('batch_r', 'm', me);
    const child = await spawnClaimer({ location: where, batchId: 'batch_r', model: 'm', count: 2 });
    try {
      expect(child.claimed).toEqual([2, 3]);
      expect(await store.claimerLive(child.claimer)).toBe(true);
      const orphans = async (): Promise<number[]> => (await store.orphanedLines('running')).filter((l) => l.batchId === 'batch_r').map((l) => l.index).sort();
      expect(await orphans()).toEqual([]);
      await store.releaseClaimer(released);
      expect(await store.claimerLive(released)).toBe(false);
      expect(await orphans()).toEqual([0]);
      child.proc.kill('SIGKILL');
      await child.exited;
      // PostgreSQL ends the killed process's backend when its socket closes: wait for that state, not for a time.
      await until(async () => !(await store.claimerLive(child.claimer)));
      expect(await orphans()).toEqual([0, 2, 3]);
      expect(await store.claimerLive(me)).toBe(true);
      // An answered line of a gone claimer is offered to recovery too.
      await store.markAnswered('batch_r', 1, me, { status_code: 200 }, 3);
      expect((await store.orphanedLines('answered')).filter((l) => l.batchId === 'batch_r')).toEqual([]);
    } finally {
      child.proc.kill('SIGKILL');
    }
  });

  it('failPending fails only the pending lines and says how many', async () => {
    await store.insertBatch(batchRecord('batch_f'), [newLine(0), newLine(1), newLine(2)]);
    await store.claimPending('batch_f', 'm', me);
    expect(await store.failPending('batch_f', { code: 'batch_expired', message: 'late' })).toBe(2);
    expect((await store.batchLines('batch_f', 'failed')).map((l) => [l.index, l.error])).toEqual([[1, { code: 'batch_expired', message: 'late' }], [2, { code: 'batch_expired', message: 'late' }]]);
    expect(await store.line('batch_f', 0)).toMatchObject({ state: 'running' });
    expect(await store.failPending('batch_f', { code: 'batch_expired', message: 'late' })).toBe(0);
  });

  it('endBatch fails the pending lines, writes the files from done and failed lines and patches the batch in one go', async () => {
    await store.insertBatch(batchRecord('batch_e'), [newLine(0), newLine(1), newLine(2)]);
    await store.claimPending('batch_e', 'm', me);
    await store.markAnswered('batch_e', 0, me, { status_code: 200 }, 10);
    await store.markDone('batch_e', 0, me, 10);
    const ended = await store.endBatch('batch_e', { code: 'batch_cancelled', message: 'stop' }, (done, failed) => {
      expect(done.map((l) => l.index)).toEqual([0]);
      expect(failed.map((l) => l.index)).toEqual([1, 2]);
      const content = Buffer.from('{"a":1}\n');
      return { files: [{ file: { id: 'file-out-e', owner: 'acct', filename: 'batch_e_output.jsonl', purpose: 'batch_output', bytes: content.length, createdAt: 1 }, content }], patch: { status: 'cancelled', outputFileId: 'file-out-e', cancelledAt: 2 } };
    });
    expect(ended).toBe(true);
    expect(await store.batch('batch_e')).toMatchObject({ status: 'cancelled', outputFileId: 'file-out-e', errorFileId: null, cancelledAt: 2 });
    expect((await store.fileContent('file-out-e'))?.toString()).toBe('{"a":1}\n');
    expect((await store.activeBatches()).map((b) => b.id)).not.toContain('batch_e');
  });

  it('gives no line from a batch that is not in progress (validating, or being ended by another process)', async () => {
    await store.insertBatch(batchRecord('batch_v', 'acct', { status: 'validating' }), [newLine(0)]);
    await store.insertBatch(batchRecord('batch_k', 'acct', { status: 'cancelling' }), [newLine(0)]);
    expect(await store.claimPending('batch_v', 'm', me)).toBeUndefined();
    expect(await store.claimPending('batch_k', 'm', me)).toBeUndefined();
    await store.updateBatch('batch_v', { status: 'in_progress' });
    expect((await store.claimPending('batch_v', 'm', me))?.index).toBe(0);
  });

  it('endBatch refuses while a line is running or answered (in any process), and ends the batch once it is done', async () => {
    await store.insertBatch(batchRecord('batch_w'), [newLine(0), newLine(1)]);
    await store.claimPending('batch_w', 'm', me);
    const end = (): Promise<boolean> => store.endBatch('batch_w', { code: 'batch_cancelled' }, () => ({ files: [], patch: { status: 'cancelled', cancelledAt: 5 } }));
    expect(await end()).toBe(false);
    await store.markAnswered('batch_w', 0, me, { status_code: 200 }, 2);
    expect(await end()).toBe(false);
    expect(await store.batch('batch_w')).toMatchObject({ status: 'in_progress' });
    expect(await store.line('batch_w', 1)).toMatchObject({ state: 'pending' });
    await store.markDone('batch_w', 0, me, 2);
    expect(await end()).toBe(true);
    expect(await store.line('batch_w', 1)).toMatchObject({ state: 'failed', error: { code: 'batch_cancelled' } });
  });

  it('endBatch on a batch that has already ended changes nothing and says so', async () => {
    let wrote = 0;
    const ended = await store.endBatch('batch_e', { code: 'batch_expired' }, () => {
      wrote++;
      return { files: [], patch: { status: 'expired', expiredAt: 3 } };
    });
    expect([ended, wrote]).toEqual([false, 0]);
    expect(await store.batch('batch_e')).toMatchObject({ status: 'cancelled', expiredAt: null });
    expect(await store.endBatch('batch_none', undefined, () => ({ files: [], patch: {} }))).toBe(false);
  });

  it('endBatch whose writer throws changes nothing (the pending lines stay pending)', async () => {
    await store.insertBatch(batchRecord('batch_x'), [newLine(0)]);
    await expect(store.endBatch('batch_x', { code: 'batch_expired' }, () => {
      throw new Error('disk full');
    })).rejects.toThrow('disk full');
    expect(await store.line('batch_x', 0)).toMatchObject({ state: 'pending' });
    expect(await store.batch('batch_x')).toMatchObject({ status: 'in_progress' });
  });
});

describe('PostgreSQL batch store across processes', () => {
  it('two stores (two pools) claiming concurrently from 200 pending lines take every line exactly once', async () => {
    const url = await cluster.newDatabase('batches_claim');
    const [a, b] = await Promise.all([PostgresBatchStore.open(url), PostgresBatchStore.open(url)]);
    try {
      await a.insertBatch(batchRecord('batch_c'), Array.from({ length: 200 }, (_, i) => newLine(i)));
      const claimedBy = new Map<number, string[]>();
      const claimers = { a: await a.registerClaimer(), b: await b.registerClaimer() };
      // Each store runs 4 claim loops at once, as a node claims for several free slots.
      const worker = async (store: BatchStore, name: string): Promise<void> => {
        const claimer = name.startsWith('a') ? claimers.a : claimers.b;
        for (;;) {
          const got = await store.claimPending('batch_c', 'm', claimer);
          if (!got) return;
          claimedBy.set(got.index, [...(claimedBy.get(got.index) ?? []), name]);
          expect(await store.holdReservation('batch_c', got.index, claimer, `${name}-${got.index}`, 1)).toBe(true);
        }
      };
      await Promise.all([...[1, 2, 3, 4].map((i) => worker(a, `a${i}`)), ...[1, 2, 3, 4].map((i) => worker(b, `b${i}`))]);
      expect(claimedBy.size).toBe(200);
      expect([...claimedBy.values()].filter((names) => names.length !== 1)).toEqual([]);
      const byProcess = [...claimedBy.values()].map((names) => (names[0] as string)[0]);
      // Both processes took part (SKIP LOCKED let them pass each other instead of queueing).
      expect(new Set(byProcess)).toEqual(new Set(['a', 'b']));
      const running = await b.linesIn('running');
      expect(running).toHaveLength(200);
      for (const l of running) expect(l.reservationId).toBe(`${claimedBy.get(l.index)?.[0]}-${l.index}`);
      expect(await a.counts('batch_c')).toEqual({ total: 200, completed: 0, failed: 0, unfinished: 200 });
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('migrates a new database to the current version once, even when two processes open it at the same time, and reopens without migrating again', async () => {
    const url = await cluster.newDatabase('batches_migrate');
    const opened = await Promise.all([PostgresBatchStore.open(url), PostgresBatchStore.open(url)]);
    await Promise.all(opened.map((s) => s.close()));
    await (await PostgresBatchStore.open(url)).close();
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query<{ component: string; version: number }>('SELECT component, version FROM schema_version ORDER BY version');
      expect(rows).toEqual([{ component: 'batches', version: 1 }, { component: 'batches', version: 2 }]);
      await client.query("INSERT INTO schema_version (component, version, applied_at) VALUES ('batches', 99, 0)");
    } finally {
      await client.end();
    }
    await expect(PostgresBatchStore.open(url)).rejects.toThrow(/version 99, newer than this node knows/);
  });
});

describe('PostgreSQL batch store migration 2 (claimers)', () => {
  it('brings a database written at version 1 to version 2: its rows read back, its running line (no claimer) is offered to recovery', async () => {
    const url = await cluster.newDatabase('batches_v1');
    const pool = new pg.Pool({ connectionString: url });
    try {
      // Migration 1 as it shipped, then rows as that version wrote them.
      await migrate(pool, 'batches', [`CREATE TABLE files (
        id TEXT PRIMARY KEY, owner TEXT NOT NULL, filename TEXT NOT NULL, purpose TEXT NOT NULL,
        bytes BIGINT NOT NULL, created_at BIGINT NOT NULL, content BYTEA NOT NULL
      );
      CREATE TABLE batches (
        seq BIGSERIAL PRIMARY KEY, id TEXT NOT NULL UNIQUE, owner TEXT NOT NULL, endpoint TEXT NOT NULL,
        input_file_id TEXT NOT NULL, completion_window TEXT NOT NULL, status TEXT NOT NULL, max_price BIGINT,
        metadata TEXT, errors TEXT, output_file_id TEXT, error_file_id TEXT, created_at BIGINT NOT NULL,
        in_progress_at BIGINT, expires_at BIGINT NOT NULL, finalizing_at BIGINT, completed_at BIGINT,
        failed_at BIGINT, expired_at BIGINT, cancelling_at BIGINT, cancelled_at BIGINT
      );
      CREATE INDEX batches_owner ON batches (owner, seq);
      CREATE TABLE lines (
        batch_id TEXT NOT NULL, idx INTEGER NOT NULL, custom_id TEXT, request_id TEXT NOT NULL, model TEXT, body TEXT,
        state TEXT NOT NULL, reservation_id TEXT, gate_msat BIGINT, cost_msat BIGINT, response TEXT, error TEXT,
        PRIMARY KEY (batch_id, idx)
      );
      CREATE INDEX lines_state ON lines (batch_id, state, model, idx);`]);
      await pool.query(`INSERT INTO batches (id, owner, endpoint, input_file_id, completion_window, status, max_price, metadata, created_at, expires_at)
        VALUES ('batch_v1', 'acct', '/v1/chat/completions', 'file-in', '24h', 'in_progress', 5000000, '{"note":"x"}', 1700000000, 1700086400)`);
      await pool.query(`INSERT INTO lines (batch_id, idx, custom_id, request_id, model, body, state, reservation_id, gate_msat)
        VALUES ('batch_v1', 0, 'c0', 'batch_req_0', 'm', '{}', 'running', 'r-old', 9), ('batch_v1', 1, 'c1', 'batch_req_1', 'm', '{}', 'pending', NULL, NULL)`);
    } finally {
      await pool.end();
    }
    const store = await PostgresBatchStore.open(url);
    try {
      expect(await store.batch('batch_v1')).toEqual(batchRecord('batch_v1', 'acct', { status: 'in_progress' }));
      expect(await store.line('batch_v1', 0)).toMatchObject({ state: 'running', claimer: null, reservationId: 'r-old', gateMsat: 9 });
      expect((await store.orphanedLines('running')).map((l) => l.index)).toEqual([0]);
      const me = await store.registerClaimer();
      expect((await store.claimPending('batch_v1', 'm', me))?.index).toBe(1);
      expect((await store.orphanedLines('running')).map((l) => l.index)).toEqual([0]);
    } finally {
      await store.close();
    }
  });
});

describe('SQLite batch store file format', () => {
  it('opens a batches.db written before claimers (no claimer column, no live_owners), reads its rows and offers its running lines to recovery', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'batch-store-old-'));
    dirs.push(dir);
    const path = join(dir, 'batches.db');
    const { DatabaseSync } = await import('node:sqlite');
    const raw = new DatabaseSync(path);
    // The schema the version before issue 19's claimers wrote, verbatim.
    raw.exec(`
      CREATE TABLE files (id TEXT PRIMARY KEY, owner TEXT NOT NULL, filename TEXT NOT NULL, purpose TEXT NOT NULL, bytes INTEGER NOT NULL, created_at INTEGER NOT NULL, content BLOB NOT NULL);
      CREATE TABLE batches (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, owner TEXT NOT NULL, endpoint TEXT NOT NULL,
        input_file_id TEXT NOT NULL, completion_window TEXT NOT NULL, status TEXT NOT NULL, max_price INTEGER,
        metadata TEXT, errors TEXT, output_file_id TEXT, error_file_id TEXT, created_at INTEGER NOT NULL,
        in_progress_at INTEGER, expires_at INTEGER NOT NULL, finalizing_at INTEGER, completed_at INTEGER,
        failed_at INTEGER, expired_at INTEGER, cancelling_at INTEGER, cancelled_at INTEGER);
      CREATE INDEX batches_owner ON batches (owner, seq);
      CREATE TABLE lines (batch_id TEXT NOT NULL, idx INTEGER NOT NULL, custom_id TEXT, request_id TEXT NOT NULL, model TEXT, body TEXT,
        state TEXT NOT NULL, reservation_id TEXT, gate_msat INTEGER, cost_msat INTEGER, response TEXT, error TEXT, PRIMARY KEY (batch_id, idx));
      CREATE INDEX lines_state ON lines (batch_id, state, model, idx);
      INSERT INTO batches (id, owner, endpoint, input_file_id, completion_window, status, max_price, metadata, created_at, expires_at)
        VALUES ('batch_old', 'acct', '/v1/chat/completions', 'file-in', '24h', 'in_progress', 5000000, '{"note":"x"}', 1700000000, 1700086400);
      INSERT INTO lines (batch_id, idx, custom_id, request_id, model, body, state, reservation_id, gate_msat) VALUES ('batch_old', 0, 'c0', 'batch_req_0', 'm', '{}', 'running', 'r-old', 9);
      INSERT INTO lines (batch_id, idx, custom_id, request_id, model, body, state) VALUES ('batch_old', 1, 'c1', 'batch_req_1', 'm', '{}', 'pending');
    `);
    raw.close();
    const store = await openBatchStore(path);
    try {
      expect(await store.batch('batch_old')).toEqual(batchRecord('batch_old', 'acct', { status: 'in_progress' }));
      expect(await store.line('batch_old', 0)).toMatchObject({ state: 'running', claimer: null, reservationId: 'r-old' });
      expect((await store.orphanedLines('running')).map((l) => l.index)).toEqual([0]);
      expect(await store.resetPending('batch_old', 0, null, 'running')).toBe(true);
      const me = await store.registerClaimer();
      expect((await store.claimPending('batch_old', 'm', me))?.index).toBe(0);
    } finally {
      await store.close();
    }
    // Opened again (the column is there now): same rows.
    const again = new SqliteBatchStore(path);
    expect(await again.line('batch_old', 0)).toMatchObject({ state: 'running' });
    await again.close();
  });
});
