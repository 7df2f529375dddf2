// Several market makers of one provider on one PostgreSQL (the devnet's relay, a throwaway cluster):
// one announcer at a time by an advisory-lock lease, ticks priced from every process's load, quotes
// honoured by every process, and a takeover when the announcer dies.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { generateSecretKey, getPublicKey } from 'nostr-tools';
import { msatPerMtok, parsePriceTick } from '@routstr-kit/core';
import { startRelay, type RunningRelay } from '@routstr-kit/devnet';
import { startPostgresCluster, type PostgresCluster } from '@routstr-kit/devnet/postgres';
import { combineClusterLoad, startMarketMaker, type LoadReading, type MarketMaker, type MarketMakerOptions, type ModelPrice, type NodeLoad } from '../src/market-maker/index.ts';
import { RelayTape, testPool } from '../src/market-maker/relay-tape.ts';

const MODEL = 'tiny-llama';
const PRICES: ModelPrice[] = [{ model: MODEL, prompt: msatPerMtok(1_000), completion: msatPerMtok(4_000) }];
const childScript = fileURLToPath(new URL('./market-maker-child.ts', import.meta.url));

function nodeLoad(capacity: number, inFlight = 0): NodeLoad {
  return { capacity, inFlight, queued: 0, rejectedRecently: () => 0 };
}

/** Resolves with the next leadership change of `maker` that equals `leader`. */
function leadership(maker: MarketMaker, leader: boolean): Promise<void> {
  return new Promise((resolve) => {
    const off = maker.onLeadership((now) => {
      if (now !== leader) return;
      off();
      resolve();
    });
  });
}

let relay: RunningRelay;
let cluster: PostgresCluster;
const pool = testPool();
const makers: MarketMaker[] = [];
const children: ChildProcess[] = [];
let databases = 0;

beforeAll(async () => {
  [relay, cluster] = await Promise.all([startRelay(), startPostgresCluster()]);
}, 120_000);
afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await Promise.all(makers.map((m) => m.stop().catch(() => undefined)));
  pool.destroy();
  await Promise.all([relay?.stop(), cluster?.stop()]);
}, 60_000);

async function start(secretKey: Uint8Array, options: Partial<MarketMakerOptions> & Pick<MarketMakerOptions, 'cluster' | 'load'>): Promise<MarketMaker> {
  const maker = await startMarketMaker({
    board: { mode: 'fixed', prices: PRICES },
    models: [MODEL],
    nostr: { relays: [relay.url], secretKey, urls: ['http://127.0.0.1:8000'], mints: ['http://127.0.0.1:3338'], version: '0.1.0', name: 'cluster node', about: 'one of several processes' },
    log: () => {},
    ...options,
    tick: { intervalMs: 0, heartbeatS: 0, ...options.tick },
  });
  makers.push(maker);
  return maker;
}

/** Runs market-maker-child.ts; resolves once it started, with its leadership changes as a queue. */
function spawnChild(args: Record<string, unknown>): Promise<{ proc: ChildProcess; leader: boolean }> {
  const proc = spawn(process.execPath, [childScript, JSON.stringify(args)], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(proc);
  let err = '';
  proc.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    let buffer = '';
    proc.stdout?.on('data', (d: Buffer) => {
      buffer += d.toString();
      let nl: number;
      while ((nl = buffer.indexOf('\n')) !== -1) {
        const message = JSON.parse(buffer.slice(0, nl)) as { ready?: boolean; leader?: boolean };
        buffer = buffer.slice(nl + 1);
        if (message.ready) resolve({ proc, leader: message.leader === true });
      }
    });
    proc.on('exit', (code) => reject(new Error(`market maker child exited (${code}) before it started: ${err}`)));
  });
}

