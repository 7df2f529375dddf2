import { generateSecretKey, getPublicKey, finalizeEvent, getEventHash } from 'nostr-tools/pure';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import type { AddressInfo } from 'node:net';
import { startRelay } from '@routstr-kit/devnet/relay';
import { announcementTemplate, type NostrEvent } from '../protocol/index.ts';
import { ManualClock } from './clock.ts';
import { address, announce, nowS, publish, tick } from './market-test-events.ts';
import { openMarket, type Market } from './open-market.ts';
import type { BestAskChange } from './order-book.ts';
import { infoBody, modelsBody, startRecordedProvider, type RecordedProvider } from './recorded-provider.ts';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function provider(models: string | number, info: string | number = infoBody()): Promise<RecordedProvider> {
  const p = await startRecordedProvider({ '/v1/models': models, '/v1/info': info });
  cleanups.push(() => p.stop());
  return p;
}

/** Resolves on the first best-ask change that satisfies `predicate`. */
function bestChange(market: Market, predicate: (c: BestAskChange) => boolean): Promise<BestAskChange> {
  return new Promise((resolve) => {
    const off = market.onBestAskChange((c) => {
      if (predicate(c)) {
        off();
        resolve(c);
      }
    });
  });
}

/** A relay that answers every REQ with the given raw events, then EOSE (a hostile or buggy relay). */
async function cannedRelay(events: unknown[]): Promise<string> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  wss.on('connection', (ws) => {
    ws.on('message', (data) => {
      const msg = JSON.parse(String(data)) as unknown[];
      if (msg[0] !== 'REQ') return;
      for (const e of events) ws.send(JSON.stringify(['EVENT', msg[1], e]));
      ws.send(JSON.stringify(['EOSE', msg[1]]));
    });
  });
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
  );
  return `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`;
}

function open(options: Parameters<typeof openMarket>[0]): Market {
  const market = openMarket({ tickIntervalMs: 0, probe: { retries: 0, timeoutMs: 5_000 }, allowProviderAddresses: 'loopback', ...options });
  cleanups.push(() => market.close());
  return market;
}

