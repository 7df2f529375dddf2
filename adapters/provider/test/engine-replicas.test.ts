// Issue 19, acceptance 4: two engine replicas behind one node. Two real vLLM-flavoured devnet engines on
// loopback, a real mint, buyers paying by Bearer session keys: load goes to the less loaded replica,
// stopping one loses no request that had not started (later ones succeed on the other, billed exactly),
// the stopped one is probed back once it is up again, and the price follows the load of both.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { msatPerMtok, openWallet, sat, type EcashWallet } from '@routstr-kit/core';
import { startEngine, startMint, type EngineState, type RunningEngine, type RunningMint } from '@routstr-kit/devnet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPriceBoard } from '../src/market-maker/price-board.ts';
import type { Admission } from '../src/node/admission.ts';
import type { ReplicaState } from '../src/node/replica-pool.ts';
import { startProvider, type RunningProvider } from '../src/start-provider.ts';

const PROMPT = 1_000_000; // msat/Mtok
const COMPLETION = 2_000_000;
// Output tokens of a request that is still generating when the test acts on it (the tiny model makes ~1 000/s
// unloaded; the node lets a request ask for half the context).
const LONG = 4000;
const CONTEXT = 8192;

let mint: RunningMint;
const engines: RunningEngine[] = [];
let client: EcashWallet;
const dirs: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'engine-replicas-'));
  dirs.push(d);
  return d;
};

const startReplica = (port = 0): Promise<RunningEngine> => startEngine({ flavour: 'vllm', maxConcurrency: 2, contextSize: CONTEXT, port });
const portOf = (e: RunningEngine): number => Number(new URL(e.url).port);

/** Resolves when the engines' states satisfy `match` (checked now and on every change of either). */
function enginesReach(match: (states: EngineState[]) => boolean): Promise<void> {
  return new Promise((resolve) => {
    const offs: Array<() => void> = [];
    const check = (): void => {
      if (!match(engines.map((e) => e.state()))) return;
      for (const off of offs) off();
      resolve();
    };
    for (const e of engines) offs.push(e.onStateChange(check));
    check();
  });
}

/** Resolves with the replica's state once it satisfies `match` (now or on a later change). */
function replicaReaches(provider: RunningProvider, url: string, match: (s: ReplicaState) => boolean): Promise<ReplicaState> {
  return new Promise((resolve) => {
    const now = provider.replicas.state().find((s) => s.url === url)!;
    if (match(now)) return resolve(now);
    const off = provider.replicas.onChange((s) => {
      if (s.url === url && match(s)) {
        off();
        resolve(s);
      }
    });
  });
}

