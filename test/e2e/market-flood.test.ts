// Acceptance (issue 13, point 10): a flood of 20 000 announcements and ticks from 2 000 fresh keys
// on a devnet relay, each fake announcing a provider cheaper than the honest one. The buyer's
// heap stays bounded, at most 16 probes run at once (counted at the probe target), and a market
// buy from the honest provider succeeds while the flood is on. The flooded relay and the attacker
// run in a child process (flood-relay-child.ts), as a remote relay would: the buyer's event loop
// carries only the buyer.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRoutstrClient, openMarket, type Market, type RoutstrClient } from '@routstr-kit/core';
import { startPricedDevnet, type PricedDevnet, type Price, type TickerNode } from '@routstr-kit/devnet/priced-nodes';

const KEYS = 2_000;
const ANNOUNCEMENTS_PER_KEY = 9; // one more than the per-pubkey cap; with one tick each: 20 000 events
const HONEST: Price = { prompt: 200_000_000, completion: 800_000_000 };
const INFO = readFileSync(new URL('../../fixtures/routstr/v1_info_constructed.json', import.meta.url), 'utf8');

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const heapAfterGc = (): number => {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};

/**
 * Every fake provider's URL points here: it answers probes with 404 after a moment and counts how
 * many probes overlap. `/marker/…` answers as a provider selling nothing (the end-of-flood marker).
 */
async function startProbeTarget(): Promise<{ url: string; maxConcurrent: () => number; probes: () => number; server: Server }> {
  const inFlight = new Map<string, number>();
  let max = 0;
  let probes = 0;
  const server = createServer((req, res) => {
    // /k<i>d<j>/v1/models and /k<i>d<j>/v1/info belong to one probe of provider k<i>d<j>
    const provider = req.url?.split('/')[1] ?? '';
    if (provider === 'marker') return void res.end(req.url?.endsWith('/v1/info') ? INFO : '{"data": []}');
    if (!inFlight.has(provider)) probes += 1;
    inFlight.set(provider, (inFlight.get(provider) ?? 0) + 1);
    max = Math.max(max, inFlight.size);
    // a slow provider, so overlapping probes would show
    setTimeout(() => {
      const left = (inFlight.get(provider) ?? 1) - 1;
      if (left === 0) inFlight.delete(provider);
      else inFlight.set(provider, left);
      res.writeHead(404).end();
    }, 20);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, maxConcurrent: () => max, probes: () => probes, server };
}

/** The child's JSON lines, one promise per key. */
function childLines(child: ChildProcess): (key: string) => Promise<Record<string, unknown>> {
  const seen: Record<string, unknown>[] = [];
  const waiting: { key: string; resolve: (line: Record<string, unknown>) => void }[] = [];
  createInterface({ input: child.stdout! }).on('line', (text) => {
    const line = JSON.parse(text) as Record<string, unknown>;
    seen.push(line);
    for (const w of [...waiting]) {
      if (!(w.key in line)) continue;
      waiting.splice(waiting.indexOf(w), 1);
      w.resolve(line);
    }
  });
  return (key) => {
    const line = seen.find((l) => key in l);
    return line ? Promise.resolve(line) : new Promise((resolve) => waiting.push({ key, resolve }));
  };
}

describe('a flood of fake providers', () => {
  let net: PricedDevnet;
  let honest: TickerNode;
  let market: Market;
  let target: Awaited<ReturnType<typeof startProbeTarget>>;
  let child: ChildProcess;
  let line: (key: string) => Promise<Record<string, unknown>>;
  let client: RoutstrClient;

  beforeAll(async () => {
    child = spawn(process.execPath, [fileURLToPath(new URL('./flood-relay-child.ts', import.meta.url))], { stdio: ['pipe', 'pipe', 'inherit'] });
    line = childLines(child);
    net = await startPricedDevnet();
    honest = await net.startTicker('honest', HONEST);
    await honest.tick(HONEST);
    target = await startProbeTarget();
    const floodRelay = (await line('url'))['url'] as string;
    market = openMarket({ relays: [net.devnet.relayUrl, floodRelay], tickIntervalMs: 0, maxFutureSkewSeconds: 3600, allowProviderAddresses: 'loopback' });
    await market.ready();
    const { wallet } = await net.newWallet(200);
    client = createRoutstrClient({ wallet, market, mode: 'xcashu' });
  });
  afterAll(async () => {
    await client?.close();
    market?.close();
    child?.stdin?.end();
    target?.server.closeAllConnections();
    target?.server.close();
    await net?.stop();
  });

  it('market-flood: 20 000 events from 2 000 keys: heap bounded, at most 16 probes at once, a market buy from the honest provider succeeds meanwhile', { timeout: 400_000 }, async () => {
    expect(market.select({ model: net.model }).providers.map((p) => p.pubkey)).toEqual([honest.node.pubkey]);
    const heapBefore = heapAfterGc();
    child.stdin!.write(`${JSON.stringify({ op: 'flood', keys: KEYS, announcementsPerKey: ANNOUNCEMENTS_PER_KEY, target: target.url, markerUrl: `${target.url}/marker`, mint: net.devnet.mintUrl, model: net.model })}\n`);
    const { signed, marker } = await line('signed');
    expect(signed).toBe(20_000);
    // the marker's next version follows the whole flood on the same relay
    const floodRead = new Promise<void>((resolve) => {
      const off = market.onAskChange((change) => {
        if (change.provider === marker && change.current) {
          off();
          resolve();
        }
      });
    });
    // once the market is digesting the flood (500 fake asks in the book), buy
    let fakeAsks = 0;
    const digesting = new Promise<void>((resolve) => {
      const off = market.onAskChange((change) => {
        if (change.current && change.current.prompt === 1 && ++fakeAsks === 500) {
          off();
          resolve();
        }
      });
    });
    await digesting;
    const bought = await client.chat({ model: net.model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 });
    expect(bought.receipt.provider.pubkey).toBe(honest.node.pubkey);
    await line('done');
    await floodRead;
    await market.ready(); // the queued probes ran

    const grown = heapAfterGc() - heapBefore;
    const stats = market.stats.snapshot();
    console.log(`market-flood: heap +${(grown / 2 ** 20).toFixed(1)} MiB, ${target.probes()} probes (max ${target.maxConcurrent()} at once), ${market.registry.size} providers, rejected`, stats.rejected);
    expect(grown).toBeLessThan(50 * 2 ** 20);
    expect(target.probes()).toBeGreaterThan(16);
    expect(target.maxConcurrent()).toBeLessThanOrEqual(16);
    expect(stats.rejected.capacity).toBeGreaterThan(0);
    expect(market.registry.size).toBeLessThanOrEqual(1_000);
    // fakes never passed a probe: none is ever chosen
    expect(market.select({ model: net.model }).providers.map((p) => p.pubkey)).toEqual([honest.node.pubkey]);
  });
});
