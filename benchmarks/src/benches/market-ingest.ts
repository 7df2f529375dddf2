import { verifyEvent as verifyPure, type Event } from 'nostr-tools';
import { initNostrWasm } from 'nostr-wasm';
import { setNostrWasm, verifyEvent as verifyWasm } from 'nostr-tools/wasm';
import { openMarket } from '@routstr-kit/core';
import type { Benchmark, Series } from '../harness.ts';
import { announcementOf, recordedProbeFetch, syntheticProviders, tickOf } from './market-fixtures.ts';

/** Events handled per second by `handle` over fresh copies of `events` (no cached verdicts). */
function rate(events: readonly Event[], handle: (e: Event) => unknown): number {
  const copies = events.map((e) => JSON.parse(JSON.stringify(e)) as Event);
  const start = performance.now();
  for (const e of copies) handle(e);
  return copies.length / ((performance.now() - start) / 1000);
}

export const marketIngest: Benchmark = {
  name: 'market-ingest',
  description: 'signed price ticks per second through the market (verify, parse, book) vs bare verifyEvent on the same events',
  async run(ctx) {
    setNostrWasm(await initNostrWasm());
    const providers = syntheticProviders(ctx.scale === 'full' ? 100 : 10);
    const perRound = ctx.scale === 'full' ? 2000 : 50;
    const rounds = ctx.samples(7, 2);
    const market = openMarket({ relays: [], tickIntervalMs: 0, probe: { fetch: recordedProbeFetch }, allowProviderAddresses: 'loopback', eventRate: { perSecond: 1e9, burst: 1e9 } });
    for (const p of providers) await market.ingestEvent(announcementOf(p, 1_000_000, 2_000_000));
    await market.ready();

    let seq = 1;
    const nextTicks = (): Event[] =>
      Array.from({ length: perRound }, (_, i) => {
        seq += 1;
        return tickOf(providers[i % providers.length]!, seq, 500_000 + (seq % 1000), 900_000 + (seq % 1000));
      });
    const pure: number[] = [];
    const wasm: number[] = [];
    const ingest: number[] = [];
    // Warm-up: JIT, wasm, the book's maps.
    const warm = nextTicks().slice(0, 100);
    rate(warm, verifyPure);
    rate(warm, verifyWasm);
    rate(nextTicks().slice(0, 100), (e) => market.ingestEventSync(e));
    for (let r = 0; r < rounds; r++) {
      const events = nextTicks();
      pure.push(rate(events, verifyPure));
      wasm.push(rate(events, verifyWasm));
      // Fresh seqs for the market: a replayed seq would be refused as stale and skew the figure.
      ingest.push(rate(nextTicks(), (e) => {
        const outcome = market.ingestEventSync(e);
        if (outcome !== 'accepted') throw new Error(`tick not accepted: ${outcome}`);
      }));
    }
    market.close();
    ctx.log(`${rounds} rounds × ${perRound} ticks from ${providers.length} providers`);
    const series: Series[] = [
      { name: 'verify-pure', unit: 'ops/s', samples: pure, better: 'higher' },
      { name: 'verify-wasm', unit: 'ops/s', samples: wasm, baseline: 'verify-pure', better: 'higher' },
      {
        name: 'market-ingest',
        unit: 'ops/s',
        samples: ingest,
        baseline: 'verify-wasm',
        better: 'higher',
        target: { op: '>=', value: 0.9, of: 'ratio', note: '≥ 90 % of the bare (wasm) verify rate' },
      },
    ];
    return { name: this.name, description: this.description, series };
  },
};
