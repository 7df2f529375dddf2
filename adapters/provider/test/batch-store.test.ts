// The batch store, the same cases against node:sqlite and a throwaway PostgreSQL cluster, and the
// claim across two PostgreSQL stores (two pools, as two node processes hold).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgresCluster, type PostgresCluster } from '@routstr-kit/devnet/postgres';
import pg from 'pg';
import { PostgresBatchStore, SqliteBatchStore, openBatchStore, type BatchRecord, type BatchStore, type LineRecord, type NewLine } from '../src/index.ts';

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
  id, owner, endpoint: '/v1/chat/completions', inputFileId: 'file-in', completionWindow: '24h', status: 'validating',
  maxPriceMsatPerMtok: 5_000_000, metadata: { note: 'x' }, errors: null, outputFileId: null, errorFileId: null, createdAt: 1_700_000_000,
  inProgressAt: null, expiresAt: 1_700_086_400, finalizingAt: null, completedAt: null, failedAt: null, expiredAt: null,
  cancellingAt: null, cancelledAt: null, ...patch,
});
const newLine = (index: number, model = 'm'): NewLine => ({ index, customId: `c${index}`, requestId: `batch_req_${index}`, model, body: { model, messages: [{ role: 'user', content: `line ${index}` }] } });
const hold = (reservationId: string) => (): { reservationId: string; gateMsat: number } => ({ reservationId, gateMsat: 1_000 });

