/**
 * The node's own cost of payment, on the fast canned upstream (fast-upstream.ts) so that engine time
 * hides nothing: direct at the upstream vs through the node with a Bearer session or X-Cashu.
 * Every acceptance figure of issue 16's points 1–3 is a series here with its target.
 */
import type { Benchmark, Series } from '../harness.ts';
import { spawnMint, type MintProcess } from './devnet-process.ts';
import { spawnFastUpstream, type FastUpstream } from './fast-upstream.ts';
import { perRequestByPath } from './mint-timing-proxy.ts';
import { PATHS, chatBody, measureLatency, measureRps, measureTtft, startPaymentRig, type PaymentRig } from './payment-rig.ts';

const CONCURRENCY: readonly number[] = [1, 8, 32];
const SLOTS = 32;
const TOKEN_SAT = 8;
/** Output tokens of the whole-answer requests. */
const MAX_TOKENS = 8;
/** Output lengths of the streamed requests (first content token). */
const STREAM_LENGTHS: readonly number[] = [8, 256, 1024];
// msat/Mtok: 1,024 output tokens cost about 2 sat, so an 8-sat token always leaves change.
const PRICE = { prompt: 1_000_000, completion: 2_000_000 };

/** Targets of issue 16 (medians, same-run). */
const TARGET = {
  sessionC1: 0.5,
  sessionC32: 1,
  sessionRps: 0.9,
  xcashuLessMintC1: 3,
  xcashuRpsOfSession: 0.5,
  sessionTtft: 1,
  xcashuTtftBeyondRedeem: 2,
} as const;