async function post(base: string, key: string, body: Record<string, unknown>, signal?: AbortSignal): Promise<Response> {
  return fetch(`${base}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify(body),
    ...(signal ? { signal } : {}),
  });
}

const chat = (model: string, maxTokens: number, stream = false): Record<string, unknown> => ({ model, messages: [{ role: 'user', content: 'count to many' }], max_tokens: maxTokens, ...(stream ? { stream: true } : {}) });

async function newKey(base: string, amountSat: number): Promise<string> {
  const token = (await client.send(sat(amountSat), { purpose: 'session key' })).token;
  const res = await fetch(`${base}/v1/balance/create`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ initial_balance_token: token }) });
  return ((await res.json()) as { api_key: string }).api_key;
}

interface KeyInfo { balance: number; reserved: number; total_requests: number; total_spent: number }
async function balanceMsat(base: string, key: string): Promise<KeyInfo> {
  return (await (await fetch(`${base}/v1/balance/info`, { headers: { authorization: `Bearer ${key}` } })).json()) as KeyInfo;
}

/** A short paid completion; its cost as the node reported it. */
async function shortCompletion(base: string, key: string, model: string): Promise<number> {
  const res = await post(base, key, chat(model, 2));
  const body = (await res.json()) as { usage?: { cost?: { total_msats: number } } };
  expect(res.status, JSON.stringify(body)).toBe(200);
  return body.usage!.cost!.total_msats;
}

const sentBy = (provider: RunningProvider): number[] => provider.replicas.state().map((s) => s.sent);

beforeAll(async () => {
  mint = await startMint();
  engines.push(await startReplica(), await startReplica());
  client = await openWallet({ path: join(tmp(), 'client.db'), mints: [mint.url] });
  await (await client.fund(sat(1000))).complete();
});

afterAll(async () => {
  client?.close();
  await Promise.all(engines.map((e) => e.stop()));
  await mint?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('two engine replicas behind one node', () => {
  let provider: RunningProvider;
  beforeAll(async () => {
    provider = await startProvider({
      engine: 'vllm', upstream: engines.map((e) => e.url), mints: [mint.url], dataDir: tmp(), contextLength: engines[0]!.contextSize,
      board: createPriceBoard([{ model: engines[0]!.model, prompt: msatPerMtok(PROMPT), completion: msatPerMtok(COMPLETION) }]), maxConcurrency: 4, queueSize: 8, log: () => {},
    });
  });
  afterAll(async () => provider?.stop());

  it('sends each request to the less loaded replica, ties in turn', async () => {
    const model = engines[0]!.model;
    expect(provider.replicas.state().map((s) => [s.url, s.up, s.models])).toEqual(engines.map((e) => [e.url, true, [model]]));
    const key = await newKey(provider.url, 50);

    // Both idle: requests alternate.
    for (let i = 0; i < 4; i++) await shortCompletion(provider.url, key, model);
    expect(sentBy(provider)).toEqual([2, 2]);

    // One replica busy with a long generation: every short request goes to the other one (round-robin alone would alternate).
    const long = new AbortController();
    const streaming = post(provider.url, key, chat(model, LONG, true), long.signal).then((r) => r.text()).catch(() => '');
    await enginesReach((s) => s[0]!.running + s[1]!.running === 1);
    const busy = engines.findIndex((e) => e.state().running === 1);
    const before = sentBy(provider);
    for (let i = 0; i < 3; i++) await shortCompletion(provider.url, key, model);
    const after = sentBy(provider);
    expect(engines[busy]!.state().running).toBe(1); // still generating: its replica was the busier one throughout
    expect(after[busy]).toBe(before[busy]);
    expect(after[1 - busy]).toBe(before[1 - busy]! + 3);
    long.abort();
    await streaming;
    await enginesReach((s) => s.every((e) => e.running === 0));
  });

  it('loses no request that had not started when a replica stops; later ones succeed on the other, billed exactly; the stopped one is probed back', async () => {
    const model = engines[0]!.model;
    const urls = engines.map((e) => e.url);
    const streamKey = await newKey(provider.url, 50);
    const key = await newKey(provider.url, 50);
    const start = await balanceMsat(provider.url, key);

    // Fill the node's four slots with long generations, two on each replica.
    const long = new AbortController();
    const streams = Array.from({ length: 4 }, () => post(provider.url, streamKey, chat(model, LONG, true), long.signal).then((r) => r.text()).catch(() => ''));
    await enginesReach((s) => s[0]!.running === 2 && s[1]!.running === 2);

    // Six requests wait in the node's admission queue: none has started on any engine.
    const queued = new Promise<void>((resolve) => {
      // the node's load is its Admission (RunningProvider types it as the NodeLoad the market maker reads)
      const admission = provider.load as Admission;
      const off = admission.onChange(() => {
        if (provider.load.queued === 6) {
          off();
          resolve();
        }
      });
    });
    const waiting = Array.from({ length: 6 }, () =>
      post(provider.url, key, chat(model, 2)).then(async (r) => ({ status: r.status, body: (await r.json()) as { usage?: { cost?: { total_msats: number } } } })),
    );
    await queued;

    // Replica 0 stops: its two generations break off (they had started: billed what was generated, as with one engine).
    const port = portOf(engines[0]!);
    await engines[0]!.stop();
    long.abort(); // the other replica's generations too, so the queue drains without waiting for them
    const answers = await Promise.all(waiting);
    await Promise.all(streams);
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200, 200]);
    const stopped = provider.replicas.state()[0]!;
    expect(stopped).toMatchObject({ url: urls[0], up: false, failures: 1 });
    expect(stopped.downReason).toMatch(/ECONNREFUSED|probe/);

    // Billed exactly what was served: the key's balance fell by the sum of the costs the answers carried.
    const charged = answers.reduce((sum, a) => sum + a.body.usage!.cost!.total_msats, 0);
    expect(charged).toBeGreaterThan(0);
    expect(await balanceMsat(provider.url, key)).toMatchObject({ balance: start.balance - charged, reserved: 0, total_requests: 6, total_spent: charged });

    // Later requests go to the live replica only.
    const beforeLater = sentBy(provider);
    for (let i = 0; i < 2; i++) await shortCompletion(provider.url, key, model);
    expect(sentBy(provider)[1]).toBe(beforeLater[1]! + 2);

    // Back on the same port: the probe puts it back in rotation and it takes requests again.
    const back = replicaReaches(provider, urls[0]!, (s) => s.up);
    engines[0] = await startReplica(port);
    await back;
    await enginesReach((s) => s.every((e) => e.running === 0));
    const beforeBack = sentBy(provider);
    for (let i = 0; i < 2; i++) await shortCompletion(provider.url, key, model);
    const afterBack = sentBy(provider);
    expect([afterBack[0]! - beforeBack[0]!, afterBack[1]! - beforeBack[1]!]).toEqual([1, 1]);
  });
});

describe('the price of a node over two replicas', () => {
  let provider: RunningProvider;
  afterAll(async () => provider?.stop());

  it('reads the load of both: one replica full is half the node, both full is all of it, both queueing raises the price', async () => {
    provider = await startProvider({
      engine: 'vllm', upstream: engines.map((e) => e.url), mints: [mint.url], dataDir: tmp(), contextLength: engines[0]!.contextSize,
      pricing: { mode: 'dynamic', electricityMsatPerKwh: 100_000, tokensPerSecond: 50, margin: 1_000, powerWatts: 300, measureThroughput: false },
      tick: { intervalMs: 0, heartbeatS: 0 }, maxConcurrency: 4, queueSize: 8, log: () => {},
    });
    const maker = provider.marketMaker!;
    const model = engines[0]!.model;
    const completion = (): number => maker.current().get(model)!.completion;
    const floor = completion();
    const aborts: AbortController[] = [];
    const load = (engine: RunningEngine, n: number): Promise<string>[] =>
      Array.from({ length: n }, () => {
        const a = new AbortController();
        aborts.push(a);
        // straight at the engine, as another tenant's traffic would be: the node's own counters stay at zero
        return fetch(`${engine.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(chat(model, LONG)), signal: a.signal })
          .then((r) => r.text())
          .catch(() => '');
      });

    // The second replica alone full: two of the node's four slots.
    const loads = load(engines[1]!, 2);
    await enginesReach((s) => s[1]!.running === 2);
    let state = await maker.sampleNow();
    expect(state.reading!.replicas!.map((r) => r.vllm?.running)).toEqual([0, 2]);
    expect(state.utilisation).toMatchObject({ value: 0.5, parts: { slots: 0.5, queue: 0 } });

    // Both full.
    loads.push(...load(engines[0]!, 2));
    await enginesReach((s) => s[0]!.running === 2 && s[1]!.running === 2);
    state = await maker.sampleNow();
    expect(state.reading!.vllm).toMatchObject({ running: 4, waiting: 0 });
    expect(state.utilisation).toMatchObject({ value: 1, parts: { slots: 1, queue: 0 } });

    // Both queueing: 1 + 4 waiting / 4 slots; the price climbs above the floor.
    loads.push(...load(engines[0]!, 2), ...load(engines[1]!, 2));
    await enginesReach((s) => s.every((e) => e.running === 2 && e.waiting === 2));
    state = await maker.sampleNow();
    expect(state.utilisation!.value).toBe(2);
    for (let i = 0; i < 30 && completion() <= floor; i++) await maker.sampleNow();
    expect(completion()).toBeGreaterThan(floor);
    const advertised = (await (await fetch(`${provider.url}/v1/models`)).json()) as { data: { sats_pricing: { completion: number } }[] };
    expect(advertised.data[0]!.sats_pricing.completion).toBeCloseTo(completion() / 1e9, 12);

    for (const a of aborts) a.abort();
    await Promise.all(loads);
    await enginesReach((s) => s.every((e) => e.running === 0 && e.waiting === 0));
    state = await maker.sampleNow();
    expect(state.utilisation!.value).toBe(0);
  });
});