describe.each(backends)('batch store on $name', ({ location }) => {
  let store: BatchStore;
  beforeAll(async () => {
    store = await openBatchStore(await location());
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

  it('claims pending lines in order per model, then moves them answered → done, failed, or back to pending', async () => {
    await store.insertBatch(batchRecord('batch_s'), [newLine(0, 'm'), newLine(1, 'n'), newLine(2, 'm'), newLine(3, 'm')]);
    expect((await store.pendingModels('batch_s')).sort()).toEqual(['m', 'n']);
    const seen: LineRecord[] = [];
    const first = await store.claimPending('batch_s', 'm', (line) => (seen.push(line), { reservationId: 'r0', gateMsat: 700 }));
    expect(seen.map((l) => [l.index, l.state])).toEqual([[0, 'pending']]);
    expect(first?.line).toMatchObject({ index: 0, state: 'running', reservationId: 'r0', gateMsat: 700 });
    expect(await store.line('batch_s', 0)).toMatchObject({ state: 'running', reservationId: 'r0', gateMsat: 700 });
    expect((await store.claimPending('batch_s', 'm', hold('r2')))?.line.index).toBe(2);
    expect((await store.claimPending('batch_s', 'n', hold('r1')))?.line.index).toBe(1);
    expect(await store.pendingModels('batch_s')).toEqual(['m']);
    expect((await store.linesIn('running')).filter((l) => l.batchId === 'batch_s').map((l) => l.index).sort()).toEqual([0, 1, 2]);

    await store.markAnswered('batch_s', 0, { status_code: 200, body: { id: 'x' } }, 321);
    expect(await store.line('batch_s', 0)).toMatchObject({ state: 'answered', costMsat: 321, response: { status_code: 200, body: { id: 'x' } } });
    await store.markDone('batch_s', 0, 300);
    expect(await store.line('batch_s', 0)).toMatchObject({ state: 'done', costMsat: 300 });
    await store.markFailed('batch_s', 1, { status_code: 500, body: null }, null);
    expect(await store.line('batch_s', 1)).toMatchObject({ state: 'failed', costMsat: null, response: { status_code: 500, body: null }, error: null });
    await store.resetPending('batch_s', 2);
    expect(await store.line('batch_s', 2)).toMatchObject({ state: 'pending', reservationId: null, gateMsat: null, costMsat: null, response: null });
    expect(await store.counts('batch_s')).toEqual({ total: 4, completed: 1, failed: 1, unfinished: 2 });
    expect((await store.batchLines('batch_s', 'pending')).map((l) => l.index)).toEqual([2, 3]);
  });

  it('a claim whose hold fails the line stores it failed; one whose hold throws changes nothing; no pending line: undefined', async () => {
    await store.insertBatch(batchRecord('batch_h'), [newLine(0), newLine(1)]);
    const failed = await store.claimPending('batch_h', 'm', () => ({ failed: { code: 'insufficient_balance', message: 'top up' } }));
    expect(failed?.line).toMatchObject({ index: 0, state: 'failed' });
    expect(await store.line('batch_h', 0)).toMatchObject({ state: 'failed', error: { code: 'insufficient_balance', message: 'top up' }, reservationId: null });
    await expect(store.claimPending('batch_h', 'm', () => {
      throw new Error('boom');
    })).rejects.toThrow('boom');
    expect(await store.line('batch_h', 1)).toMatchObject({ state: 'pending', reservationId: null });
    expect((await store.claimPending('batch_h', 'm', hold('r1')))?.line.index).toBe(1);
    expect(await store.claimPending('batch_h', 'm', hold('r-none'))).toBeUndefined();
    expect(await store.claimPending('batch_h', 'other-model', hold('r-none'))).toBeUndefined();
  });

  it('failPending fails only the pending lines and says how many', async () => {
    await store.insertBatch(batchRecord('batch_f'), [newLine(0), newLine(1), newLine(2)]);
    await store.claimPending('batch_f', 'm', hold('r0'));
    expect(await store.failPending('batch_f', { code: 'batch_expired', message: 'late' })).toBe(2);
    expect((await store.batchLines('batch_f', 'failed')).map((l) => [l.index, l.error])).toEqual([[1, { code: 'batch_expired', message: 'late' }], [2, { code: 'batch_expired', message: 'late' }]]);
    expect(await store.line('batch_f', 0)).toMatchObject({ state: 'running' });
    expect(await store.failPending('batch_f', { code: 'batch_expired', message: 'late' })).toBe(0);
  });

  it('endBatch fails the pending lines, writes the files from done and failed lines and patches the batch in one go', async () => {
    await store.insertBatch(batchRecord('batch_e'), [newLine(0), newLine(1), newLine(2)]);
    await store.claimPending('batch_e', 'm', hold('r0'));
    await store.markDone('batch_e', 0, 10);
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
    expect(await store.batch('batch_x')).toMatchObject({ status: 'validating' });
  });
});

describe('PostgreSQL batch store across processes', () => {
  it('two stores (two pools) claiming concurrently from 200 pending lines take every line exactly once', async () => {
    const url = await cluster.newDatabase('batches_claim');
    const [a, b] = await Promise.all([PostgresBatchStore.open(url), PostgresBatchStore.open(url)]);
    try {
      await a.insertBatch(batchRecord('batch_c'), Array.from({ length: 200 }, (_, i) => newLine(i)));
      const claimedBy = new Map<number, string[]>();
      // Each store runs 4 claim loops at once, as a node claims for several free slots.
      const worker = async (store: BatchStore, name: string): Promise<void> => {
        for (;;) {
          const got = await store.claimPending('batch_c', 'm', (line) => ({ reservationId: `${name}-${line.index}`, gateMsat: 1 }));
          if (!got) return;
          claimedBy.set(got.line.index, [...(claimedBy.get(got.line.index) ?? []), name]);
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

  it('migrates a new database to version 1 once, even when two processes open it at the same time, and reopens without migrating again', async () => {
    const url = await cluster.newDatabase('batches_migrate');
    const opened = await Promise.all([PostgresBatchStore.open(url), PostgresBatchStore.open(url)]);
    await Promise.all(opened.map((s) => s.close()));
    await (await PostgresBatchStore.open(url)).close();
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query<{ component: string; version: number }>('SELECT component, version FROM schema_version ORDER BY version');
      expect(rows).toEqual([{ component: 'batches', version: 1 }]);
      await client.query("INSERT INTO schema_version (component, version, applied_at) VALUES ('batches', 99, 0)");
    } finally {
      await client.end();
    }
    await expect(PostgresBatchStore.open(url)).rejects.toThrow(/version 99, newer than this node knows/);
  });
});

describe('SQLite batch store file format', () => {
  it('opens a batches.db written before the interface (same tables, no schema_version) and reads its rows', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'batch-store-old-'));
    dirs.push(dir);
    const path = join(dir, 'batches.db');
    const first = new SqliteBatchStore(path);
    await first.insertBatch(batchRecord('batch_old'), [newLine(0)]);
    await first.close();
    const { DatabaseSync } = await import('node:sqlite');
    const raw = new DatabaseSync(path);
    const tables = (raw.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as Array<{ name: string }>).map((r) => r.name);
    raw.close();
    expect(tables).toEqual(['batches', 'files', 'lines']);
    const again = await openBatchStore(path);
    expect(await again.batch('batch_old')).toEqual(batchRecord('batch_old'));
    await again.close();
  });
});
