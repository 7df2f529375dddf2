import { describe, expect, it } from 'vitest';
import { msat, msatPerMtok } from '../money/index.ts';
import { ManualClock } from './clock.ts';
import { CooldownTracker, cooldownScope } from './cooldown.ts';
import type { PricedAsk } from './order-book.ts';
import { seededRandom } from './seeded-random.ts';
import { selectProviders, type SelectionCandidate } from './selection.ts';

function candidate(provider: string, price: number, extra: Partial<SelectionCandidate> = {}): SelectionCandidate {
  const ask: PricedAsk = {
    provider,
    model: 'm',
    providerModelId: 'm',
    prompt: msatPerMtok(price),
    completion: msatPerMtok(0),
    source: 'models',
    expiresAt: undefined,
    since: 0,
    quoteId: undefined,
    seq: undefined,
    priceMsat: msat(price),
  };
  return {
    provider,
    ask,
    pubkey: `pk-${provider}`,
    host: `${provider}.example`,
    mints: ['https://mint.a'],
    latencyMs: undefined,
    successRate: 0.5,
    sentiment: 'neutral',
    coolingDown: false,
    healthy: true,
    ...extra,
  };
}

const ids = (s: { providers: { provider: string }[] }) => s.providers.map((p) => p.provider);

describe('selectProviders hard filters', () => {
  const all = [
    candidate('ok', 100),
    candidate('sick', 50, { healthy: false }),
    candidate('cool', 50, { coolingDown: true }),
    candidate('excluded', 50),
    candidate('dear', 1_000),
    candidate('othermint', 50, { mints: ['https://mint.b/'] }),
    candidate('anymint', 120, { mints: [] }),
    candidate('flagged', 50, { sentiment: 'negative' }),
  ];

  it('drops each candidate for its own reason and keeps the rest', () => {
    const s = selectProviders(all, { model: 'm', maxPriceMsat: 500, mints: ['https://mint.a/'], exclude: ['excluded'], profile: 'cheapest', topN: 1 });
    expect(ids(s)).toEqual(['ok', 'anymint']);
    expect(Object.fromEntries(s.rejected.map((r) => [r.provider, r.reason]))).toEqual({
      sick: 'unhealthy',
      cool: 'cooling-down',
      excluded: 'excluded',
      dear: 'price',
      othermint: 'mint',
      flagged: 'distrusted',
    });
  });

  it('excludes by pubkey and host too, and applies no mint filter when the wallet is not given', () => {
    const s = selectProviders(all, { model: 'm', exclude: ['pk-ok', 'anymint.example'], profile: 'cheapest', topN: 1 });
    expect(ids(s)).toEqual(['excluded', 'othermint', 'dear']);
  });

  it('returns an empty list when nothing passes', () => {
    expect(selectProviders(all, { model: 'm', maxPriceMsat: 10 }).providers).toEqual([]);
  });
});

describe('selectProviders profiles', () => {
  const market = [
    candidate('cheap-slow', 100, { latencyMs: 2_000, successRate: 0.6 }),
    candidate('dear-fast', 400, { latencyMs: 100, successRate: 0.95 }),
    candidate('mid', 150, { latencyMs: 200, successRate: 0.9 }),
    candidate('reviewed', 300, { latencyMs: 800, successRate: 0.8, sentiment: 'positive' }),
  ];
  const first = (profile: 'cheapest' | 'fastest' | 'balanced' | 'trusted') => ids(selectProviders(market, { model: 'm', profile, topN: 1 }))[0];

  it('cheapest, fastest, balanced and trusted each lead with their own pick', () => {
    expect(first('cheapest')).toBe('cheap-slow');
    expect(first('fastest')).toBe('dear-fast');
    expect(first('balanced')).toBe('mid');
    expect(first('trusted')).toBe('reviewed');
  });

  it('weights override the profile', () => {
    const s = selectProviders(market, { model: 'm', profile: 'fastest', weights: { latency: 0, reliability: 0, price: 1 }, topN: 1 });
    expect(ids(s)[0]).toBe('cheap-slow');
  });

  it('draws among the top N reproducibly from a seed, and spreads the draws', () => {
    const run = (seed: number) => ids(selectProviders(market, { model: 'm', profile: 'cheapest', topN: 3, seed }))[0];
    const picks = Array.from({ length: 40 }, (_, i) => run(i));
    expect(Array.from({ length: 40 }, (_, i) => run(i))).toEqual(picks);
    expect(new Set(picks)).toEqual(new Set(['cheap-slow', 'mid', 'reviewed']));
    // weighted by score: the cheapest is drawn most often
    const count = (p: string) => picks.filter((x) => x === p).length;
    expect(count('cheap-slow')).toBeGreaterThan(count('reviewed'));
    // the same random source gives the same draw
    expect(ids(selectProviders(market, { model: 'm', profile: 'cheapest', random: seededRandom(7) }))).toEqual(
      ids(selectProviders(market, { model: 'm', profile: 'cheapest', seed: 7 })),
    );
  });
});

describe('failover order', () => {
  it('puts other hosts and pubkeys first, then the rest by rank', () => {
    const list = [
      candidate('a1', 100, { host: 'a.example', pubkey: 'pk-a' }),
      candidate('a2', 110, { host: 'a.example', pubkey: 'pk-a2' }),
      candidate('a3', 115, { host: 'c.example', pubkey: 'pk-a' }),
      candidate('b1', 120, { host: 'b.example', pubkey: 'pk-b' }),
      candidate('d1', 130, { host: 'd.example', pubkey: 'pk-d' }),
    ];
    const s = selectProviders(list, { model: 'm', profile: 'cheapest', topN: 1 });
    expect(ids(s)).toEqual(['a1', 'b1', 'd1', 'a2', 'a3']);
  });
});

describe('CooldownTracker', () => {
  it('cools a scope down for 210 s after two failures within 210 s (routstr SDK)', () => {
    const clock = new ManualClock();
    const cd = new CooldownTracker({ clock });
    expect(cd.recordFailure('p')).toBe(false);
    clock.advance(209_999);
    expect(cd.recordFailure('p')).toBe(true);
    expect(cd.isCoolingDown('p')).toBe(true);
    expect(cd.isCoolingDown('p', 'm')).toBe(true);
    clock.advance(209_999);
    expect(cd.isCoolingDown('p')).toBe(true);
    clock.advance(1);
    expect(cd.isCoolingDown('p')).toBe(false);
  });

  it('does not cool down when the failures are further apart than the window, and scopes models', () => {
    const clock = new ManualClock();
    const cd = new CooldownTracker({ clock });
    cd.recordFailure('p');
    clock.advance(210_000);
    expect(cd.recordFailure('p')).toBe(false);
    cd.recordFailure(cooldownScope('q', 'm'));
    cd.recordFailure(cooldownScope('q', 'm'));
    expect(cd.isCoolingDown('q', 'm')).toBe(true);
    expect(cd.isCoolingDown('q', 'other')).toBe(false);
    expect(cd.isCoolingDown('q')).toBe(false);
  });
});
