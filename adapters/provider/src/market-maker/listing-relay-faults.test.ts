import { afterAll, describe, expect, it } from 'vitest';
import { generateSecretKey, getPublicKey } from 'nostr-tools';
import { msatPerMtok } from '@routstr-kit/core';
import { startFaultyRelay, startRelay } from '@routstr-kit/devnet';
import { startMarketMaker, type MarketMaker } from './index.ts';
import { RelayTape, testPool } from './relay-tape.ts';

const PRICES = [{ model: 'tiny-llama', prompt: msatPerMtok(1_000), completion: msatPerMtok(4_000) }];

describe('market maker listing under relay faults', () => {
  const cleanups: (() => unknown)[] = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  /** Publishes ticks until one reaches the relay (a publish on a connection the relay just cut fails once). */
  async function tickThrough(maker: MarketMaker, tape: RelayTape): Promise<void> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const tick = await maker.publishTick();
      if (maker.state().nostr?.lastPublish?.accepted.length === 1) {
        await tape.next((e) => e.id === tick?.id);
        return;
      }
    }
    throw new Error(`no tick got through: ${JSON.stringify(maker.state().nostr?.lastPublish)}`);
  }

  it('listing-relay-faults: a stalled handshake, a drop, a restart and garbage frames never crash the provider; ticks and the announcement get through after', async () => {
    const relay = await startRelay();
    cleanups.push(() => relay.stop());
    const proxy = await startFaultyRelay(relay.url);
    cleanups.push(() => proxy.stop());
    const pool = testPool();
    cleanups.push(() => pool.destroy());
    const sk = generateSecretKey();
    const tape = await RelayTape.open(pool, relay.url, { kinds: [38421, 28421], authors: [getPublicKey(sk)] });
    cleanups.push(() => tape.close());
    const logs: string[] = [];

    // the relay stalls every handshake while the node starts: it starts anyway (before the fix: an uncaught ws error)
    proxy.setFault('stall');
    const maker = await startMarketMaker({
      board: { mode: 'fixed', prices: PRICES },
      models: ['tiny-llama'],
      load: { capacity: 4, inFlight: 0, queued: 0, rejectedRecently: () => 0 },
      log: (m) => logs.push(m),
      tick: { intervalMs: 0, heartbeatS: 0 },
      nostr: { relays: [proxy.url], secretKey: sk, urls: ['http://127.0.0.1:8000'], mints: ['http://127.0.0.1:3338'], version: '0.4.5', name: 'Kit', about: 'faults', maxWaitMs: 300 },
    });
    cleanups.push(() => maker.stop());
    expect(proxy.connections().stall).toBeGreaterThanOrEqual(1);
    expect(logs.some((l) => l.includes('reached no relay'))).toBe(true);

    // the relay answers again: the next tick goes out and the announcement it missed follows
    proxy.setFault('pass');
    await tickThrough(maker, tape);
    await tape.next((e) => e.kind === 38421 && e.id === maker.announcement()?.id);

    proxy.drop();
    await tickThrough(maker, tape);

    await proxy.restart();
    await tickThrough(maker, tape);

    proxy.setFault('garbage');
    proxy.drop();
    // the first tick may still go to the connection being cut; the next one dials into the garbage
    while (proxy.connections().garbage === 0) await maker.publishTick();
    expect(maker.state().nostr?.lastPublish?.accepted).toEqual([]);
    proxy.setFault('pass');
    await tickThrough(maker, tape);
  });
});
