// The batch runner on the PostgreSQL store, on the devnet (real mint, real llama.cpp engine): two
// batch services on one database (two pools, as two node processes hold them) run one batch
// together; every line runs once and the owner is charged exactly the sum of the line costs.
// The payee is one in-process book here: the payee on PostgreSQL is a later slice of issue 19.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { msatPerMtok, openPayee, openWallet, sat, type EcashWallet, type Payee } from '@routstr-kit/core';
import { startEngine, startMint, type RunningEngine, type RunningMint } from '@routstr-kit/devnet';
import { startPostgresCluster, type PostgresCluster } from '@routstr-kit/devnet/postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBatches, type BatchService } from '../src/batches/index.ts';
import { createPriceBoard } from '../src/market-maker/price-board.ts';
import { Admission } from '../src/node/admission.ts';
import { ReplicaPool } from '../src/node/replica-pool.ts';

const LINES = 12;
let mint: RunningMint;
let engine: RunningEngine;
let cluster: PostgresCluster;
let nodeWallet: EcashWallet;
let client: EcashWallet;
let payee: Payee;
let replicas: ReplicaPool;
const dirs: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'provider-batches-pg-'));
  dirs.push(d);
  return d;
};

beforeAll(async () => {
  [mint, engine, cluster] = await Promise.all([startMint(), startEngine({ flavour: 'llama.cpp', maxConcurrency: 2 }), startPostgresCluster()]);
  nodeWallet = await openWallet({ path: join(tmp(), 'wallet.db'), mints: [mint.url], reclaimOnOpen: false });
  payee = await openPayee({ wallet: nodeWallet, dbPath: join(tmp(), 'payee.db') });
  client = await openWallet({ path: join(tmp(), 'client.db'), mints: [mint.url] });
  await (await client.fund(sat(500))).complete();
  replicas = new ReplicaPool([engine.url]);
}, 180_000);

afterAll(async () => {
  await replicas?.stop();
  payee?.close();
  nodeWallet?.close();
  client?.close();
  await engine?.stop();
  await mint?.stop();
  await cluster?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('batch runner on PostgreSQL', () => {
  it('two batch services on one database run a batch together: every line once, charged exactly the sum of its costs', { timeout: 120_000 }, async () => {
    const database = await cluster.newDatabase('batches_runner');
    const engineModels = await replicas.open(engine.contextSize);
    const board = createPriceBoard([{ model: engine.model, prompt: msatPerMtok(50_000_000), completion: msatPerMtok(100_000_000) }]);
    // Each service has its own admission (one engine slot each, as a process has its own); a service that ever had a line in flight took part.
    const tookPart: boolean[] = [];
    const admissions: Admission[] = [];
    const open = (n: number): Promise<BatchService> => {
      const admission = new Admission({ maxConcurrency: 1, queueSize: 4 });
      tookPart[n] = false;
      admissions.push(admission);
      admission.onChange(() => {
        if (admission.inFlight > 0) tookPart[n] = true;
      });
      return openBatches({
        dbPath: join(tmp(), 'unused.db'), database, payee, admission, board, engineModels,
        catalog: { btcUsd: 100_000, engine: 'llama.cpp', created: Math.floor(Date.now() / 1000) }, replicas, slots: 1,
      });
    };
    const [a, b] = await Promise.all([open(0), open(1)]);
    try {
      const apiKey = await payee.accountFor({ kind: 'cashu', token: (await client.send(sat(300), { purpose: 'batch on postgres' })).token });
      const before = payee.info(apiKey);
      const batchId = 'batch_pg_runner';
      const nowS = Math.floor(Date.now() / 1000);
      await a.store.insertBatch({
        id: batchId, owner: apiKey, endpoint: '/v1/chat/completions', inputFileId: 'file-none', completionWindow: '1h', status: 'validating',
        maxPriceMsatPerMtok: null, metadata: null, errors: null, outputFileId: null, errorFileId: null, createdAt: nowS, inProgressAt: null,
        expiresAt: nowS + 3600, finalizingAt: null, completedAt: null, failedAt: null, expiredAt: null, cancellingAt: null, cancelledAt: null,
      }, Array.from({ length: LINES }, (_, i) => ({ index: i, customId: `c${i}`, requestId: `batch_req_${i}`, model: engine.model, body: { model: engine.model, messages: [{ role: 'user', content: `Line ${i}` }], max_tokens: 4 } })));
      const ended = new Promise<Record<string, unknown>>((resolve) => {
        for (const s of [a, b]) s.onProgress((batch) => {
          if (batch['id'] === batchId && batch['status'] === 'completed') resolve(batch);
        });
      });
      await Promise.all([a.start(), b.start()]);
      const done = await ended;
      expect(done['request_counts']).toEqual({ total: LINES, completed: LINES, failed: 0 });
      const lines = await b.store.batchLines(batchId, 'done');
      expect(lines.map((l) => l.index)).toEqual(Array.from({ length: LINES }, (_, i) => i));
      expect(new Set(lines.map((l) => l.reservationId)).size).toBe(LINES);
      const charged = lines.reduce((sum, l) => sum + (l.costMsat ?? 0), 0);
      expect(charged).toBeGreaterThan(0);
      const after = payee.info(apiKey);
      expect(before.availableMsat - after.availableMsat).toBe(charged);
      expect(after.totalSpentMsat - before.totalSpentMsat).toBe(charged);
      expect(after.reservedMsat).toBe(0);
      expect(tookPart).toEqual([true, true]);
      const output = await a.store.fileContent((await a.store.batch(batchId))?.outputFileId as string);
      expect(output?.toString().trim().split('\n').map((l) => (JSON.parse(l) as { custom_id: string }).custom_id)).toEqual(lines.map((l) => l.customId));
    } finally {
      await Promise.all([a.close(), b.close()]);
      for (const admission of admissions) await admission.stop();
    }
  });
});
