// The aggregator on the devnet (relay, mint, llama.cpp engine, a fixed-price and a dynamic node):
// every endpoint's shape, history intervals, ticks reaching /api/models and /api/stream, and the
// history surviving a restart; the same suite on node:sqlite and on PostgreSQL.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { priceForShape } from '@routstr-kit/core/market';
import type { RunningProvider } from '@routstr-kit/provider';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock, type Market } from '@routstr-kit/core';
import { startPricedDevnet, type NodeSpec, type PricedDevnet } from '@routstr-kit/devnet/priced-nodes';
import { HISTORY_INTERVALS, INTERVAL_MS, TYPICAL_SHAPE, openMarketStore, startMarketDataService, type BookResponse, type HistoryResponse, type MarketDataService, type ModelSummary, type ModelsResponse, type ProvidersResponse } from '../src/index.ts';
import { startPostgresCluster, type PostgresCluster } from '@routstr-kit/devnet/postgres';
import { openStream, type StreamClient } from './sse-client.ts';

const FIXED = { prompt: 300_000_000, completion: 1_500_000_000 };
let net: PricedDevnet;
/** A market that has seen every node (provider ids come from it). */
let market: Market;
let cluster: PostgresCluster;
const dirs: string[] = [];

/** The devnet with `specs` running, and `market` opened on it once it holds their asks. */
async function startNet(specs: NodeSpec[]): Promise<PricedDevnet> {
  const started = await startPricedDevnet();
  for (const spec of specs) await started.startNode(spec);
  market = await started.openMarket();
  return started;
}

