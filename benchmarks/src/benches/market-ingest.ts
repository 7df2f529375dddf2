import { finalizeEvent, generateSecretKey, verifyEvent as verifyPure, type Event } from 'nostr-tools';
import { initNostrWasm } from 'nostr-wasm';
import { setNostrWasm, verifyEvent as verifyWasm } from 'nostr-tools/wasm';
import { buildPriceTick, msatPerMtok } from '@routstr-kit/core';
import type { Benchmark, Series } from '../harness.ts';

/** Fresh signed 28421 ticks from `providers` keys (JSON round-tripped so no cached verdict rides along). */
function makeTicks(count: number, providers: number): Event[] {
  const keys = Array.from({ length: providers }, () => generateSecretKey());
  const now = Math.floor(Date.now() / 1000);
  const ticks: Event[] = [];
  for (let i = 0; i < count; i++) {
    const tick = buildPriceTick(
      {
        d: `p${i % providers}`,
        url: `http://127.0.0.1:${10000 + (i % providers)}`,
        expiration: now + 60,
        seq: i,
        load: (i % 100) / 100,
        models: [{ model: 'tiny-llama', prompt: msatPerMtok(1000 + (i % 50)), completion: msatPerMtok(2000 + (i % 50)) }],
      },
      keys[i % providers]!,
    );
    ticks.push(JSON.parse(JSON.stringify(tick)) as Event);
  }
  return ticks;
}

/** Events verified per second by `verify` over fresh copies of `events`. */
function rate(events: readonly Event[], verify: (e: Event) => boolean): number {
  const copies = events.map((e) => ({ ...e }));
  const start = performance.now();
  for (const e of copies) if (!verify(e)) throw new Error('a valid tick failed verification');
  return copies.length / ((performance.now() - start) / 1000);
}

export const marketIngest: Benchmark = {
  name: 'market-ingest',
  description: 'signed price ticks per second: the market\'s ingest vs bare verifyEvent (pure and wasm) on the same events',
  async run(ctx) {
    setNostrWasm(await initNostrWasm());
    const perRound = ctx.scale === 'full' ? 2000 : 50;
    const rounds = ctx.samples(7, 2);
    const events = makeTicks(perRound, 100);
    const pure: number[] = [];
    const wasm: number[] = [];
    rate(events.slice(0, 50), verifyPure); // warm-up
    rate(events.slice(0, 50), verifyWasm);
    for (let r = 0; r < rounds; r++) {
      pure.push(rate(events, verifyPure));
      wasm.push(rate(events, verifyWasm));
    }
    ctx.log(`${rounds} rounds × ${perRound} ticks`);
    const series: Series[] = [
      { name: 'verify-pure', unit: 'ops/s', samples: pure, better: 'higher' },
      { name: 'verify-wasm', unit: 'ops/s', samples: wasm, baseline: 'verify-pure', better: 'higher' },
    ];
    return { name: 'market-ingest', description: this.description, series };
  },
};
