/**
 * payment-overhead on the devnet engine (the vLLM-flavoured llama.cpp engine serving the tiny model)
 * instead of the fast canned upstream: the same three paths, with real inference time in every
 * request. Series keep the names payment-overhead had before issue 16, so earlier figures compare.
 * The targets are checked in payment-overhead (fast upstream), where engine time hides nothing.
 */
import type { Benchmark, Series } from '../harness.ts';
import { spawnDevnet, type DevnetProcess } from './devnet-process.ts';
import { PATHS, chatBody, measureLatency, measureRps, measureTtft, startPaymentRig, type PaymentRig } from './payment-rig.ts';

const CONCURRENCY: readonly number[] = [1, 8, 32];
/** Slots on the engine and on the node: enough for the highest concurrency, so nothing queues in the node. */
const SLOTS = 32;
const TOKEN_SAT = 8;
const MAX_TOKENS = 8;
// msat/Mtok: a request costs well under a sat, so an 8-sat token always leaves change.
const PRICE = { prompt: 5_000_000, completion: 10_000_000 };

export const paymentOverheadEngine: Benchmark = {
  name: 'payment-overhead-engine',
  description: 'devnet engine, same requests: direct vs through the node paying by Bearer sk- session or X-Cashu (latency, TTFT, throughput)',
  async run(ctx) {
    const full = ctx.scale === 'full';
    const warmup = full ? 10 : 2;
    const levels = full ? CONCURRENCY : CONCURRENCY.filter((c) => c <= 8);
    const rounds: Record<number, number> = { 1: ctx.samples(100, 3), 8: ctx.samples(10, 1), 32: ctx.samples(4, 1) };
    const ttftRounds = ctx.samples(100, 3);
    const tput = { rounds: ctx.samples(3, 1), clients: full ? SLOTS : 8, windowMs: full ? 2000 : 300, tokens: full ? 150 : 20 };
    const tokens = warmup * 2 + levels.reduce((a, c) => a + c * rounds[c]!, 0) + ttftRounds + tput.rounds * tput.tokens + 16;

    let devnet: DevnetProcess | undefined;
    let rig: PaymentRig | undefined;
    try {
      devnet = await spawnDevnet({ flavour: 'vllm', maxConcurrency: SLOTS });
      const upstream = { url: devnet.engineUrl, model: devnet.model, contextSize: devnet.contextSize };
      rig = await startPaymentRig({ upstream, proxyUrl: devnet.proxyUrl, slots: SLOTS, price: PRICE, tokenSat: TOKEN_SAT, tokens }, ctx.log);
      const whole = chatBody(upstream.model, MAX_TOKENS, 'complete');
      for (let i = 0; i < warmup; i++) for (const path of PATHS) for (const mode of ['complete', 'stream'] as const) await rig.send(path, mode, chatBody(upstream.model, MAX_TOKENS, mode));

      const series: Series[] = [];
      for (const c of levels) {
        const run = await measureLatency(rig, c, rounds[c]!, whole);
        const tag = `c${c}`;
        series.push(
          { name: `direct-${tag}`, unit: 'ms', samples: run.got.direct, better: 'lower', note: 'engine alone, latency' },
          { name: `proxy-${tag}`, unit: 'ms', samples: run.got.proxy, baseline: `direct-${tag}`, better: 'lower', note: 'bare pass-through proxy in its own process (floor)' },
          { name: `session-${tag}`, unit: 'ms', samples: run.got.session, baseline: `direct-${tag}`, better: 'lower' },
          { name: `xcashu-${tag}`, unit: 'ms', samples: run.got.xcashu, baseline: `direct-${tag}`, better: 'lower', note: 'includes the mint’s work' },
          { name: `xcashu-mint-${tag}`, unit: 'ms', samples: run.mintWork, better: 'lower', note: c === 1 ? 'mint time inside each X-Cashu request, at the mint’s timing proxy' : 'mint busy time of the round ÷ c (approximate)' },
          { name: `xcashu-less-mint-${tag}`, unit: 'ms', samples: run.lessMint, baseline: `direct-${tag}`, better: 'lower' },
        );
        ctx.log(`whole c${c}: ${rounds[c]} rounds × ${PATHS.length} paths`);
      }
      const ttft = await measureTtft(rig, ttftRounds, chatBody(upstream.model, MAX_TOKENS, 'stream'));
      series.push(
        { name: 'direct-ttft-c1', unit: 'ms', samples: ttft.got.direct, better: 'lower', note: 'engine alone, time to first token' },
        { name: 'proxy-ttft-c1', unit: 'ms', samples: ttft.got.proxy, baseline: 'direct-ttft-c1', better: 'lower' },
        { name: 'session-ttft-c1', unit: 'ms', samples: ttft.got.session, baseline: 'direct-ttft-c1', better: 'lower' },
        { name: 'xcashu-ttft-c1', unit: 'ms', samples: ttft.got.xcashu, baseline: 'direct-ttft-c1', better: 'lower' },
        { name: 'xcashu-mint-ttft-c1', unit: 'ms', samples: ttft.redeem, better: 'lower', note: 'redeem swap before the first token' },
        { name: 'xcashu-less-mint-ttft-c1', unit: 'ms', samples: ttft.lessMint, baseline: 'direct-ttft-c1', better: 'lower' },
        { name: 'routstr-core-ttft-c1', unit: 'ms', samples: ttft.directEnd, baseline: 'direct-ttft-c1', better: 'lower', note: 'modelled: the end of the engine’s stream (routstr-core buffers it)' },
      );
      ctx.log(`stream: ${ttftRounds} rounds × ${PATHS.length} paths`);
      const rps = await measureRps(rig, tput.rounds, tput.clients, tput.windowMs, tput.tokens, whole);
      series.push(
        { name: 'direct-rps', unit: 'ops/s', samples: rps.direct, better: 'higher', note: `${tput.clients} closed-loop clients for ${tput.windowMs} ms` },
        { name: 'proxy-rps', unit: 'ops/s', samples: rps.proxy, baseline: 'direct-rps', better: 'higher' },
        { name: 'session-rps', unit: 'ops/s', samples: rps.session, baseline: 'direct-rps', better: 'higher' },
        { name: 'xcashu-rps', unit: 'ops/s', samples: rps.xcashu, baseline: 'direct-rps', better: 'higher', note: `a window ends early after ${tput.tokens} tokens` },
      );
      return {
        name: this.name,
        description: this.description,
        series,
        notes: [
          `engine: devnet vLLM-flavoured tiny model, ${SLOTS} slots, in a child process with the mint; node: its own process, ${SLOTS} slots, queue ${4 * SLOTS}; max_tokens ${MAX_TOKENS}, temperature 0, same prompt on every path`,
          'X-Cashu tokens are pre-minted one-proof 8-sat tokens; mint time is measured at a timing proxy in front of the mint, so the node→proxy hop counts as node overhead',
          'throughput: the engine (sharing the machine’s cores) is the bottleneck; the node competes with it for CPU. Issue 16’s targets are checked in payment-overhead (fast upstream)',
        ],
      };
    } finally {
      await rig?.stop();
      await devnet?.stop();
    }
  },
};
