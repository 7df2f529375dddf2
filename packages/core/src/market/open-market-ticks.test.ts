// Market.onTick: listeners see the ticks the book accepted (with their load), never an orphan or a stale seq.
import { generateSecretKey } from 'nostr-tools/pure';
import { expect, it } from 'vitest';
import type { PriceTick } from '../protocol/index.ts';
import { address, announce, tick } from './market-test-events.ts';
import { openMarket } from './open-market.ts';

it('onTick hands on accepted ticks with their load; orphans and stale sequence numbers are not passed on', async () => {
  const sk = generateSecretKey();
  const market = openMarket({ relays: [], tickIntervalMs: 0, allowProviderAddresses: 'any' });
  try {
    const seen: PriceTick[] = [];
    const off = market.onTick((t) => seen.push(t));
    expect(await market.ingestEvent(tick(sk, 'http://127.0.0.1:9/', 1, 1, 1))).toBe('orphan');
    market.ingestEventSync(announce(sk, 'http://127.0.0.1:9/'));
    expect(market.ingestEventSync(tick(sk, 'http://127.0.0.1:9/', 5, 10, 20))).toBe('accepted');
    expect(market.ingestEventSync(tick(sk, 'http://127.0.0.1:9/', 4, 1, 1))).toBe('stale-seq');
    expect(seen.map((t) => [t.address, t.seq, t.load])).toEqual([[address(sk), 5, 0.5]]);
    off();
    market.ingestEventSync(tick(sk, 'http://127.0.0.1:9/', 6, 10, 20));
    expect(seen).toHaveLength(1);
  } finally {
    market.close();
  }
});