describe('market makers in a cluster on one PostgreSQL', () => {
  it('one announces and ticks; its tick carries the load summed over both processes; the other honours its quote; a dead process stops counting', { timeout: 60_000 }, async () => {
    const database = await cluster.newDatabase(`mm_${++databases}`);
    const sk = generateSecretKey();
    const pk = getPublicKey(sk);
    let now = Date.now();
    const clock = () => now;
    const tape = await RelayTape.open(pool, relay.url, { kinds: [28421], authors: [pk] });
    const loadA = nodeLoad(4, 1);
    const loadB = nodeLoad(4, 2);
    // a long lease: nobody retries during this test, so only the first to try holds it
    const a = await start(sk, { load: loadA, clock, cluster: { database, processId: 'a', leaseS: 600, staleAfterMs: 3_000 } });
    const b = await start(sk, { load: loadB, clock, cluster: { database, processId: 'b', leaseS: 600, staleAfterMs: 3_000 } });
    expect(a.state().cluster).toMatchObject({ processId: 'a', leader: true });
    expect(b.state().cluster).toMatchObject({ processId: 'b', leader: false });
    // only the announcer announces
    expect(a.announcement()).not.toBeNull();
    expect(b.announcement()).toBeNull();
    expect(await b.publishTick()).toBeNull();

    await b.sampleNow();
    const summed = await a.sampleNow();
    expect(summed.cluster?.processes).toBe(2);
    expect(summed.reading?.node).toEqual({ capacity: 8, inFlight: 3, queued: 0, rejectedRecently: 0 });
    const tick = (await a.publishTick())!;
    expect(tick.load).toBe(0.375);
    const received = parsePriceTick(await tape.next((e) => e.id === tick.id));
    expect(received.load).toBe(0.375);
    expect(b.state().ticksPublished).toBe(0);
    expect(tape.events.every((e) => e.id !== b.state().lastTick?.id)).toBe(true);

    // the follower honours the announcer's quote from the shared table; bad ids are unknown without harm
    const quoted = await b.quote(tick.id, MODEL);
    expect(quoted.ok && quoted.prices.get(MODEL)).toEqual(PRICES[0]);
    expect(await b.quote(tick.id, 'other-model')).toEqual({ ok: false, reason: 'model_not_quoted' });
    expect(await b.quote(tick.id, MODEL, tick.expiresAt)).toEqual({ ok: false, reason: 'expired' });
    expect(await b.quote('f'.repeat(64), MODEL)).toEqual({ ok: false, reason: 'unknown' });
    expect(await b.quote("'; DROP TABLE market_quotes; --", MODEL)).toEqual({ ok: false, reason: 'unknown' });

    // b goes silent: once its sample is older than staleAfterMs it no longer counts
    now += 3_001;
    const alone = await a.sampleNow();
    expect(alone.cluster?.processes).toBe(1);
    expect(alone.reading?.node.inFlight).toBe(1);
    // after ten stale windows the announcer deletes its row: the table stays bounded however many processes come and go
    const rowsOf = async (): Promise<string[]> => {
      const admin = new pg.Client({ connectionString: database });
      await admin.connect();
      try {
        return (await admin.query<{ process_id: string }>('SELECT process_id FROM market_load ORDER BY process_id')).rows.map((r) => r.process_id);
      } finally {
        await admin.end();
      }
    };
    expect(await rowsOf()).toEqual(['a', 'b']);
    now += 30_000;
    await a.sampleNow();
    expect(await rowsOf()).toEqual(['a']);
    tape.close();
  });

  it("prices from the cluster's load: the announcer raises its price for load on the other process, and the other bills at the announcer's prices", { timeout: 60_000 }, async () => {
    const database = await cluster.newDatabase(`mm_${++databases}`);
    const sk = generateSecretKey();
    const board = { mode: 'dynamic' as const, powerWatts: 100, electricityMsatPerKwh: 100_000, tokensPerSecond: 100, margin: 100_000, alpha: 1, maxStep: 1 };
    const loadB = nodeLoad(2);
    const a = await start(sk, { board, load: nodeLoad(2), cluster: { database, processId: 'price-a', leaseS: 600 } });
    const b = await start(sk, { board, load: loadB, cluster: { database, processId: 'price-b', leaseS: 600 } });
    const idle = a.current().get(MODEL)!.completion;
    expect(b.current().get(MODEL)!.completion).toBe(idle);
    // all the load is on the follower
    Object.assign(loadB, { inFlight: 2, queued: 2 });
    // the follower's own pricer sees the load, but the announcer has not moved: its price stays in force
    expect((await b.sampleNow()).pricing?.[MODEL]?.completion).toBeGreaterThan(idle);
    expect(b.current().get(MODEL)!.completion).toBe(idle);
    await a.sampleNow();
    const raised = a.current().get(MODEL)!;
    expect(raised.completion).toBeGreaterThan(idle);
    await b.sampleNow();
    expect(b.current().get(MODEL)).toEqual(raised);
  });

  it('the shared quote table keeps only the newest `keep` ticks', { timeout: 60_000 }, async () => {
    const database = await cluster.newDatabase(`mm_${++databases}`);
    const sk = generateSecretKey();
    const a = await start(sk, { load: nodeLoad(2), cluster: { database, processId: 'keep-a', leaseS: 600 }, tick: { keep: 2 } });
    const b = await start(sk, { load: nodeLoad(2), cluster: { database, processId: 'keep-b', leaseS: 600 }, tick: { keep: 2 } });
    const ticks = [];
    for (let i = 0; i < 3; i++) ticks.push((await a.publishTick())!);
    expect(await b.quote(ticks[0]!.id, MODEL)).toEqual({ ok: false, reason: 'unknown' });
    expect((await b.quote(ticks[1]!.id, MODEL)).ok).toBe(true);
    expect((await b.quote(ticks[2]!.id, MODEL)).ok).toBe(true);
  });

  it('an announcer whose lease connection is terminated stops ticking at once; the lease is held again by one of them', { timeout: 60_000 }, async () => {
    const database = await cluster.newDatabase(`mm_${++databases}`);
    const sk = generateSecretKey();
    const a = await start(sk, { load: nodeLoad(2), cluster: { database, processId: 'lost-a', leaseS: 1 } });
    const b = await start(sk, { load: nodeLoad(2), cluster: { database, processId: 'lost-b', leaseS: 1 } });
    expect(a.state().cluster?.leader).toBe(true);
    const lost = leadership(a, false);
    const taken = Promise.race([leadership(a, true).then(() => a), leadership(b, true).then(() => b)]);
    const admin = new pg.Client({ connectionString: database });
    await admin.connect();
    try {
      const { rows } = await admin.query<{ ok: boolean }>("SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = 'routstr-kit lease lost-a'");
      expect(rows.map((r) => r.ok)).toEqual([true]);
    } finally {
      await admin.end();
    }
    await lost;
    // the announcer learnt it from the connection itself, at once (publishTick and announce check this flag)
    expect(a.state().cluster?.leader).toBe(false);
    const holder = await taken;
    expect([a, b].filter((m) => m.state().cluster?.leader)).toEqual([holder]);
  });

  it('SIGKILL of the announcer: the other process takes over and ticks continue with no gap longer than the lease', { timeout: 90_000 }, async () => {
    const database = await cluster.newDatabase(`mm_${++databases}`);
    const sk = generateSecretKey();
    const pk = getPublicKey(sk);
    const leaseS = 3;
    const heartbeatS = 0.3;
    const tape = await RelayTape.open(pool, relay.url, { kinds: [28421], authors: [pk] });
    const child = await spawnChild({
      relay: relay.url, secretKeyHex: Buffer.from(sk).toString('hex'), database, processId: 'child', model: MODEL, prompt: 1_000, completion: 4_000,
      inFlight: 1, capacity: 4, leaseS, heartbeatS, intervalMs: 100,
    });
    expect(child.leader).toBe(true);
    const b = await start(sk, { load: nodeLoad(4, 2), cluster: { database, processId: 'survivor', leaseS }, tick: { intervalMs: 100, heartbeatS } });
    expect(b.state().cluster?.leader).toBe(false);
    // the child ticks with both processes' load once it has seen the survivor's sample: (1 + 2) / 8
    await tape.next((e) => parsePriceTick(e).load === 0.375);
    const takeover = leadership(b, true);
    const exited = new Promise((resolve) => child.proc.once('exit', resolve));
    child.proc.kill('SIGKILL');
    await exited;
    await takeover;
    // the survivor ticks at once, and alone (2 of 4 slots) once the child's sample goes stale
    const first = await tape.next((e) => e.id === b.state().lastTick?.id);
    await tape.next((e) => parsePriceTick(e).seq > parsePriceTick(first).seq && parsePriceTick(e).load === 0.5);
    const seqs = tape.events.map((e) => parsePriceTick(e).seq);
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]! - seqs[i - 1]!).toBeLessThan(leaseS * 1000);
    expect(b.state().ticksPublished).toBeGreaterThan(0);
    tape.close();
  });
});

