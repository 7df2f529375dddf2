// Acceptance (issue 13, point 10): a flood of 20 000 announcements and ticks from 2 000 fresh keys
// on the devnet relay, each fake announcing a provider cheaper than the honest one. The buyer's
// heap stays bounded, at most 16 probes run at once (counted at the probe target), and a market
// buy from the honest provider succeeds while the flood is on.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { generateSecretKey } from 'nostr-tools/pure';
import { finalizeEvent } from 'nostr-tools/wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { announcementTemplate, buildPriceTick, createRoutstrClient, loadWasmVerifier, msatPerMtok, type Market } from '@routstr-kit/core';
import { startOrdersDevnet, type OrdersDevnet, type Price, type TickerNode } from './orders-devnet.ts';

const KEYS = 2_000;
const ANNOUNCEMENTS_PER_KEY = 9; // one more than the per-pubkey cap
const HONEST: Price = { prompt: 200_000_000, completion: 800_000_000 };

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const heapAfterGc = (): number => {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};

/** Every fake provider's URL points here: it answers probes with 404 after a moment and counts how many probes overlap. */
async function startProbeTarget(): Promise<{ url: string; maxConcurrent: () => number; probes: () => number; server: Server }> {
  const inFlight = new Map<string, number>();
  let max = 0;
  let probes = 0;
  const server = createServer((req, res) => {
    // /k<i>d<j>/v1/models and /k<i>d<j>/v1/info belong to one probe of provider k<i>d<j>
    const provider = req.url?.split('/')[1] ?? '';
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

/** Sends every event over a few connections without waiting between them; resolves per OK count. */
function flood(relayUrl: string, events: string[], onOk: (count: number) => void): Promise<number> {
  const lanes = 4;
  let oks = 0;
  return Promise.all(
    Array.from({ length: lanes }, async (_, lane) => {
      const mine = events.filter((_, i) => i % lanes === lane);
      const ws = new WebSocket(relayUrl);
      await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
      let answered = 0;
      const done = new Promise<void>((resolve) => {
        ws.on('message', (data: Buffer) => {
          if (!String(data).startsWith('["OK"')) return;
          answered += 1;
          oks += 1;
          onOk(oks);
          if (answered === mine.length) resolve();
        });
      });
      for (const e of mine) ws.send(e);
      await done;
      ws.close();
    }),
  ).then(() => oks);
}

describe('a flood of fake providers', () => {
  let net: OrdersDevnet;
  let honest: TickerNode;
  let market: Market;
  let target: Awaited<ReturnType<typeof startProbeTarget>>;

  beforeAll(async () => {
    net = await startOrdersDevnet();
    honest = await net.startTicker('honest', HONEST);
    await honest.tick(HONEST);
    market = await net.openMarket();
    target = await startProbeTarget();
  });
  afterAll(async () => {
    market?.close();
    target?.server.closeAllConnections();
    target?.server.close();
    await net?.stop();
  });

  it('market-flood: 20 000 events from 2 000 keys: heap bounded, at most 16 probes at once, a market buy from the honest provider succeeds meanwhile', { timeout: 400_000 }, async () => {
    const { wallet } = await net.newWallet(200);
    const client = createRoutstrClient({ wallet, market, mode: 'xcashu' });
    const signingStarted = performance.now();
    // pre-signed with the wasm signer: the test measures the market, not the signing
    await loadWasmVerifier();
    const now = Math.floor(Date.now() / 1000);
    const cheap = [{ model: net.model, prompt: msatPerMtok(1), completion: msatPerMtok(1) }];
    const reference = buildPriceTick({ d: 'x', url: 'http://x', expiration: now + 600, seq: 1, load: 0, models: cheap, createdAt: now }, generateSecretKey());
    const events: string[] = [];
    for (let k = 0; k < KEYS; k++) {
      const sk = generateSecretKey();
      let pubkey = '';
      for (let d = 0; d < ANNOUNCEMENTS_PER_KEY; d++) {
        const template = announcementTemplate({ d: `d${d}`, urls: [`${target.url}/k${k}d${d}`], mints: [net.devnet.mintUrl], version: '0.4.5', name: 'cheap', about: 'fake', asks: cheap, createdAt: now });
        const event = finalizeEvent(template, sk);
        pubkey = event.pubkey;
        events.push(JSON.stringify(['EVENT', event]));
      }
      const tags = reference.tags.map((t) => (t[0] === 'a' ? ['a', `38421:${pubkey}:d0`] : t[0] === 'u' ? ['u', `${target.url}/k${k}d0`] : t));
      events.push(JSON.stringify(['EVENT', finalizeEvent({ kind: reference.kind, created_at: now, tags, content: '' }, sk)]));
    }
    expect(events).toHaveLength(20_000);
    console.log(`market-flood: signed in ${Math.round(performance.now() - signingStarted)} ms`);

    const heapBefore = heapAfterGc();
    let buying: Promise<unknown> | undefined;
    const published = flood(net.devnet.relayUrl, events, (oks) => {
      // halfway through the flood, buy
      if (oks === events.length / 2) {
        buying = client.chat({ model: net.model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 }).then(
          (result) => ({ result }),
          (error: unknown) => ({ error }),
        );
      }
    });
    expect(await published).toBe(20_000);
    const bought = (await buying) as { result?: Awaited<ReturnType<typeof client.chat>>; error?: unknown };
    expect(bought.error).toBeUndefined();
    expect(bought.result?.receipt.provider.pubkey).toBe(honest.node.pubkey);

    // the relay sends in order: once the honest node's next tick is in the book, the market has read the whole flood
    const quote = await honest.tick(HONEST);
    if (!market.book.asks(net.model).some((a) => a.quoteId === quote)) {
      await new Promise<void>((resolve) => {
        const off = market.onAskChange(() => {
          if (market.book.asks(net.model).some((a) => a.quoteId === quote)) {
            off();
            resolve();
          }
        });
      });
    }
    await market.ready(); // the queued probes ran

    const grown = heapAfterGc() - heapBefore;
    const stats = market.stats.snapshot();
    console.log(`market-flood: heap +${(grown / 2 ** 20).toFixed(1)} MiB, ${target.probes()} probes (max ${target.maxConcurrent()} at once), providers ${market.registry.size}, rejected`, stats.rejected);
    expect(grown).toBeLessThan(50 * 2 ** 20);
    expect(target.probes()).toBeGreaterThan(16);
    expect(target.maxConcurrent()).toBeLessThanOrEqual(16);
    expect(stats.rejected.capacity).toBeGreaterThan(0);
    expect(market.registry.size).toBeLessThanOrEqual(2_000);
    // fakes never passed a probe: none is ever chosen
    expect(market.select({ model: net.model }).providers.map((p) => p.pubkey)).toEqual([honest.node.pubkey]);
    await client.close();
  });
});