describe('openMarket on the devnet relay with recorded /v1/models bodies', () => {
  it('builds the book; a cheaper tick moves the best ask, its expiry moves it back, an older seq is ignored', async () => {
    const relay = await startRelay();
    cleanups.push(() => relay.stop());
    const [a, b, c] = [generateSecretKey(), generateSecretKey(), generateSecretKey()];
    // sats per token → msat/Mtok: 0.0001 → 100 000
    const pa = await provider(modelsBody([{ prompt: 0.0001, completion: 0.0004 }]));
    const pb = await provider(modelsBody([{ id: 'openai/gpt-4o-mini', prompt: 0.0002, completion: 0.0006 }]));
    const pc = await provider(modelsBody([{ prompt: 0.0003, completion: 0.0009 }]));
    await publish(relay.url, [
      announce(a, pa.url),
      announce(b, pb.url),
      // an announcement-only ask for a model none of the bodies lists
      announce(c, pc.url, { asks: [{ model: 'meta-llama/llama-3-8b', prompt: 10, completion: 20 }] }),
    ]);

    const clock = new ManualClock(Date.now());
    // quotes expire 60 s after the market's clock (not the wall clock, which runs on under load)
    const expiresS = Math.floor(clock.now() / 1000) + 60;
    const market = open({ relays: [relay.url], clock });
    await market.ready();

    expect(market.registry.size).toBe(3);
    expect(market.models()).toEqual(['gpt-4o-mini', 'llama-3-8b']);
    expect(market.bestAsk('gpt-4o-mini')).toMatchObject({ provider: address(a), source: 'models', prompt: 100_000, completion: 400_000, priceMsat: 500_000 });
    expect(market.depth('gpt-4o-mini', 3).map((x) => [x.provider, x.priceMsat])).toEqual([
      [address(a), 500_000],
      [address(b), 800_000],
      [address(c), 1_200_000],
    ]);
    expect(market.depth('openai/gpt-4o-mini', 1)[0]?.providerModelId).toBe('gpt-4o-mini');
    expect(market.marketPrice('gpt-4o-mini')).toMatchObject({ asks: 3, medianMsat: 800_000, spreadMsat: 700_000, bestMsat: 500_000 });
    expect(market.bestAsk('llama-3-8b')).toMatchObject({ provider: address(c), source: 'announcement', providerModelId: 'meta-llama/llama-3-8b' });
    expect(market.registry.get(address(a))).toMatchObject({ health: 'healthy', mints: ['https://mint.minibits.cash/Bitcoin', 'https://mint.cubabitcoin.org'] });

    // a cheaper tick from C
    const cheaper = tick(c, pc.url, 5, 50_000, 100_000, expiresS);
    const toC = bestChange(market, (x) => x.current?.provider === address(c));
    await publish(relay.url, [cheaper]);
    const change = await toC;
    expect(change.previous?.provider).toBe(address(a));
    expect(market.bestAsk('gpt-4o-mini')).toMatchObject({ provider: address(c), source: 'tick', quoteId: cheaper.id, priceMsat: 150_000 });

    // an older seq (even cheaper) is ignored; the newer tick behind it lands
    const newer = tick(c, pc.url, 6, 60_000, 100_000, expiresS);
    const toNewer = bestChange(market, (x) => x.current?.quoteId === newer.id);
    await publish(relay.url, [tick(c, pc.url, 4, 1, 1, expiresS), newer]);
    await toNewer;
    expect(market.stats.rejected('stale-seq')).toBe(1);
    expect(market.bestAsk('gpt-4o-mini')?.priceMsat).toBe(160_000);

    // the tick lapses: back to A's /v1/models price, emitted in the sweep itself
    const back: BestAskChange[] = [];
    market.onBestAskChange((x) => back.push(x));
    clock.advance(61_000);
    market.sweep();
    expect(back.map((x) => x.current?.provider)).toEqual([address(a)]);
    expect(market.bestAsk('gpt-4o-mini')).toMatchObject({ provider: address(a), source: 'models' });
    expect(market.book.askOf(address(c), 'gpt-4o-mini')?.source).toBe('models');

    // history saw A, then C, then A again
    await Promise.resolve();
    const providers = market.history('gpt-4o-mini', 3_600_000).map((p) => p.bestProvider);
    expect(providers.filter((p, i) => p !== providers[i - 1]).slice(-3)).toEqual([address(a), address(c), address(a)]);
    expect(market.stats.snapshot().rejectedTotal).toBe(1);
  });
});

