// The rows of `routstr-kit market` over a real market's book: typical-request prices, median,
// spread, and the two sort orders of `--sort`.
import { msatPerMtok, openMarket, type Market } from '@routstr-kit/core';
import { afterEach, expect, it } from 'vitest';
import { modelBook, modelRows } from './market-rows.ts';
import { MarketWatch } from './market-watch.ts';

const markets: Market[] = [];
afterEach(() => {
  for (const m of markets.splice(0)) m.close();
});

function bookWith(asks: Array<[provider: string, model: string, prompt: number, completion: number]>): Market {
  const market = openMarket({ relays: [], tickIntervalMs: 0 });
  markets.push(market);
  // setAsks replaces all of a provider's quotes: one call per provider with all its models
  const byProvider = Map.groupBy(asks, ([provider]) => provider);
  for (const [provider, quotes] of byProvider) {
    market.book.setAsks(`38421:${provider}:d`, 'models', quotes.map(([, model, prompt, completion]) => ({ model, prompt: msatPerMtok(prompt), completion: msatPerMtok(completion) })));
  }
  return market;
}

it('prices a typical request (1 000 prompt + 500 completion tokens) at the best and the median ask, with the spread to the 2nd best', () => {
  // typical: a 1 000 000 + 500 000 = 1 500 000 msat (1 500 sat); b 2 000 000 + 1 000 000 = 3 000 000; c 5 000 001 msat → 5 001 sat
  const market = bookWith([
    ['a', 'm', 1_000_000_000, 1_000_000_000],
    ['b', 'm', 2_000_000_000, 2_000_000_000],
    ['c', 'm', 4_000_000_000, 2_000_002_000],
  ]);
  const [row] = modelRows(market, new MarketWatch(), 'price');
  expect(row).toMatchObject({
    id: 'm',
    bestAsk: { provider: '38421:a:d', promptMsatPerMtok: 1_000_000_000, completionMsatPerMtok: 1_000_000_000, typicalRequestMsat: 1_500_000, typicalRequestSat: 1_500 },
    median: { promptMsatPerMtok: 2_000_000_000, completionMsatPerMtok: 2_000_000_000, typicalRequestMsat: 3_000_000, typicalRequestSat: 3_000 },
    spreadMsat: 1_500_000,
    providers: 3,
    lastTickAt: null,
  });
  expect(modelBook(market, new MarketWatch(), 'm').asks.map((a) => [a.provider, a.typicalRequestSat])).toEqual([
    ['38421:a:d', 1_500],
    ['38421:b:d', 3_000],
    ['38421:c:d', 5_001],
  ]);
});

it('sorts by the best typical request, or by providers (most first), ties by model id', () => {
  const market = bookWith([
    ['a', 'cheap', 1_000, 1_000],
    ['a', 'busy', 5_000, 5_000],
    ['b', 'busy', 6_000, 6_000],
    ['c', 'busy', 7_000, 7_000],
    ['a', 'pair', 3_000, 3_000],
    ['b', 'pair', 3_000, 3_000],
    ['a', 'also-cheap', 1_000, 1_000],
  ]);
  const watch = new MarketWatch();
  expect(modelRows(market, watch, 'price').map((r) => r.id)).toEqual(['also-cheap', 'cheap', 'pair', 'busy']);
  expect(modelRows(market, watch, 'providers').map((r) => r.id)).toEqual(['busy', 'pair', 'also-cheap', 'cheap']);
  expect(modelRows(market, watch, 'price').find((r) => r.id === 'cheap')?.spreadMsat).toBeNull();
});
