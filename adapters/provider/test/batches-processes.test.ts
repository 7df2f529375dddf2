// Batch lines across node processes, on the devnet (real mint, real llama.cpp engine), against
// SQLite and PostgreSQL: a runner's recovery leaves the lines a live process holds alone and takes
// back those of a process SIGKILLed holding them (between claim and reserve, while running, after
// answering, after charging), which then run once and are charged once; a runner whose PostgreSQL
// session drops takes a new claimer; 200 lines across four node processes on one PostgreSQL
// database each run exactly once. "Ran once" is read from the engine itself where no process was
// killed mid-generation: the tokens it generated equal the tokens of the stored answers.
// Worker processes share one payee file until the payee's books move to PostgreSQL (see
// batch-worker-child.ts for why that is sound for these tests).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { msatPerMtok, openPayee, openWallet, sat, type AccountInfo, type EcashWallet, type Payee } from '@routstr-kit/core';
import { startEngine, startMint, type RunningEngine, type RunningMint } from '@routstr-kit/devnet';
import { startPostgresCluster, type PostgresCluster } from '@routstr-kit/devnet/postgres';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresBatchStore, openBatchStore, openBatches, type BatchStore, type LineRecord, type NewLine } from '../src/batches/index.ts';
import { createPriceBoard } from '../src/market-maker/price-board.ts';
import { Admission } from '../src/node/admission.ts';
import { ReplicaPool } from '../src/node/replica-pool.ts';
import { spawnBatchWorker, spawnClaimer, type WorkerArgs, type WorkerChild } from './spawn-batch-children.ts';

const PROMPT = 50_000_000; // msat/Mtok
const COMPLETION = 100_000_000;
let mint: RunningMint;
let engine: RunningEngine;
let cluster: PostgresCluster;
let client: EcashWallet;
let replicas: ReplicaPool;
const dirs: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'provider-batch-processes-'));
  dirs.push(d);
  return d;
};

beforeAll(async () => {
  [mint, engine, cluster] = await Promise.all([startMint(), startEngine({ flavour: 'llama.cpp', maxConcurrency: 2 }), startPostgresCluster()]);
  client = await openWallet({ path: join(tmp(), 'client.db'), mints: [mint.url] });
  await (await client.fund(sat(2500))).complete();
  replicas = new ReplicaPool([engine.url]);
}, 180_000);

afterAll(async () => {
  replicas?.stop();
  client?.close();
  await engine?.stop();
  await mint?.stop();
  await cluster?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}, 60_000);

const backends: { name: string; location: () => Promise<string> }[] = [
  { name: 'sqlite', location: async () => join(tmp(), 'batches.db') },
  { name: 'postgres', location: () => cluster.newDatabase(`batch_processes_${Date.now()}`) },
];

const chatLine = (i: number): NewLine => ({ index: i, customId: `c${i}`, requestId: `batch_req_${i}`, model: engine.model, body: { model: engine.model, messages: [{ role: 'user', content: `Line ${i}` }], max_tokens: 1 } });

/** Stores a batch of `n` lines owned by `owner` through `insert`, in progress (as a node that took it in leaves it). */
async function insertBatch(insert: BatchStore, id: string, owner: string, n: number): Promise<void> {
  const nowS = Math.floor(Date.now() / 1000);
  await insert.insertBatch({
    id, owner, endpoint: '/v1/chat/completions', inputFileId: 'file-none', completionWindow: '1h', status: 'in_progress',
    maxPriceMsatPerMtok: null, metadata: null, errors: null, outputFileId: null, errorFileId: null, createdAt: nowS, inProgressAt: nowS,
    expiresAt: nowS + 3600, finalizingAt: null, completedAt: null, failedAt: null, expiredAt: null, cancellingAt: null, cancelledAt: null,
  }, Array.from({ length: n }, (_, i) => chatLine(i)));
}

type Usage = { prompt_tokens: number; completion_tokens: number };
const usageOf = (l: LineRecord): Usage => ((l.response as { body: { usage: Usage } }).body.usage);

/** Every line done once, its own reservation; the engine generated exactly the stored answers' tokens since `before`. */
function expectEachRanOnce(lines: LineRecord[], n: number, before: { promptTokensTotal: number; generationTokensTotal: number }): number {
  expect(lines.map((l) => l.index)).toEqual(Array.from({ length: n }, (_, i) => i));
  expect(new Set(lines.map((l) => l.reservationId)).size).toBe(n);
  const after = engine.state();
  expect(after.generationTokensTotal - before.generationTokensTotal).toBe(lines.reduce((s, l) => s + usageOf(l).completion_tokens, 0));
  expect(after.promptTokensTotal - before.promptTokensTotal).toBe(lines.reduce((s, l) => s + usageOf(l).prompt_tokens, 0));
  return lines.reduce((sum, l) => sum + (l.costMsat ?? 0), 0);
}