describe('hostile input changes nothing and is counted', () => {
  it('refuses forged, tampered, future-dated, expired and malformed events and bodies', async () => {
    const [g, m, i, victim, attacker] = [generateSecretKey(), generateSecretKey(), generateSecretKey(), generateSecretKey(), generateSecretKey()];
    const pg = await provider(modelsBody([{ prompt: 0.0001, completion: 0.0001 }]));
    const pm = await provider('<html>502 Bad Gateway</html>');
    const pi = await provider(modelsBody([{ prompt: 0.0001, completion: 0.0001 }]), JSON.stringify({ name: 5, mints: 'no' }));
    const genuine = announce(g, pg.url);

    // forged: correct id for the victim's pubkey, signature by someone else
    const forged = finalizeEvent(announcementTemplate({ d: 'node', urls: [pg.url], mints: [], version: '1', name: 'x', about: 'y', createdAt: nowS() }), attacker);
    forged.pubkey = getPublicKey(victim);
    forged.id = getEventHash(forged);
    // tampered: a genuine event whose content changed after signing
    const tampered = JSON.parse(JSON.stringify(announce(victim, pg.url, { asks: [{ model: 'gpt-4o-mini', prompt: 1000, completion: 1000 }] }))) as NostrEvent;
    (tampered.tags.find((t) => t[0] === 'model') as string[])[2] = '1';
    const future = announce(victim, pg.url, { createdAt: nowS() + 3_600 });
    const expiredTemplate = announcementTemplate({ d: 'node', urls: [pg.url], mints: [], version: '1', name: 'x', about: 'y', createdAt: nowS() - 100 });
    expiredTemplate.tags.push(['expiration', String(nowS() - 10)]);
    const expired = finalizeEvent(expiredTemplate, victim);
    const noUrl = finalizeEvent({ kind: 38421, created_at: nowS(), tags: [['d', 'x']], content: '{}' }, victim);
    const forgedTick = tick(attacker, pg.url, 9, 1, 1);
    const forgedTickAsG = { ...forgedTick, pubkey: getPublicKey(g), tags: forgedTick.tags.map((t) => (t[0] === 'a' ? ['a', address(g)] : t)) };
    forgedTickAsG.id = getEventHash(forgedTickAsG);
    const tamperedTick = JSON.parse(JSON.stringify(tick(g, pg.url, 10, 5, 5))) as NostrEvent;
    (tamperedTick.tags.find((t) => t[0] === 'model') as string[])[2] = '1';

    const hostile = await cannedRelay([
      genuine,
      announce(m, pm.url, { asks: [{ model: 'gpt-4o-mini', prompt: 1, completion: 1 }] }),
      announce(i, pi.url),
      forged,
      tampered,
      future,
      expired,
      noUrl,
      { kind: 38421, hello: 'world' },
      forgedTickAsG,
      tamperedTick,
      tick(g, pg.url, 11, 1, 1, nowS() - 1),
    ]);
    const mirror = await cannedRelay([genuine]);

    const clock = new ManualClock(Date.now());
    const market = open({ relays: [hostile, mirror], clock });
    await market.ready();

    const stats = market.stats.snapshot();
    expect(stats.rejected).toMatchObject({ forged: 2, tampered: 2, future: 1, expired: 2, malformed: 4 });
    expect(stats.malformedBodies).toBe(2);
    expect(stats.duplicates).toBe(1);
    expect(stats.accepted).toBe(3);

    // only the three genuine providers are known; the victim never entered the market
    expect(market.registry.all().map((r) => r.id).sort()).toEqual([address(g), address(i), address(m)].sort());
    expect(market.registry.get(address(m))?.health).toBe('unhealthy');
    expect(market.registry.get(address(i))?.health).toBe('unhealthy');
    expect(market.depth('gpt-4o-mini', 10).map((x) => [x.provider, x.source, x.priceMsat])).toEqual([
      // M's announcement ask stays in the book, but selection will not use an unhealthy provider
      [address(m), 'announcement', 2],
      [address(g), 'models', 200_000],
    ]);
    const selection = market.select({ model: 'gpt-4o-mini', profile: 'cheapest', topN: 1 });
    expect(selection.providers.map((p) => p.provider)).toEqual([address(g)]);
    expect(selection.rejected).toEqual([{ provider: address(m), reason: 'unhealthy' }]);
  });
});

describe('providers that vanish leave the book', () => {
  it('on NIP-40 expiry, on deletion, and after repeated failed probes', async () => {
    const [x, y, z] = [generateSecretKey(), generateSecretKey(), generateSecretKey()];
    const body = modelsBody([{ prompt: 0.0001, completion: 0.0001 }]);
    const [px, py, pz] = [await provider(body), await provider(body), await provider(body)];
    const clock = new ManualClock(Date.now());
    const market = open({ relays: [], clock, evictAfterProbeFailures: 2 });
    const gone: [string, string][] = [];
    market.onDeparture((p, reason) => gone.push([p, reason]));

    const template = announcementTemplate({ d: 'node', urls: [px.url], mints: [], version: '1', name: 'x', about: 'y', createdAt: nowS() });
    template.tags.push(['expiration', String(nowS() + 30)]);
    expect(await market.ingestEvent(finalizeEvent(template, x))).toBe('accepted');
    expect(await market.ingestEvent(announce(y, py.url))).toBe('accepted');
    expect(await market.ingestEvent(announce(z, pz.url))).toBe('accepted');
    await market.ready();
    expect(market.depth('gpt-4o-mini', 5)).toHaveLength(3);

    clock.advance(31_000);
    market.sweep();
    expect(gone).toEqual([[address(x), 'expired']]);

    const deletion = finalizeEvent({ kind: 5, created_at: nowS() + 1, tags: [['a', address(y)], ['k', '38421']], content: '' }, y);
    // someone else cannot delete z's announcement
    const foreign = finalizeEvent({ kind: 5, created_at: nowS() + 1, tags: [['a', address(z)], ['k', '38421']], content: '' }, y);
    market.ingestEventSync(deletion);
    market.ingestEventSync(foreign);
    expect(gone.at(-1)).toEqual([address(y), 'deleted']);
    // the deleted version does not come back from another relay
    expect(market.ingestEventSync(announce(y, py.url, { createdAt: nowS() - 5 }))).toBe('superseded');

    pz.routes.set('/v1/models', 503);
    await market.refresh();
    expect(market.registry.get(address(z))?.health).toBe('unhealthy');
    expect(market.depth('gpt-4o-mini', 5).map((a) => a.provider)).toEqual([address(z)]);
    await market.refresh();
    expect(gone.at(-1)).toEqual([address(z), 'probes-failing']);
    expect(market.models()).toEqual([]);
    expect(market.stats.probesFailed).toBe(2);
    // a tick for a provider the market does not know changes nothing
    expect(market.ingestEventSync(tick(generateSecretKey(), px.url, 1, 1, 1))).toBe('orphan');
    expect(market.models()).toEqual([]);
    expect(market.stats.rejected('orphan')).toBe(1);
  });
});

