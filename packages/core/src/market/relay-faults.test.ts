import { generateSecretKey } from 'nostr-tools/pure';
import { afterEach, describe, expect, it } from 'vitest';
import { startFaultyRelay, startRelay } from '@routstr-kit/devnet/relay';
import { msatPerMtok } from '../money/index.ts';
import { buildAnnouncement } from '../protocol/index.ts';
import { publish } from './market-test-events.ts';
import { openMarket, type Market } from './open-market.ts';
import { infoBody, modelsBody, startRecordedProvider } from './recorded-provider.ts';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const MODEL = 'relay-fault-model';

/** Resolves when the market's ask for MODEL has this prompt price (msat/Mtok). */
function askAt(market: Market, prompt: number): Promise<void> {
  return new Promise((resolve) => {
    const check = () => market.book.asks(MODEL).some((a) => a.prompt === prompt);
    if (check()) return resolve();
    const off = market.onAskChange(() => {
      if (check()) {
        off();
        resolve();
      }
    });
  });
}

describe('openMarket under relay faults', () => {
  it('market-relay-faults: a stalled handshake, a drop, a restart and garbage frames never crash the market; it reconnects and sees new events', async () => {
    const relay = await startRelay();
    cleanups.push(() => relay.stop());
    const proxy = await startFaultyRelay(relay.url);
    cleanups.push(() => proxy.stop());
    const node = await startRecordedProvider({ '/v1/models': modelsBody([{ prompt: 0.001, completion: 0.002 }]), '/v1/info': infoBody() });
    cleanups.push(() => node.stop());
    const sk = generateSecretKey();
    const start = Math.floor(Date.now() / 1000);
    // each step announces a new price for MODEL (an announcement is stored, so it arrives whether live or on re-REQ)
    const announce = (step: number, prompt: number) =>
      publish(relay.url, [
        buildAnnouncement(
          {
            d: 'node',
            urls: [node.url],
            mints: ['https://mint.minibits.cash/Bitcoin'],
            version: '0.4.5',
            name: 'FaultNode',
            about: 'behind a faulty relay',
            asks: [{ model: MODEL, prompt: msatPerMtok(prompt), completion: msatPerMtok(prompt) }],
            createdAt: start + step,
          },
          sk,
        ),
      ]);

    proxy.setFault('stall');
    const market = openMarket({
      relays: [proxy.url],
      tickIntervalMs: 0,
      connectTimeoutMs: 200,
      eoseTimeoutMs: 500,
      reconnect: { minMs: 10, maxMs: 50 },
      probe: { retries: 0 },
      allowProviderAddresses: 'loopback',
    });
    cleanups.push(() => market.close());

    // the stalled handshake times out and is retried (before the fix: an uncaught ws error)
    await proxy.waitForConnections('stall', 3);
    await market.ready();
    proxy.setFault('pass');
    await announce(1, 1_000);
    await askAt(market, msatPerMtok(1_000));

    // dropped connection
    proxy.drop();
    await announce(2, 2_000);
    await askAt(market, msatPerMtok(2_000));

    // relay restart: the port goes away and comes back
    await proxy.restart();
    await announce(3, 3_000);
    await askAt(market, msatPerMtok(3_000));

    // garbage frames after a good handshake close the connection; the market keeps retrying
    proxy.setFault('garbage');
    proxy.drop();
    await proxy.waitForConnections('garbage', 2);
    proxy.setFault('pass');
    await announce(4, 4_000);
    await askAt(market, msatPerMtok(4_000));

    expect(market.closed).toBe(false);
    expect(proxy.connections().pass).toBeGreaterThanOrEqual(4);
  });
});