/** A batch service in this process on the store at `where`, with its own payee books in `dir`. */
async function openService(name: string, where: string, dir: string) {
  const wallet = await openWallet({ path: join(dir, 'wallet.db'), mints: [mint.url], reclaimOnOpen: false });
  const payee: Payee = await openPayee({ wallet, dbPath: join(dir, 'payee.db'), shared: true });
  const admission = new Admission({ maxConcurrency: 1, queueSize: 4 });
  const service = await openBatches({
    dbPath: name === 'sqlite' ? where : join(dir, 'unused.db'), ...(name === 'postgres' ? { database: where } : {}),
    payee, admission, replicas, slots: 1, recoverEveryMs: 100,
    board: createPriceBoard([{ model: engine.model, prompt: msatPerMtok(PROMPT), completion: msatPerMtok(COMPLETION) }]),
    engineModels: await replicas.open(engine.contextSize), catalog: { btcUsd: 100_000, engine: 'llama.cpp', created: Math.floor(Date.now() / 1000) },
  });
  const progress = (id: string, predicate: (b: { status: string; request_counts: { completed: number } }) => boolean): Promise<void> =>
    new Promise((resolve) => {
      service.onProgress((b) => {
        if (b['id'] === id && predicate(b as never)) resolve();
      });
    });
  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => (closed ??= (async () => {
    await service.close();
    await admission.stop();
    payee.close();
    wallet.close();
  })());
  return { service, payee, progress, close };
}

describe.each(backends)('batch lines across node processes on $name', ({ name, location }) => {
  it('recovery leaves a live process\'s claimed lines alone; once it is SIGKILLed they run on the survivor, exactly once, charged once', { timeout: 120_000 }, async () => {
    const where = await location();
    const { service: survivor, payee, progress: batchProgress, close } = await openService(name, where, tmp());
    const apiKey = await payee.accountFor({ kind: 'cashu', token: (await client.send(sat(100), { purpose: 'batch across processes' })).token });
    await insertBatch(survivor.store, 'batch_kill', apiKey, 6);
    const child = await spawnClaimer({ location: where, batchId: 'batch_kill', model: engine.model, count: 2 });
    try {
      expect(child.claimed).toEqual([0, 1]);
      const before = payee.info(apiKey);
      const engineBefore = engine.state();
      const progress = (predicate: (b: { status: string; request_counts: { completed: number } }) => boolean): Promise<void> => batchProgress('batch_kill', predicate);
      const othersDone = progress((b) => b.request_counts.completed === 4);
      await survivor.start(); // start-up recovery runs with the child alive
      await othersDone;
      await survivor.runner.recoverNow(); // and a periodic one
      await survivor.runner.passesDone();
      // The live process's lines are untouched: still running under its claimer, the batch waits for them.
      for (const i of child.claimed) expect(await survivor.store.line('batch_kill', i)).toMatchObject({ state: 'running', claimer: child.claimer });
      expect(await survivor.store.batch('batch_kill')).toMatchObject({ status: 'in_progress' });

      const completed = progress((b) => b.status === 'completed');
      child.proc.kill('SIGKILL');
      expect(await child.exited).toBe('SIGKILL');
      await completed; // the survivor's periodic recovery took them back without a restart

      const lines = await survivor.store.batchLines('batch_kill', 'done');
      const charged = expectEachRanOnce(lines, 6, engineBefore);
      const survivorClaimer = lines[5]?.claimer;
      expect(survivorClaimer).not.toBe(child.claimer);
      for (const l of lines) expect(l.claimer).toBe(survivorClaimer);
      const after = payee.info(apiKey);
      expect(before.availableMsat - after.availableMsat).toBe(charged);
      expect(after.totalSpentMsat - before.totalSpentMsat).toBe(charged);
      expect(after.totalRequests - before.totalRequests).toBe(6);
      expect(after.reservedMsat).toBe(0);
    } finally {
      child.proc.kill('SIGKILL');
      await close();
    }
  });
});