describe('selection in the market', () => {
  it('honours mints, price, exclusions, reviews, trusted keys and cooldowns, and orders failover', async () => {
    const [a, b, c, reviewer] = [generateSecretKey(), generateSecretKey(), generateSecretKey(), generateSecretKey()];
    const pa = await provider(modelsBody([{ prompt: 0.0001, completion: 0.0001 }]), infoBody(['https://mint.x/']));
    const pb = await provider(modelsBody([{ prompt: 0.0002, completion: 0.0002 }]), infoBody(['https://mint.y']));
    const pc = await provider(modelsBody([{ prompt: 0.0003, completion: 0.0003 }]), infoBody(['https://mint.x']));
    const clock = new ManualClock(Date.now());
    const market = open({ relays: [], clock, reviewers: [getPublicKey(reviewer)], trustedPubkeys: [getPublicKey(c)] });
    for (const [sk, p] of [[a, pa], [b, pb], [c, pc]] as const) await market.ingestEvent(announce(sk, p.url));
    await market.ready();
    const ids = (s: { providers: { provider: string }[] }) => s.providers.map((p) => p.provider);
    const req = { model: 'gpt-4o-mini', profile: 'cheapest', topN: 1 } as const;

    expect(ids(market.select(req))).toEqual([address(a), address(b), address(c)]);
    expect(ids(market.select({ ...req, mints: ['https://mint.x'] }))).toEqual([address(a), address(c)]);
    expect(ids(market.select({ ...req, maxPriceMsat: 400_000 }))).toEqual([address(a), address(b)]);
    expect(ids(market.select({ ...req, shape: { inputTokens: 1_000, outputTokens: 1_000 }, maxPriceMsat: 400 }))).toEqual([address(a), address(b)]);
    expect(ids(market.select({ ...req, exclude: [getPublicKey(a)] }))).toEqual([address(b), address(c)]);
    expect(market.select({ ...req, profile: 'trusted' }).providers[0]?.provider).toBe(address(c));

    // a negative review from a configured reviewer takes B out
    const review = finalizeEvent({ kind: 38425, created_at: nowS(), tags: [['d', 'r'], ['t', 'avoid'], ['node', getPublicKey(b)]], content: '' }, reviewer);
    expect(await market.ingestEvent(review)).toBe('accepted');
    expect(market.select(req).rejected).toEqual([{ provider: address(b), reason: 'distrusted' }]);

    // two failures within 210 s cool A down for 210 s
    market.reportFailure(address(a), { wholeProvider: true });
    expect(ids(market.select(req))[0]).toBe(address(a));
    clock.advance(100_000);
    market.reportFailure(address(a), { wholeProvider: true });
    expect(ids(market.select(req))).toEqual([address(c)]);
    clock.advance(209_999);
    expect(ids(market.select(req))).toEqual([address(c)]);
    clock.advance(1);
    expect(ids(market.select(req))).toEqual([address(a), address(c)]);

    // a model-scoped cooldown leaves the provider's other models alone
    market.reportFailure(address(c), { model: 'openai/gpt-4o-mini' });
    market.reportFailure(address(c), { model: 'gpt-4o-mini' });
    expect(ids(market.select(req))).toEqual([address(a)]);
    expect(market.cooldowns.isCoolingDown(address(c))).toBe(false);

    // reported latency feeds the fastest profile
    market.reportSuccess(address(a), 5_000);
    expect(market.registry.get(address(a))?.successes).toBeGreaterThan(1);
  });
});