beforeAll(async () => {
  [net, cluster] = await Promise.all([
    startNet([
      { name: 'fixed', price: FIXED },
      { name: 'dynamic', dynamic: { powerWatts: 100, electricityMsatPerKwh: 100_000, tokensPerSecond: 100, margin: 2_500_000_000, alpha: 1, maxStep: 1 } },
    ]),
    startPostgresCluster(),
  ]);
});
afterAll(async () => {
  await net?.stop();
  await cluster?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function getJson<T>(url: string): Promise<{ status: number; body: T; type: string | null }> {
  const res = await fetch(url);
  return { status: res.status, body: (await res.json()) as T, type: res.headers.get('content-type') };
}

const typical = (p: { prompt: number; completion: number }): number => priceForShape(p, TYPICAL_SHAPE);

const backends: { name: 'sqlite' | 'postgres'; store: () => Promise<string> }[] = [
  {
    name: 'sqlite',
    store: async () => {
      const dir = mkdtempSync(join(tmpdir(), 'market-serve-'));
      dirs.push(dir);
      return join(dir, 'market.db');
    },
  },
  { name: 'postgres', store: () => cluster.newDatabase('serve') },
];

describe.each(backends)('market serve on $name', ({ name, store: makeStore }) => {
  let service: MarketDataService;
  let stream: StreamClient;
  let store: string;
  let recordedAt: number;
  const start = (): Promise<MarketDataService> => startMarketDataService({ relays: [net.devnet.relayUrl], store, providerAddresses: 'loopback', log: () => undefined });

  /** Re-reads `path` after each stream event until `done` accepts it. */
  async function until<T>(path: string, done: (body: T) => boolean): Promise<T> {
    for (;;) {
      const { body } = await getJson<T>(`${service.url}${path}`);
      if (done(body)) return body;
      await stream.next();
    }
  }
  const modelOf = (m: ModelsResponse): ModelSummary | undefined => m.models.find((x) => x.id === net.model);
  const provider = (n: string): RunningProvider => net.providers.get(n) as RunningProvider;

  beforeAll(async () => {
    store = await makeStore();
    service = await start();
    expect(service.storeKind).toBe(name);
    stream = await openStream(`${service.url}/api/stream`);
  });
  afterAll(async () => {
    stream?.close();
    await service?.close();
  });

  it('GET /api/models: both nodes\' asks, best, median and spread of a typical request, in integer msat', async () => {
    // both probed: the providers' latency is known
    await until<ProvidersResponse>('/api/providers', (p) => p.providers.length === 2 && p.providers.every((x) => x.latencyMs !== null));
    const { status, body, type } = await getJson<ModelsResponse>(`${service.url}/api/models`);
    expect(status).toBe(200);
    expect(type).toMatch(/^application\/json/);
    const entry = modelOf(body);
    const dyn = provider('dynamic').board.current().get(net.model)!;
    const prices = [typical(FIXED), typical(dyn)].sort((a, b) => a - b) as [number, number];
    expect(entry).toMatchObject({ providers: 2, spreadMsat: prices[1] - prices[0], change1h: null, change24h: null });
    expect(entry?.bestAsk?.typicalRequestMsat).toBe(prices[0]);
    expect(entry?.bestAsk?.typicalRequestSat).toBe(Math.ceil(prices[0] / 1000));
    expect(entry?.median?.typicalRequestMsat).toBe(Math.floor((prices[0] + prices[1]) / 2));
    expect(Number.isSafeInteger(entry?.median?.promptMsatPerMtok)).toBe(true);
    expect(body.at).toBeGreaterThan(0);
  });

  it('GET /api/models/{id}/book and /api/providers: asks cheapest first with who, where, source and latency', async () => {
    const { status, body } = await getJson<BookResponse>(`${service.url}/api/models/${encodeURIComponent(net.model)}/book`);
    expect(status).toBe(200);
    expect(body.model).toBe(net.model);
    expect(body.asks).toHaveLength(2);
    expect(body.asks[0]!.typicalRequestMsat).toBeLessThanOrEqual(body.asks[1]!.typicalRequestMsat);
    const fixed = body.asks.find((a) => a.pubkey === provider('fixed').pubkey);
    expect(fixed).toMatchObject({ npub: provider('fixed').npub, name: 'fixed', promptMsatPerMtok: FIXED.prompt, completionMsatPerMtok: FIXED.completion, typicalRequestMsat: typical(FIXED) });
    expect(fixed?.url.startsWith(provider('fixed').url)).toBe(true);
    expect(['announcement', 'tick', 'probe']).toContain(fixed?.source);
    expect(fixed?.latencyMs).toEqual(expect.any(Number));
    expect(Array.isArray(body.ticks)).toBe(true);

    const providers = (await getJson<ProvidersResponse>(`${service.url}/api/providers`)).body.providers;
    const dyn = providers.find((p) => p.pubkey === provider('dynamic').pubkey);
    expect(dyn).toMatchObject({ npub: provider('dynamic').npub, name: 'dynamic', models: [net.model], uptime: 1 });
    expect(dyn?.asks).toEqual([{ model: net.model, ...(({ prompt, completion }) => ({ promptMsatPerMtok: prompt, completionMsatPerMtok: completion }))(provider('dynamic').board.current().get(net.model)!) }]);
  });

  it('a published tick changes /api/models and arrives on /api/stream with the provider\'s load', async () => {
    const before = modelOf((await getJson<ModelsResponse>(`${service.url}/api/models`)).body);
    const tick = await provider('dynamic').marketMaker!.publishTick('manual');
    expect(tick).not.toBeNull();
    const event = await stream.next((e) => e.event === 'model' && (e.data as ModelSummary).id === net.model && (e.data as ModelSummary).lastTickAt === tick!.createdAt * 1000);
    expect(before?.lastTickAt ?? 0).toBeLessThan(tick!.createdAt * 1000);
    const after = modelOf((await getJson<ModelsResponse>(`${service.url}/api/models`)).body);
    expect(after).toEqual(event.data);
    const book = (await getJson<BookResponse>(`${service.url}/api/models/${encodeURIComponent(net.model)}/book`)).body;
    expect(book.ticks[0]).toMatchObject({ provider: net.idOf(market, 'dynamic'), at: tick!.createdAt * 1000, load: tick!.load });
    expect(book.asks.find((a) => a.pubkey === provider('dynamic').pubkey)).toMatchObject({ source: 'tick', load: tick!.load });
    const providers = (await getJson<ProvidersResponse>(`${service.url}/api/providers`)).body.providers;
    expect(providers.find((p) => p.pubkey === provider('dynamic').pubkey)).toMatchObject({ load: tick!.load, lastTickAt: tick!.createdAt * 1000 });
  });

  it('GET /api/models/{id}/history: OHLC of the best ask and the median from the per-second index, every interval', async () => {
    await service.recordNow();
    const summary = modelOf((await getJson<ModelsResponse>(`${service.url}/api/models`)).body)!;
    const path = `/api/models/${encodeURIComponent(net.model)}/history`;
    const now = Date.now();
    for (const interval of HISTORY_INTERVALS) {
      const { status, body } = await getJson<HistoryResponse>(`${service.url}${path}?interval=${interval}&from=${now - 600_000}&to=${now + 1_000}`);
      expect(status, interval).toBe(200);
      expect(body).toMatchObject({ model: net.model, interval, from: now - 600_000, to: now + 1_000 });
      expect(body.bestAsk.length, interval).toBeGreaterThan(0);
      for (const c of [...body.bestAsk, ...body.median]) {
        expect(c.t % INTERVAL_MS[interval]).toBe(0);
        expect(c.l).toBeLessThanOrEqual(Math.min(c.o, c.c));
        expect(c.h).toBeGreaterThanOrEqual(Math.max(c.o, c.c));
      }
      expect(body.bestAsk.at(-1)!.c).toBe(summary.bestAsk!.typicalRequestMsat);
      expect(body.median.at(-1)!.c).toBe(summary.median!.typicalRequestMsat);
    }
    const defaults = (await getJson<HistoryResponse>(`${service.url}${path}`)).body;
    expect(defaults.interval).toBe('1m');
    expect(defaults.to - defaults.from).toBe(3_600_000);
    recordedAt = (await getJson<HistoryResponse>(`${service.url}${path}?interval=1s&from=${now - 600_000}&to=${now + 1_000}`)).body.bestAsk[0]!.t;
  });

  it('answers bad parameters with 400, unknown models and routes with 404, writes with 405, all as JSON errors', async () => {
    const path = `${service.url}/api/models/${encodeURIComponent(net.model)}/history`;
    for (const [url, status] of [
      [`${path}?interval=2m`, 400],
      [`${path}?from=abc`, 400],
      [`${path}?from=2000&to=1000`, 400],
      [`${path}?from=0&to=${Date.now()}&interval=1s`, 400],
      [`${service.url}/api/models/${encodeURIComponent('no/such-model')}/book`, 404],
      [`${service.url}/api/models/no-such-model/history`, 404],
      [`${service.url}/api/nope`, 404],
    ] as const) {
      const res = await fetch(url);
      expect(res.status, url).toBe(status);
      expect(((await res.json()) as { error: { message: string } }).error.message, url).toEqual(expect.any(String));
    }
    const post = await fetch(`${service.url}/api/models`, { method: 'POST', body: '{}' });
    expect(post.status).toBe(405);
    expect(stream.comments).toContain(': connected');
    const head = await fetch(`${service.url}/api/stream`, { method: 'HEAD' });
    expect([head.status, head.headers.get('content-type')]).toEqual([200, 'text/event-stream; charset=utf-8']);
  });

  it('keeps the history across a restart of the service', async () => {
    await service.close();
    service = await start();
    stream.close();
    stream = await openStream(`${service.url}/api/stream`);
    const { body } = await getJson<HistoryResponse>(`${service.url}/api/models/${encodeURIComponent(net.model)}/history?interval=1s&from=${recordedAt}&to=${recordedAt + 1_000}`);
    expect(body.bestAsk).toHaveLength(1);
    expect(body.bestAsk[0]!.t).toBe(recordedAt);
  });
});

describe('the dynamic node\'s price move', () => {
  it('reaches /api/stream and /api/models as a new median, and /history as a new close', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'market-move-'));
    dirs.push(dir);
    // the index keeps one row per model per second: the market's clock puts the idle and the busy sample in two
    const clock = new ManualClock(Date.now());
    const service = await startMarketDataService({ relays: [net.devnet.relayUrl], store: join(dir, 'm.db'), providerAddresses: 'loopback', log: () => undefined, market: { clock } });
    const stream = await openStream(`${service.url}/api/stream`);
    try {
      const dynamic = net.providers.get('dynamic') as RunningProvider;
      const idle = dynamic.board.current().get(net.model)!;
      const models = async (): Promise<ModelSummary | undefined> => ((await getJson<ModelsResponse>(`${service.url}/api/models`)).body.models.find((m) => m.id === net.model));
      while ((await models())?.providers !== 2) await stream.next();
      await service.recordNow();
      clock.advance(1_000);
      const fixedTypical = typical(FIXED);

      // load the dynamic node: a stream in flight while it samples raises its price, and it ticks
      const { wallet } = await net.newWallet(300, { name: 'loader' });
      const token = (await wallet.send(200 as Parameters<typeof wallet.send>[0], { purpose: 'load test deposit' })).token;
      const res = await fetch(`${dynamic.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ model: net.model, messages: [{ role: 'user', content: 'keep me busy' }], max_tokens: 100, stream: true }),
      });
      expect(res.status).toBe(200);
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      await reader.read();
      await dynamic.marketMaker?.sampleNow();
      await reader.cancel();
      const busy = dynamic.board.current().get(net.model)!;
      expect(busy.completion).toBeGreaterThan(idle.completion);
      const expectedMedian = Math.floor((fixedTypical + typical(busy)) / 2);

      const event = await stream.next((e) => e.event === 'model' && (e.data as ModelSummary).median?.typicalRequestMsat === expectedMedian);
      expect(await models()).toEqual(event.data);
      await service.recordNow();
      const now = clock.now();
      const history = (await getJson<HistoryResponse>(`${service.url}/api/models/${encodeURIComponent(net.model)}/history?interval=1s&from=${now - 120_000}&to=${now + 1_000}`)).body;
      expect(history.median.at(-1)!.c).toBe(expectedMedian);
      expect(history.median.some((c) => c.c === Math.floor((fixedTypical + typical(idle)) / 2))).toBe(true);
    } finally {
      stream.close();
      await service.close();
    }
  });
});

describe('the change columns', () => {
  it('compare the best ask with the stored index 1 h and 24 h ago', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'market-change-'));
    dirs.push(dir);
    const path = join(dir, 'm.db');
    const seeded = await openMarketStore(path);
    const now = Date.now();
    await seeded.recordIndex([
      { model: net.model, at: now - 25 * 3_600_000, bestMsat: 500_000, medianMsat: 500_000, asks: 1 },
      { model: net.model, at: now - 2 * 3_600_000, bestMsat: 1_000_000, medianMsat: 1_000_000, asks: 1 },
    ]);
    await seeded.close();
    const service = await startMarketDataService({ relays: [net.devnet.relayUrl], store: path, providerAddresses: 'loopback', log: () => undefined });
    const stream = await openStream(`${service.url}/api/stream`);
    try {
      let entry: ModelSummary | undefined;
      for (;;) {
        entry = (await getJson<ModelsResponse>(`${service.url}/api/models`)).body.models.find((m) => m.id === net.model);
        if (entry?.providers === 2 && entry.change1h !== null) break;
        await stream.next();
      }
      const best = entry.bestAsk!.typicalRequestMsat;
      expect(entry.change1h).toBeCloseTo((best - 1_000_000) / 1_000_000, 6);
      expect(entry.change24h).toBeCloseTo((best - 500_000) / 500_000, 6);
    } finally {
      stream.close();
      await service.close();
    }
  });
});
