import type { Event } from 'nostr-tools';
import { loadWasmVerifier, type NostrEvent } from '@routstr-kit/core';
import { startMarketDataService } from '@routstr-kit/market-data';
import type { Benchmark, Series } from '../harness.ts';
import { announcementOf, recordedProbeFetch, syntheticProviders, tickOf } from './market-fixtures.ts';

/** Fresh copies, so no verdict cached on an event object rides from one pass into the next. */
const copies = (events: readonly Event[]): Event[] => events.map((e) => JSON.parse(JSON.stringify(e)) as Event);

export const marketDataIngest: Benchmark = {
  name: 'market-data-ingest',
  description: 'signed price ticks per second through the market-data aggregator (verify, parse, book, index, store sample) vs bare wasm verify of the same ticks',
  async run(ctx) {
    const verify = await loadWasmVerifier();
    const providers = syntheticProviders(ctx.scale === 'full' ? 100 : 10);
    const perRound = ctx.scale === 'full' ? 500 : 50;
    const rounds = ctx.samples(25, 2);
    // the service as `market serve` runs it, on an in-memory store; events arrive through its market's ingest (relays: none)
    const service = await startMarketDataService({
      relays: [],
      store: ':memory:',
      providerAddresses: 'loopback',
      log: ctx.log,
      market: { tickIntervalMs: 0, probe: { fetch: recordedProbeFetch }, eventRate: { perSecond: 1e9, burst: 1e9 } },
    });
    try {
      for (const p of providers) await service.market.ingestEvent(announcementOf(p, 1_000_000, 2_000_000));
      await service.market.ready();
      let seq = 1;
      const nextTicks = (): Event[] =>
        Array.from({ length: perRound }, (_, i) => {
          seq += 1;
          return tickOf(providers[i % providers.length]!, seq, 500_000 + (seq % 1000), 900_000 + (seq % 1000));
        });
      const verifyRate = (events: readonly Event[]): number => {
        const batch = copies(events);
        const start = performance.now();
        for (const e of batch) if (!verify(e as NostrEvent)) throw new Error('a bench tick does not verify');
        return batch.length / ((performance.now() - start) / 1000);
      };
      // the aggregator's whole path: ingest each tick, then the coalesced index flush and one store sample
      const ingestRate = async (events: readonly Event[]): Promise<number> => {
        const batch = copies(events);
        const start = performance.now();
        for (const e of batch) {
          const outcome = service.market.ingestEventSync(e);
          if (outcome !== 'accepted') throw new Error(`tick not accepted: ${outcome}`);
        }
        await service.recordNow();
        return batch.length / ((performance.now() - start) / 1000);
      };
      // warm-up: JIT, wasm, the book's and the index's maps, the store's statements
      const warm = nextTicks();
      verifyRate(warm);
      await ingestRate(warm);
      const wasm: number[] = [];
      const ingest: number[] = [];
      for (let r = 0; r < rounds; r++) {
        // the same signed ticks for both (each seq is new to the market); the order alternates so drift hits both alike
        const events = nextTicks();
        if (r % 2 === 0) {
          wasm.push(verifyRate(events));
          ingest.push(await ingestRate(events));
        } else {
          ingest.push(await ingestRate(events));
          wasm.push(verifyRate(events));
        }
      }
      ctx.log(`${rounds} rounds × ${perRound} ticks from ${providers.length} providers`);
      const series: Series[] = [
        { name: 'verify-wasm', unit: 'ops/s', samples: wasm, better: 'higher', note: "core's loadWasmVerifier on the same signed ticks" },
        {
          name: 'aggregator-ingest',
          unit: 'ops/s',
          samples: ingest,
          baseline: 'verify-wasm',
          better: 'higher',
          target: { op: '>=', value: 0.9, of: 'ratio', note: '≥ 90 % of the bare wasm verify rate (issue 18)' },
        },
      ];
      return {
        name: this.name,
        description: this.description,
        series,
        notes: ['aggregator-ingest: market.ingestEventSync per tick (shape, signature, rate limit, seq, book, index listeners), then the index flush and one sample into an in-memory sqlite store, per round'],
      };
    } finally {
      await service.close();
    }
  },
};