describe('a replica that answers 5xx', () => {
  let provider: RunningProvider;
  let sick: Server;
  afterAll(async () => {
    await provider?.stop();
    sick?.closeAllConnections();
    await new Promise((resolve) => sick?.close(resolve));
  });

  it('is taken out of rotation (the buyer pays nothing for the failure), later requests go to the other, and it is probed back', async () => {
    const model = engines[1]!.model;
    // An engine whose models endpoint works and whose inference fails, as one that lost its GPU would.
    sick = createServer((req, res) => {
      if (req.method === 'GET' && req.url === '/v1/models') return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ data: [{ id: model, max_model_len: engines[1]!.contextSize }] }));
      req.resume();
      req.on('end', () => res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":{"message":"engine unavailable"}}'));
    });
    await new Promise<void>((resolve) => sick.listen(0, '127.0.0.1', resolve));
    const sickUrl = `http://127.0.0.1:${(sick.address() as AddressInfo).port}`;
    provider = await startProvider({
      engine: 'vllm', upstream: [sickUrl, engines[1]!.url], mints: [mint.url], dataDir: tmp(), contextLength: engines[1]!.contextSize,
      board: createPriceBoard([{ model, prompt: msatPerMtok(PROMPT), completion: msatPerMtok(COMPLETION) }]), maxConcurrency: 2, log: () => {},
    });
    const key = await newKey(provider.url, 20);
    const start = await balanceMsat(provider.url, key);
    const changes: ReplicaState[] = [];
    provider.replicas.onChange((s) => changes.push(s));
    // The first request goes to the first replica (both idle): the engine's 503 is the buyer's answer, at no charge.
    const failed = await post(provider.url, key, chat(model, 2));
    expect(failed.status).toBe(503);
    await failed.text();
    expect(changes[0]).toMatchObject({ url: sickUrl, up: false, failures: 1, downReason: 'answered 503' });
    expect(await balanceMsat(provider.url, key)).toMatchObject({ balance: start.balance, reserved: 0 });
    // The next goes to the healthy one (out of rotation or not, the sick one had the last turn).
    const cost = await shortCompletion(provider.url, key, model);
    expect(sentBy(provider)).toEqual([1, 1]);
    expect((await balanceMsat(provider.url, key)).balance).toBe(start.balance - cost);
    // Its models endpoint answers: the probe puts it back.
    expect(await replicaReaches(provider, sickUrl, (s) => s.up)).toMatchObject({ up: true, failures: 1 });
  });
});

describe('the upstream option', () => {
  it('refuses an empty list, a repeated replica or a non-http URL with a RangeError, before touching the data folder', async () => {
    const dataDir = join(tmp(), 'never-created');
    for (const upstream of [[], ['http://127.0.0.1:1', 'http://127.0.0.1:1/'], ['ftp://x']]) {
      await expect(startProvider({ engine: 'vllm', upstream, mints: [mint.url], dataDir })).rejects.toThrow(RangeError);
    }
    expect(existsSync(dataDir)).toBe(false);
  });
});
