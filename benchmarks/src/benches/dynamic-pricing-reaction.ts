import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { SimplePool, useWebSocketImplementation } from 'nostr-tools/pool';
import { parsePriceTick, type PriceTick } from '@routstr-kit/core';
import { startRelay, type RunningRelay } from '@routstr-kit/devnet';
import { startProvider, type MarketMaker, type RunningProvider } from '@routstr-kit/provider';
import type { Benchmark } from '../harness.ts';
import { spawnDevnet, type DevnetProcess } from './devnet-process.ts';

useWebSocketImplementation(WebSocket);

/** routstr-core refreshes BTC/USD (and so its sats prices) every 120 s; load never enters its price. */
const REPRICE_INTERVAL_MS = 120_000;
/** The market maker's load sampling interval when `tick.intervalMs` is not set (startMarketMaker's default). */
const DEFAULT_SAMPLING_MS = 1000;
const ENGINE_SLOTS = 2;
/** The load step: three times the engine's slots, so requests queue and utilisation jumps to 3. */
const LOAD_STEP = 3 * ENGINE_SLOTS;

/** Resolves when `ready()` holds, checking it every `everyMs` (the market maker has no per-sample event). */
async function until(ready: () => boolean, everyMs: number, what: string, limitMs = 60_000): Promise<void> {
  const start = performance.now();
  while (!ready()) {
    if (performance.now() - start > limitMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export const dynamicPricingReaction: Benchmark = {
  name: 'dynamic-pricing-reaction',
  description: 'engine load step (vLLM, 3× its slots) → first tick with a higher price on the relay, node in dynamic mode at the default sampling interval',
  async run(ctx) {
    const cycles = ctx.samples(15, 2);
    const dirs: string[] = [];
    const loads: AbortController[] = [];
    let devnet: DevnetProcess | undefined;
    let relay: RunningRelay | undefined;
    let provider: RunningProvider | undefined;
    const pool = new SimplePool();
    try {
      [devnet, relay] = await Promise.all([spawnDevnet({ flavour: 'vllm', maxConcurrency: ENGINE_SLOTS }), startRelay()]);
      const engineUrl = devnet.engineUrl;
      const model = devnet.model;
      const dataDir = mkdtempSync(join(tmpdir(), 'bench-reaction-'));
      dirs.push(dataDir);
      provider = await startProvider({
        engine: 'vllm', upstream: engineUrl, mints: [devnet.proxyUrl], relays: [relay.url], dataDir, contextLength: devnet.contextSize,
        maxConcurrency: ENGINE_SLOTS,
        // The cost basis of the market-maker test: 300 W × 1.2 ÷ 20 tok/s at 100 000 msat/kWh = a 500 000 msat/Mtok floor.
        pricing: { mode: 'dynamic', powerWatts: 300, pue: 1.2, electricityMsatPerKwh: 100_000, tokensPerSecond: 20, measureThroughput: false, margin: 100_000 },
        log: () => {},
      });
      const maker = provider.marketMaker as MarketMaker;
      const pricing = (): NonNullable<ReturnType<MarketMaker['state']>['pricing']>[string] => maker.state().pricing![model]!;
      const floor = pricing().low;

      // Every tick the node publishes, as the relay delivers it, with its arrival time.
      const waiters: { match: (t: PriceTick) => boolean; resolve: (at: { tick: PriceTick; at: number }) => void }[] = [];
      await new Promise<void>((resolve) => {
        pool.subscribe([relay!.url], { kinds: [28421], authors: [provider!.pubkey] }, {
          onevent: (event) => {
            const at = performance.now();
            const tick = parsePriceTick(event);
            for (const w of [...waiters]) {
              if (w.match(tick)) {
                waiters.splice(waiters.indexOf(w), 1);
                w.resolve({ tick, at });
              }
            }
          },
          oneose: () => resolve(),
        });
      });
      const nextTick = (match: (t: PriceTick) => boolean): Promise<{ tick: PriceTick; at: number }> => new Promise((resolve) => waiters.push({ match, resolve }));
      const completionOf = (t: PriceTick): number => t.models.find((m) => m.model === model)?.completion ?? 0;

      const generate = (): void => {
        const controller = new AbortController();
        loads.push(controller);
        fetch(`${engineUrl}/v1/chat/completions`, {
          method: 'POST', headers: { 'content-type': 'application/json' }, signal: controller.signal,
          body: JSON.stringify({ model, messages: [{ role: 'user', content: 'count' }], max_tokens: 1500 }),
        }).then((r) => r.text()).catch(() => undefined);
      };
      const idle = (): boolean => {
        const s = maker.state();
        const p = s.pricing![model]!;
        return p.completion === floor && p.smoothedUtilisation < 0.3 && (s.reading?.vllm?.running ?? 0) === 0 && (s.reading?.vllm?.waiting ?? 0) === 0;
      };

      const reaction: number[] = [];
      const steps: number[] = [];
      for (let i = 0; i < cycles; i++) {
        await until(idle, 50, 'the price to settle at the floor');
        // Idle is seen right after a sample; a random phase keeps the step from locking onto the sampler's clock.
        // Spread evenly over the interval (golden-ratio steps) so few samples still cover it.
        await new Promise((r) => setTimeout(r, ((i * 0.618034) % 1) * DEFAULT_SAMPLING_MS));
        const before = maker.current().get(model)!.completion;
        const raised = nextTick((t) => completionOf(t) > before);
        const start = performance.now();
        for (let k = 0; k < LOAD_STEP; k++) generate();
        const { tick, at } = await raised;
        reaction.push(at - start);
        steps.push(completionOf(tick) / before - 1);
        for (const c of loads.splice(0)) c.abort();
      }
      // Modelled baseline: the next routstr-core re-pricing comes uniform(0, 120 s) later, and even then
      // its price does not move for load. Samples are spread evenly over the interval.
      const reprice = reaction.map((_, i) => ((i + 0.5) / reaction.length) * REPRICE_INTERVAL_MS);
      const meanStep = steps.reduce((a, b) => a + b, 0) / steps.length;
      ctx.log(`${cycles} load steps of ${LOAD_STEP} requests on ${ENGINE_SLOTS} slots; sampling every ${DEFAULT_SAMPLING_MS} ms (default)`);
      return {
        name: this.name,
        description: this.description,
        series: [
          {
            name: 'routstr-core-reprice-120s', unit: 'ms', samples: reprice, better: 'lower',
            note: 'modelled: uniform wait for the next 120 s BTC/USD re-pricing, which does not follow load at all',
          },
          {
            name: 'load-step-to-tick', unit: 'ms', samples: reaction, baseline: 'routstr-core-reprice-120s', better: 'lower',
            note: `load step sent → 28421 tick with a higher completion price received over the devnet relay; sampling interval ${DEFAULT_SAMPLING_MS} ms (default)`,
          },
        ],
        notes: [
          `the market maker samples load every ${DEFAULT_SAMPLING_MS} ms (the product default, tick.intervalMs unset); a step waits uniform(0, ${DEFAULT_SAMPLING_MS} ms) for the next sample, plus reading vLLM /metrics, pricing, signing and publishing`,
          `load: ${LOAD_STEP} long generations straight at the vLLM-flavoured engine (${ENGINE_SLOTS} slots), seen by the node through vLLM /metrics; default EWMA α 0.3, hysteresis 5 %, max step 10 %`,
          `first price move per step: +${(meanStep * 100).toFixed(1)} % on average (floor ${floor} msat/Mtok)`,
          'routstr-core never re-prices for load: the baseline is the earliest its price can change at all, not a reaction',
        ],
      };
    } finally {
      for (const c of loads.splice(0)) c.abort();
      await provider?.stop();
      pool.destroy();
      await relay?.stop();
      await devnet?.stop();
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    }
  },
};
