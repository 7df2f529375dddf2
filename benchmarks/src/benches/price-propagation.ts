import WebSocket from 'ws';
import { SimplePool, useWebSocketImplementation } from 'nostr-tools/pool';
import { openMarket } from '@routstr-kit/core';
import { startRelay } from '@routstr-kit/devnet';
import type { Benchmark } from '../harness.ts';
import { percentile } from '../stats.ts';
import { announcementOf, recordedProbeFetch, RECORDED_MODEL, syntheticProviders, tickOf } from './market-fixtures.ts';

useWebSocketImplementation(WebSocket);

/** routstr-core re-prices every 120 s and clients poll `/v1/models`: a change waits for the next poll. */
const POLL_INTERVAL_MS = 120_000;

/** One provider ticks as fast as the relay answers: the per-pubkey rate limit would measure itself. */
const UNLIMITED = { perSecond: 1e9, burst: 1e9 };

export const pricePropagation: Benchmark = {
  name: 'price-propagation',
  description: 'provider publishes a new price (28421 tick) → best-ask change in a subscribed market, over the devnet relay',
  async run(ctx) {
    const relay = await startRelay();
    const pool = new SimplePool();
    const market = openMarket({ relays: [relay.url], probe: { fetch: recordedProbeFetch }, tickIntervalMs: 0, allowProviderAddresses: 'loopback', eventRate: UNLIMITED, websocketImplementation: WebSocket });
    try {
      const [provider] = syntheticProviders(1);
      await Promise.all(pool.publish([relay.url], announcementOf(provider!, 2_000_000, 4_000_000)));
      await market.ready();
      await new Promise<void>((resolve) => {
        const off = market.onAskChange((change) => {
          if (change.current) {
            off();
            resolve();
          }
        });
        if (market.bestAsk(RECORDED_MODEL)) {
          off();
          resolve();
        }
      });

      const samples: number[] = [];
      const total = ctx.samples(200, 10) + 10;
      for (let i = 1; i <= total; i++) {
        // Alternate between two prices below the announcement so every tick moves the best ask.
        const price = i % 2 === 0 ? 1_000_000 : 1_100_000;
        const tick = tickOf(provider!, i, price, price);
        const moved = new Promise<number>((resolve) => {
          const off = market.onBestAskChange((change) => {
            if (change.current?.prompt === price) {
              off();
              resolve(performance.now());
            }
          });
        });
        const sentAt = performance.now();
        await Promise.all([...pool.publish([relay.url], tick), moved.then((at) => (i > 10 ? samples.push(at - sentAt) : 0))]);
      }
      // The baseline is modelled, not waited for: with polling every 120 s at a random phase, a change
      // waits uniform(0, 120 s) for the next poll. Samples are spread evenly over that interval.
      const polled = samples.map((_, i) => ((i + 0.5) / samples.length) * POLL_INTERVAL_MS);
      ctx.log(`${samples.length} ticks; polling baseline modelled at ${POLL_INTERVAL_MS / 1000} s`);
      return {
        name: this.name,
        description: this.description,
        series: [
          { name: 'poll-models-120s', unit: 'ms', samples: polled, better: 'lower', note: 'modelled: uniform wait for the next 120 s poll' },
          {
            name: 'tick-to-best-ask',
            unit: 'ms',
            samples,
            baseline: 'poll-models-120s',
            better: 'lower',
            target: { op: '<=', value: 5, of: 'median', note: 'p50 ≤ 5 ms on loopback' },
          },
        ],
        notes: [`p99 of tick-to-best-ask: ${percentile([...samples].sort((a, b) => a - b), 99).toFixed(2)} ms`],
      };
    } finally {
      market.close();
      pool.destroy();
      await relay.stop();
    }
  },
};