describe.each(backends)('an answered line of a gone claimer whose reservation is still held, on $name', ({ name, location }) => {
  it('is released before it runs again (the runner that lost it can no longer charge it), then runs once and is charged once', { timeout: 60_000 }, async () => {
    const where = await location();
    const { service, payee, progress, close } = await openService(name, where, tmp());
    try {
      const apiKey = await payee.accountFor({ kind: 'cashu', token: (await client.send(sat(20), { purpose: 'held reservation' })).token });
      await insertBatch(service.store, 'batch_held', apiKey, 1);
      // A runner in this process whose claimer went (its PostgreSQL session dropped): it answered the line, its reservation is still held.
      const ghost = await service.store.registerClaimer();
      await service.store.claimPending('batch_held', engine.model, ghost);
      const lost = payee.reserve(apiKey, 1_000);
      await service.store.holdReservation('batch_held', 0, ghost, lost, 1_000);
      await service.store.markAnswered('batch_held', 0, ghost, { status_code: 200, body: {} }, 500);
      await service.store.releaseClaimer(ghost);
      const before = payee.info(apiKey);
      expect(before.reservedMsat).toBe(1_000);
      const completed = progress('batch_held', (b) => b.status === 'completed');
      await service.start();
      await completed;
      expect(() => payee.settle(lost, 500)).toThrow(/unknown reservation/);
      const [line] = await service.store.batchLines('batch_held', 'done');
      expect(line?.reservationId).not.toBe(lost);
      const after = payee.info(apiKey);
      expect(after.reservedMsat).toBe(0);
      expect(after.totalRequests - before.totalRequests).toBe(1);
      expect(before.availableMsat + before.reservedMsat - after.availableMsat).toBe(line?.costMsat);
    } finally {
      await close();
    }
  });
});

describe('a runner whose PostgreSQL session drops while its process lives', () => {
  it('notices its claimer is gone, takes a new one, and runs the next batch with each line once, charged once', { timeout: 120_000 }, async () => {
    const where = await cluster.newDatabase('batch_session_drop');
    const { service, payee, progress, close } = await openService('postgres', where, tmp());
    const admin = new pg.Client({ connectionString: where });
    await admin.connect();
    try {
      await service.start();
      const [first] = (await admin.query<{ claimer: string }>('SELECT claimer FROM batch_claimers')).rows;
      expect(first).toBeDefined();
      const old = (first as { claimer: string }).claimer;
      // Cut the claimer's own session, as a network drop or a DBA would; the node process keeps running.
      await admin.query('SELECT pg_terminate_backend(backend_pid) FROM batch_claimers WHERE claimer = $1', [old]);
      const apiKey = await payee.accountFor({ kind: 'cashu', token: (await client.send(sat(50), { purpose: 'session drop' })).token });
      const before = payee.info(apiKey);
      const engineBefore = engine.state();
      const completed = progress('batch_drop', (b) => b.status === 'completed');
      await insertBatch(service.store, 'batch_drop', apiKey, 4);
      service.runner.kick();
      await completed;
      const lines = await service.store.batchLines('batch_drop', 'done');
      const charged = expectEachRanOnce(lines, 4, engineBefore);
      const now = lines[0]?.claimer as string;
      for (const l of lines) expect(l.claimer).toBe(now);
      expect(now).not.toBe(old);
      expect(await service.store.claimerLive(now)).toBe(true);
      expect(await service.store.claimerLive(old)).toBe(false);
      const after = payee.info(apiKey);
      expect(before.availableMsat - after.availableMsat).toBe(charged);
      expect(after.totalRequests - before.totalRequests).toBe(4);
      expect(after.reservedMsat).toBe(0);
    } finally {
      await admin.end();
      await close();
    }
  });
});

/** A payee file with one account funded with `sats`, for worker processes to share (see batch-worker-child.ts). */
async function sharedPayee(dir: string, sats: number): Promise<{ payeePath: string; apiKey: string; before: AccountInfo }> {
  const payeePath = join(dir, 'payee.db');
  const wallet = await openWallet({ path: join(dir, 'setup-wallet.db'), mints: [mint.url], reclaimOnOpen: false });
  const payee = await openPayee({ wallet, dbPath: payeePath, shared: true });
  try {
    const apiKey = await payee.accountFor({ kind: 'cashu', token: (await client.send(sat(sats), { purpose: 'batch workers' })).token });
    return { payeePath, apiKey, before: payee.info(apiKey) };
  } finally {
    payee.close();
    wallet.close();
  }
}

/** The account's figures in the shared payee file, read once every worker has stopped. */
async function accountNow(dir: string, payeePath: string, apiKey: string): Promise<AccountInfo> {
  const wallet = await openWallet({ path: join(dir, 'setup-wallet.db'), mints: [mint.url], reclaimOnOpen: false });
  const payee = await openPayee({ wallet, dbPath: payeePath, shared: true });
  try {
    return payee.info(apiKey);
  } finally {
    payee.close();
    wallet.close();
  }
}

const workerArgs = (database: string, dir: string, payeePath: string, i: number): WorkerArgs => ({
  database, payeePath, walletPath: join(dir, `wallet-${i}.db`), mint: mint.url, upstream: engine.url, model: engine.model,
  prompt: PROMPT, completion: COMPLETION, contextSize: engine.contextSize, recoverEveryMs: 100,
});