export const paymentOverhead: Benchmark = {
  name: 'payment-overhead',
  description: 'fast canned upstream, same requests: direct vs through the node paying by Bearer sk- session or X-Cashu (latency, TTFT by output length, throughput, mint calls)',
  async run(ctx) {
    const full = ctx.scale === 'full';
    const warmup = full ? 10 : 2;
    // Tiny scale (the harness self-test) skips c32 and saturates with fewer clients.
    const levels = full ? CONCURRENCY : CONCURRENCY.filter((c) => c <= 8);
    // Every X-Cashu request spends a pre-minted token, and minting them is slow on the devnet mint
    // (about 50 ms a token on a busy 2-core machine): the sample counts keep the pool near 1,100.
    const rounds: Record<number, number> = { 1: ctx.samples(150, 3), 8: ctx.samples(12, 1), 32: ctx.samples(4, 1) };
    const ttftRounds = ctx.samples(80, 3);
    const tput = { rounds: ctx.samples(3, 1), clients: full ? SLOTS : 8, windowMs: full ? 2000 : 300, tokens: full ? 150 : 20 };
    const tokens = warmup * 2 + levels.reduce((a, c) => a + c * rounds[c]!, 0) + ttftRounds * STREAM_LENGTHS.length + tput.rounds * tput.tokens + 16;

    let mint: MintProcess | undefined;
    let upstream: FastUpstream | undefined;
    let rig: PaymentRig | undefined;
    try {
      [mint, upstream] = await Promise.all([spawnMint(), spawnFastUpstream()]);
      rig = await startPaymentRig({ upstream, proxyUrl: mint.proxyUrl, slots: SLOTS, price: PRICE, tokenSat: TOKEN_SAT, tokens }, ctx.log);
      const whole = chatBody(upstream.model, MAX_TOKENS, 'complete');
      // Warm-up: JIT, keep-alive connections, the node's stores.
      for (let i = 0; i < warmup; i++) for (const path of PATHS) for (const mode of ['complete', 'stream'] as const) await rig.send(path, mode, chatBody(upstream.model, MAX_TOKENS, mode));
      const inventoryBefore = await rig.inventoryStats();

      const series: Series[] = [];
      const notes: string[] = [];
      for (const c of levels) {
        const run = await measureLatency(rig, c, rounds[c]!, whole);
        const tag = `c${c}`;
        const sessionTarget = c === 1 ? TARGET.sessionC1 : c === 32 ? TARGET.sessionC32 : undefined;
        series.push(
          { name: `direct-${tag}`, unit: 'ms', samples: run.got.direct, better: 'lower', note: `fast upstream alone, ${c} concurrent, whole answer of ${MAX_TOKENS} tokens` },
          { name: `proxy-${tag}`, unit: 'ms', samples: run.got.proxy, baseline: `direct-${tag}`, better: 'lower', note: 'a bare pass-through proxy in its own process: the floor of any extra hop here' },
          {
            name: `session-${tag}`, unit: 'ms', samples: run.got.session, baseline: `direct-${tag}`, better: 'lower',
            ...(sessionTarget !== undefined ? { target: { op: '<=' as const, value: sessionTarget, of: 'delta-median' as const, note: `a Bearer session adds ≤ ${sessionTarget} ms at p50 (issue 16, 1)` } } : {}),
          },
          { name: `xcashu-${tag}`, unit: 'ms', samples: run.got.xcashu, baseline: `direct-${tag}`, better: 'lower', note: 'includes the mint’s work' },
          { name: `xcashu-mint-${tag}`, unit: 'ms', samples: run.mintWork, better: 'lower', note: c === 1 ? 'mint time inside each X-Cashu request, at the mint’s timing proxy' : 'mint busy time of the round ÷ c (calls overlap: approximate)' },
          {
            name: `xcashu-less-mint-${tag}`, unit: 'ms', samples: run.lessMint, baseline: `direct-${tag}`, better: 'lower',
            ...(c === 1 ? { target: { op: '<=' as const, value: TARGET.xcashuLessMintC1, of: 'delta-median' as const, note: `node time beyond the mint ≤ ${TARGET.xcashuLessMintC1} ms at c1 (issue 16, 2)` } } : {}),
          },
        );
        if (c === 1) {
          series.push({
            name: 'xcashu-mint-calls-c1', unit: 'calls', samples: run.onPathCalls, better: 'lower',
            target: { op: '==', value: 1, of: 'median', note: 'exactly one mint call on a request’s path (issue 16, 2)' },
            note: 'mint calls inside each X-Cashu request’s window, counted by the timing proxy',
          });
          notes.push(
            `X-Cashu mint calls per request at c1, by path: on the request’s path ${perRequestByPath(run.onPathByPath, run.onPathCalls.length)}; outside it (background) ${perRequestByPath(run.backgroundByPath, run.onPathCalls.length)}`,
          );
        }
        ctx.log(`whole c${c}: ${rounds[c]} rounds × ${PATHS.length} paths`);
      }

      for (const n of STREAM_LENGTHS) {
        const run = await measureTtft(rig, ttftRounds, chatBody(upstream.model, n, 'stream'));
        const tag = `ttft-${n}`;
        series.push(
          { name: `direct-${tag}`, unit: 'ms', samples: run.got.direct, better: 'lower', note: `fast upstream alone, first content token of a ${n}-token stream, c1` },
          { name: `proxy-${tag}`, unit: 'ms', samples: run.got.proxy, baseline: `direct-${tag}`, better: 'lower', note: 'bare pass-through proxy (floor)' },
          { name: `session-${tag}`, unit: 'ms', samples: run.got.session, baseline: `direct-${tag}`, better: 'lower', target: { op: '<=', value: TARGET.sessionTtft, of: 'delta-median', note: `first token ≤ direct + ${TARGET.sessionTtft} ms (issue 16, 3)` } },
          { name: `xcashu-${tag}`, unit: 'ms', samples: run.got.xcashu, baseline: `direct-${tag}`, better: 'lower', note: 'includes the redeem at the mint' },
          { name: `xcashu-mint-${tag}`, unit: 'ms', samples: run.redeem, better: 'lower', note: 'mint time before the first token (the redeem)' },
          { name: `xcashu-less-mint-${tag}`, unit: 'ms', samples: run.lessMint, baseline: `direct-${tag}`, better: 'lower', target: { op: '<=', value: TARGET.xcashuTtftBeyondRedeem, of: 'delta-median', note: `first token ≤ direct + the redeem’s mint time + ${TARGET.xcashuTtftBeyondRedeem} ms (issue 16, 3)` } },
          { name: `routstr-core-${tag}`, unit: 'ms', samples: run.directEnd, baseline: `direct-${tag}`, better: 'lower', note: 'modelled: routstr-core buffers the whole stream, so its first token is the direct stream’s end' },
        );
        ctx.log(`stream ${n} tokens: ${ttftRounds} rounds × ${PATHS.length} paths`);
      }

      const rps = await measureRps(rig, tput.rounds, tput.clients, tput.windowMs, tput.tokens, whole);
      series.push(
        { name: 'direct-rps', unit: 'ops/s', samples: rps.direct, better: 'higher', note: `${tput.clients} closed-loop clients for ${tput.windowMs} ms` },
        { name: 'proxy-rps', unit: 'ops/s', samples: rps.proxy, baseline: 'direct-rps', better: 'higher', note: 'bare pass-through proxy (floor)' },
        { name: 'session-rps', unit: 'ops/s', samples: rps.session, baseline: 'direct-rps', better: 'higher', target: { op: '>=', value: TARGET.sessionRps, of: 'ratio', note: `≥ ${TARGET.sessionRps * 100} % of direct throughput (issue 16, 1)` } },
        {
          name: 'xcashu-rps', unit: 'ops/s', samples: rps.xcashu, baseline: 'session-rps', better: 'higher',
          target: { op: '>=', value: TARGET.xcashuRpsOfSession, of: 'ratio', note: `≥ ${TARGET.xcashuRpsOfSession}× session requests/s at c32 (issue 16, 2)` },
          note: `a window ends early after ${tput.tokens} tokens`,
        },
      );
      ctx.log(`saturation: ${tput.rounds} rounds × ${PATHS.length} paths`);

      const inventory = await rig.inventoryStats();
      const exact = inventory.exactSends - inventoryBefore.exactSends;
      const swapped = inventory.swapSends - inventoryBefore.swapSends;
      const rate = exact + swapped > 0 ? (100 * swapped) / (exact + swapped) : 0;
      series.push({ name: 'xcashu-inventory-fallback', unit: '%', samples: [rate], better: 'lower', note: 'node change sends that found the inventory short and swapped (wallet.inventoryStats, measured part of the run)' });
      notes.push(`node inventory over the measured part: ${exact} exact sends, ${swapped} swap sends (fallback ${rate.toFixed(1)} %), ${inventory.refills - inventoryBefore.refills} refills`);
      notes.push(
        `upstream: the fast canned server (fast-upstream.ts) in its own process: answers at once, usage fixed (prompt ${upstream.promptTokens}, completion = max_tokens), one SSE chunk per output token; mint (devnet) behind its timing proxy in another child process; node: its own process (provider-child.ts; the clients never share its event loop), ${SLOTS} slots, queue ${4 * SLOTS}`,
        'X-Cashu tokens are pre-minted one-proof 8-sat tokens (client wallet work not timed); the node→proxy hop counts as node overhead; X-Cashu streams use the incremental mode (X-Routstr-Stream-Change: sse)',
        'routstr-core-ttft-*: routstr-core buffers the whole stream, so its first token is the end of the direct stream (its own overhead not counted); with a real engine add the decode time of the whole output',
        'the clients, the node and the children share the machine’s two cores: compare ratios in one run, not absolute figures across runs',
      );
      return { name: this.name, description: this.description, series, notes };
    } finally {
      await rig?.stop();
      await upstream?.stop();
      await mint?.stop();
    }
  },
};