describe('the cluster load combination rule', () => {
  const reading = (over: Partial<LoadReading>): LoadReading => ({
    at: 1_000, node: { capacity: 2, inFlight: 1, queued: 0, rejectedRecently: 0 }, utilisation: { value: 0, parts: { slots: 0, queue: 0 } }, busy: true, errors: [], ...over,
  });
  const vllm = (running: number, waiting: number) => ({ running, waiting, kvCacheUsage: 0.5, promptTokensTotal: 0, generationTokensTotal: 100, asleep: false });

  it('sums node counters; counts a shared engine replica and a shared GPU once (freshest reading); distinct ones add up', () => {
    const gpu = (utilization: number) => ({ uuid: 'GPU-1', utilization, powerDrawW: 300, powerLimitW: 700 });
    const combined = combineClusterLoad(
      [
        { processId: 'p1', at: 1_000, reading: reading({ at: 1_000, replicas: [{ url: 'http://e1', vllm: vllm(1, 0), tokensPerSecond: 40 }], gpus: [gpu(0.2)] }) },
        { processId: 'p2', at: 1_100, reading: reading({ at: 1_100, replicas: [{ url: 'http://e1', vllm: vllm(2, 0), tokensPerSecond: 50 }, { url: 'http://e2', vllm: vllm(1, 3), tokensPerSecond: 10 }], gpus: [gpu(0.9)] }) },
      ],
      1_200,
    );
    expect(combined.node).toEqual({ capacity: 4, inFlight: 2, queued: 0, rejectedRecently: 0 });
    // e1 once (p2's newer reading: 2 running) plus e2
    expect(combined.vllm).toMatchObject({ running: 3, waiting: 3 });
    expect(combined.tokensPerSecond).toBe(60);
    expect(combined.gpus).toEqual([gpu(0.9)]);
    expect(combined.powerWatts).toBe(300);
    // busy 3 of 4 slots (engine's view), queue 3 waiting / 4 slots
    expect(combined.utilisation.value).toBeCloseTo(0.9 + 0.75);
  });
});
