import type { Event } from 'nostr-tools';
import { loadWasmVerifier, openMarket, type Market, type NostrEvent } from '@routstr-kit/core';
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
    const marketOptions = { tickIntervalMs: 0, probe: { fetch: recordedProbeFetch }, eventRate: { perSecond: 1e9, burst: 1e9 } };
    const service = await startMarketDataService({ relays: [], store: ':memory:', providerAddresses: 'loopback', log: ctx.log, market: marketOptions });
    // core's market alone on the same ticks: what the aggregator adds over the client's own ingest
    const core: Market = openMarket({ relays: [], allowProviderAddresses: 'loopback', ...marketOptions });
    try {
      for (const p of providers) {
        await service.market.ingestEvent(announcementOf(p, 1_000_000, 2_000_000));
        await core.ingestEvent(announcementOf(p, 1_000_000, 2_000_000));
      }
      await service.market.ready();
      await core.ready();
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
      const coreRate = (events: readonly Event[]): number => {
        const batch = copies(events);
        const start = performance.now();
        for (const e of batch) {
          const outcome = core.ingestEventSync(e);
          if (outcome !== 'accepted') throw new Error(`tick not accepted by core: ${outcome}`);
        }
        return batch.length / ((performance.now() - start) / 1000);
      };
      // warm-up: JIT, wasm, the book's and the index's maps, the store's statements
      const warm = nextTicks();
      verifyRate(warm);
      coreRate(warm);
      await ingestRate(warm);
      const wasm: number[] = [];
      const coreIngest: number[] = [];
      const ingest: number[] = [];
      for (let r = 0; r < rounds; r++) {
        // the same signed ticks for all three (each seq is new to each market); the order rotates so drift hits all alike
        const events = nextTicks();
        const passes = [() => void wasm.push(verifyRate(events)), () => void coreIngest.push(coreRate(events)), async () => void ingest.push(await ingestRate(events))];
        for (let i = 0; i < passes.length; i++) await passes[(r + i) % passes.length]!();
      }
      ctx.log(`${rounds} rounds × ${perRound} ticks from ${providers.length} providers`);
      const series: Series[] = [
        { name: 'verify-wasm', unit: 'ops/s', samples: wasm, better: 'higher', note: "core's loadWasmVerifier on the same signed ticks" },
        { name: 'core-market-ingest', unit: 'ops/s', samples: coreIngest, baseline: 'verify-wasm', better: 'higher', note: "core's openMarket alone (no index, no store) on the same ticks" },
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
      core.close();
      await service.close();
    }
  },
};