type Progress = { id: string; status: string; request_counts: { completed: number } };

describe.each(backends)('a node process running lines, SIGKILLed, on $name', ({ name, location }) => {
  const cases: Array<[string, string | null]> = [
    // The survivor starts beside the live victim (its start-up recovery leaves the victim's line alone); the kill is then taken back by its periodic recovery.
    ['SIGKILLed while its lines run, beside a live process', null],
    // The victim kills itself at the failpoint before the survivor starts: its start-up recovery takes the line back.
    ['killed after a line was claimed, before its reservation', 'batch:after-claim'],
    ['killed after a line was reserved, before the reservation was recorded on it', 'batch:after-reserve'],
    ['killed after a line was answered, before it was charged', 'batch:after-answer'],
    ['killed after a line was charged, before it was marked done', 'batch:after-settle'],
  ];
  it.each(cases)('%s: another process finishes the batch, every line done once, each charged once', { timeout: 120_000 }, async (_case, point) => {
    const LINES = 12;
    const database = await location();
    const dir = tmp();
    const { payeePath, apiKey, before } = await sharedPayee(dir, 100);
    // In this process, on the same payee file as the victim (openService's payee.db in `dir`).
    const survivor = await openService(name, database, dir);
    const victim = await spawnBatchWorker(workerArgs(database, dir, payeePath, 0), point);
    try {
      await insertBatch(survivor.service.store, 'batch_victim', apiKey, LINES);
      const completed = survivor.progress('batch_victim', (b) => b.status === 'completed');
      if (point === null) {
        await victim.batchProgress<Progress>('batch_victim', (b) => b.request_counts.completed >= 2);
        await survivor.service.start();
        victim.proc.kill('SIGKILL');
      } else {
        await victim.exited;
        await survivor.service.start();
      }
      expect(await victim.exited).toBe('SIGKILL');
      await completed;
      const lines = await survivor.service.store.batchLines('batch_victim', 'done');
      expect(lines.map((l) => l.index)).toEqual(Array.from({ length: LINES }, (_, i) => i));
      expect(new Set(lines.map((l) => l.reservationId)).size).toBe(LINES);
      const charged = lines.reduce((sum, l) => sum + (l.costMsat ?? 0), 0);
      await survivor.close();
      const after = await accountNow(dir, payeePath, apiKey);
      expect(after.totalRequests - before.totalRequests).toBe(LINES);
      expect(before.availableMsat - after.availableMsat).toBe(charged);
      expect(after.totalSpentMsat - before.totalSpentMsat).toBe(charged);
      expect(after.reservedMsat).toBe(0);
    } finally {
      victim.proc.kill('SIGKILL');
      await survivor.close();
    }
  });
});

describe('four node processes on one PostgreSQL database', () => {
  it('200 batch lines across the four processes each run exactly once, charged once', { timeout: 300_000 }, async () => {
    const LINES = 200;
    const database = await cluster.newDatabase('batch_four_processes');
    const dir = tmp();
    const { payeePath, ...setup } = await sharedPayee(dir, 1000);
    const workers: WorkerChild[] = [];
    try {
      workers.push(...(await Promise.all([0, 1, 2, 3].map((i) => spawnBatchWorker(workerArgs(database, dir, payeePath, i))))));
      const engineBefore = engine.state();
      const store = await PostgresBatchStore.open(database);
      try {
        await insertBatch(store, 'batch_four', setup.apiKey, LINES);
      } finally {
        await store.close();
      }
      // Whichever process ends the batch reports it; every worker notices the new batch on its next periodic pass.
      await Promise.race(workers.map((w) => w.batchProgress<{ id: string; status: string }>('batch_four', (b) => b.status === 'completed')));
      await Promise.all(workers.splice(0).map((w) => w.stop()));

      const check = await (async () => {
        const s = await PostgresBatchStore.open(database);
        try {
          return { done: await s.batchLines('batch_four', 'done'), counts: await s.counts('batch_four') };
        } finally {
          await s.close();
        }
      })();
      expect(check.counts).toEqual({ total: LINES, completed: LINES, failed: 0, unfinished: 0 });
      const charged = expectEachRanOnce(check.done, LINES, engineBefore);
      // Every process took part (claimers are `<pid>:<uuid>`).
      expect(new Set(check.done.map((l) => l.claimer)).size).toBe(4);

      const after = await accountNow(dir, payeePath, setup.apiKey);
      expect(setup.before.availableMsat - after.availableMsat).toBe(charged);
      expect(after.totalRequests - setup.before.totalRequests).toBe(LINES);
      expect(after.totalSpentMsat - setup.before.totalSpentMsat).toBe(charged);
    } finally {
      for (const w of workers) w.proc.kill('SIGKILL');
    }
  });
});
