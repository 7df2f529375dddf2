import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateSecretKey } from 'nostr-tools/pure';
import { afterEach, describe, expect, it } from 'vitest';
import { startRelay } from '@routstr-kit/devnet/relay';
import { ManualClock } from './clock.ts';
import { address, announce, publish, tick } from './market-test-events.ts';
import { openMarket, type Market } from './open-market.ts';
import { infoBody, modelsBody, startRecordedProvider, type RecordedProvider } from './recorded-provider.ts';

// What keeps a market safe on an open network: which addresses it dials, how much of a probe
// answer it reads, and how it holds up under a flood of events and providers.

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function provider(models: string | number, info: string | number = infoBody()): Promise<RecordedProvider> {
  const p = await startRecordedProvider({ '/v1/models': models, '/v1/info': info });
  cleanups.push(() => p.stop());
  return p;
}

function open(options: Parameters<typeof openMarket>[0]): Market {
  const market = openMarket({ tickIntervalMs: 0, probe: { retries: 0, timeoutMs: 5_000 }, allowProviderAddresses: 'loopback', ...options });
  cleanups.push(() => market.close());
  return market;
}

describe('openMarket provider addresses', () => {
  it('provider-addresses: by default an announcement naming 127.0.0.1, 10.x, 169.254.169.254 or a name resolving to loopback is refused and never dialed; with loopback the devnet works', async () => {
    const relay = await startRelay();
    cleanups.push(() => relay.stop());
    const node = await provider(modelsBody([{ prompt: 0.001, completion: 0.002 }]));
    const port = new URL(node.url).port;
    const [loop, ten, meta, named] = [generateSecretKey(), generateSecretKey(), generateSecretKey(), generateSecretKey()];
    await publish(relay.url, [
      announce(loop, node.url),
      announce(ten, 'http://10.1.2.3:8000'),
      announce(meta, 'http://169.254.169.254'),
      announce(named, `http://provider.test:${port}`),
    ]);
    // the real fetch, with a record of every URL the market asked it for
    const dialed: string[] = [];
    const recordingFetch: typeof fetch = (input, init) => {
      dialed.push(String(input));
      return fetch(String(input).replace('provider.test', '127.0.0.1'), init);
    };
    const resolveHost = async (host: string) => (host === 'provider.test' ? ['127.0.0.1'] : []);
    const probe = { fetch: recordingFetch, resolveHost, retries: 0 };

    const departed: string[] = [];
    const strict = open({ relays: [relay.url], probe, allowProviderAddresses: 'public' });
    strict.onDeparture((id, reason) => departed.push(`${id} ${reason}`));
    await strict.ready();
    expect(dialed).toEqual([]);
    expect(strict.registry.size).toBe(0);
    expect(strict.stats.rejected('address')).toBe(3);
    expect(departed).toEqual([`${address(named)} address-refused`]);
    expect(strict.select({ model: 'gpt-4o-mini' }).providers).toEqual([]);

    // the devnet setting: loopback hosts and names are fine, private and link-local still refused
    const devnet = open({ relays: [relay.url], probe, allowProviderAddresses: 'loopback' });
    await devnet.ready();
    expect(devnet.registry.all().map((r) => [r.id, r.health]).sort()).toEqual([[address(loop), 'healthy'], [address(named), 'healthy']].sort());
    expect(new Set(dialed.map((u) => new URL(u).hostname))).toEqual(new Set(['127.0.0.1', 'provider.test']));
    expect(devnet.stats.rejected('address')).toBe(2);
    expect(devnet.select({ model: 'gpt-4o-mini' }).providers.map((p) => p.provider).sort()).toEqual([address(loop), address(named)].sort());
  });
});

describe('openMarket probe body limit', () => {
  it('probe-body-limit: an endless /v1/models is cut off at the limit, not buffered, and marks the provider unhealthy', async () => {
    let sent = 0;
    let closed!: () => void;
    const connectionClosed = new Promise<void>((resolve) => (closed = resolve));
    const server = createServer((req, res) => {
      if (req.url === '/v1/info') return void res.end(infoBody());
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"data": [');
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      const pump = () => {
        while (!res.destroyed && res.write(chunk)) sent += chunk.length;
        if (!res.destroyed) res.once('drain', pump);
      };
      res.on('close', closed);
      pump();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    const sk = generateSecretKey();
    const market = open({ relays: [], probe: { retries: 0, maxBodyBytes: 1024 * 1024 } });
    expect(await market.ingestEvent(announce(sk, url))).toBe('accepted');
    await market.ready();
    await connectionClosed;
    const record = market.registry.get(address(sk));
    expect(record?.health).toBe('unhealthy');
    expect(record?.lastError).toMatch(/^too_large/);
    // the market stopped reading at the limit: the server got to send a few MiB at most, not an endless body
    expect(sent).toBeLessThan(16 * 1024 * 1024);
    expect(market.select({ model: 'gpt-4o-mini' }).providers).toEqual([]);
  });
});

describe('openMarket flood limits', () => {
  it('market-flood-limits: events per pubkey are rate-limited (forgeries spend nothing), providers are capped per pubkey and in total, an unprobed ask is never selected', async () => {
    const clock = new ManualClock(Date.now());
    const node = await provider(modelsBody([{ prompt: 0.001, completion: 0.002 }]));
    const market = open({ relays: [], clock, eventRate: { perSecond: 1, burst: 3 }, maxProvidersPerPubkey: 2, maxProviders: 3 });
    const sk = generateSecretKey();
    const t = (seq: number) => tick(sk, node.url, seq, 1, 1);
    expect(await market.ingestEvent(announce(sk, node.url))).toBe('accepted');
    // a forged copy under sk's pubkey fails verification and leaves sk's bucket alone
    const forged = { ...t(1), sig: 'f'.repeat(128) };
    expect(await market.ingestEvent(forged)).toBe('forged');
    expect(await market.ingestEvent(t(2))).toBe('accepted');
    expect(await market.ingestEvent(t(3))).toBe('accepted');
    expect(await market.ingestEvent(t(4))).toBe('rate-limited');
    clock.advance(1_000);
    expect(await market.ingestEvent(t(5))).toBe('accepted');

    const other = generateSecretKey();
    expect(await market.ingestEvent(announce(other, node.url, { d: 'a' }))).toBe('accepted');
    expect(await market.ingestEvent(announce(other, node.url, { d: 'b' }))).toBe('accepted');
    expect(await market.ingestEvent(announce(other, node.url, { d: 'c' }))).toBe('capacity');
    // the total cap: three providers known, all healthy once probed, so a newcomer is refused
    await market.ready();
    expect(await market.ingestEvent(announce(generateSecretKey(), node.url))).toBe('capacity');
    expect(market.registry.size).toBe(3);
    expect(market.stats.rejected('capacity')).toBe(2);

    // an announcement alone (its probe not yet passed) is in the book but never selected
    const silent = createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => { silent.closeAllConnections(); silent.close(() => r()); }));
    const fresh = open({ relays: [], clock, probe: { retries: 0 } });
    const cheap = generateSecretKey();
    expect(await fresh.ingestEvent(announce(cheap, `http://127.0.0.1:${(silent.address() as AddressInfo).port}`, { asks: [{ model: 'gpt-4o-mini', prompt: 1, completion: 1 }] }))).toBe('accepted');
    expect(fresh.bestAsk('gpt-4o-mini')?.provider).toBe(address(cheap));
    expect(fresh.select({ model: 'gpt-4o-mini' }).rejected).toEqual([{ provider: address(cheap), reason: 'unhealthy' }]);
  });
});
