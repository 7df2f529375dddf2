// The price index store, the same cases against node:sqlite and a real PostgreSQL cluster.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openMarketStore, type MarketStore } from '../src/index.ts';
import { startPostgresCluster, type PostgresCluster } from '@routstr-kit/devnet/postgres';

const DAY = 86_400_000;
const base = Math.floor(1_733_090_000_000 / DAY) * DAY;
const rows = [
  { model: 'm', at: base, bestMsat: 100, medianMsat: 200, asks: 3 },
  { model: 'm', at: base + 1_000, bestMsat: 120, medianMsat: 190, asks: 3 },
  { model: 'm', at: base + 2_000, bestMsat: 90, medianMsat: 210, asks: 2 },
  { model: 'm', at: base + 61_000, bestMsat: 130, medianMsat: 220, asks: 2 },
  // the model left the market: no candle
  { model: 'm', at: base + 62_000, bestMsat: undefined, medianMsat: undefined, asks: 0 },
  { model: 'other', at: base + 1_000, bestMsat: 5, medianMsat: 5, asks: 1 },
];

let cluster: PostgresCluster;
const dirs: string[] = [];
beforeAll(async () => {
  cluster = await startPostgresCluster();
});
afterAll(async () => {
  await cluster?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const backends: { name: string; location: (test: string) => Promise<string> }[] = [
  {
    name: 'sqlite',
    location: async () => {
      const dir = mkdtempSync(join(tmpdir(), 'market-store-'));
      dirs.push(dir);
      return join(dir, 'market.db');
    },
  },
  { name: 'postgres', location: (test) => cluster.newDatabase(`store_${test}`) },
];

describe.each(backends)('the price index store on $name', ({ name, location }) => {
  async function filled(test: string): Promise<{ store: MarketStore; where: string }> {
    const where = await location(test);
    const store = await openMarketStore(where);
    expect(store.kind).toBe(name);
    await store.recordIndex(rows);
    return { store, where };
  }

  it('computes OHLC of the best ask and the median per bucket, for 1 s, 1 min and 1 d', async () => {
    const { store } = await filled('ohlc');
    const seconds = await store.candles('m', base, base + DAY, 1_000);
    expect(seconds.bestAsk).toEqual([
      { t: base, o: 100, h: 100, l: 100, c: 100 },
      { t: base + 1_000, o: 120, h: 120, l: 120, c: 120 },
      { t: base + 2_000, o: 90, h: 90, l: 90, c: 90 },
      { t: base + 61_000, o: 130, h: 130, l: 130, c: 130 },
    ]);
    const minutes = await store.candles('m', base, base + DAY, 60_000);
    expect(minutes.bestAsk).toEqual([
      { t: base, o: 100, h: 120, l: 90, c: 90 },
      { t: base + 60_000, o: 130, h: 130, l: 130, c: 130 },
    ]);
    expect(minutes.median).toEqual([
      { t: base, o: 200, h: 210, l: 190, c: 210 },
      { t: base + 60_000, o: 220, h: 220, l: 220, c: 220 },
    ]);
    const days = await store.candles('m', base - DAY, base + DAY, DAY);
    expect(days.bestAsk).toEqual([{ t: base, o: 100, h: 130, l: 90, c: 130 }]);
    // [from, to): the row at `to` is outside, the one at `from` inside
    expect((await store.candles('m', base + 1_000, base + 61_000, 1_000)).bestAsk.map((c) => c.t)).toEqual([base + 1_000, base + 2_000]);
    expect((await store.candles('nobody', base, base + DAY, 1_000)).bestAsk).toEqual([]);
    await store.close();
  });

  it('replaces a row of the same model and second, and answers the best ask at a past time', async () => {
    const { store } = await filled('upsert');
    await store.recordIndex([{ model: 'm', at: base + 1_000, bestMsat: 80, medianMsat: 180, asks: 4 }]);
    expect((await store.candles('m', base, base + 60_000, 60_000)).bestAsk).toEqual([{ t: base, o: 100, h: 100, l: 80, c: 90 }]);
    expect(await store.bestAskAt('m', base + 1_500)).toBe(80);
    // the row where the model left has no price: the last price before it counts
    expect(await store.bestAskAt('m', base + 70_000)).toBe(130);
    expect(await store.bestAskAt('m', base - 1)).toBeUndefined();
    expect(await store.hasModel('other')).toBe(true);
    expect(await store.hasModel('nobody')).toBe(false);
    expect(await store.prune(base + 2_000)).toBe(3);
    expect((await store.candles('m', 0, base + DAY, DAY)).bestAsk).toEqual([{ t: base, o: 90, h: 130, l: 90, c: 130 }]);
    await store.close();
  });

  it('keeps the history across a restart', async () => {
    const { store, where } = await filled('restart');
    await store.close();
    const reopened = await openMarketStore(where);
    expect((await reopened.candles('m', base, base + DAY, 60_000)).bestAsk).toHaveLength(2);
    expect((await reopened.candles('other', base, base + DAY, 60_000)).bestAsk).toEqual([{ t: base, o: 5, h: 5, l: 5, c: 5 }]);
    await reopened.close();
  });
});
