import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getEncodedToken, Wallet, type Proof } from '@cashu/cashu-ts';
import { msatPerMtok } from '@routstr-kit/core';
import { createFixedPriceBoard, startProvider, type RunningProvider } from '@routstr-kit/provider';
import type { Benchmark, Series } from '../harness.ts';
import { spawnDevnet, type DevnetProcess } from './devnet-process.ts';
import { takeMintCalls, type MintCall } from './mint-timing-proxy.ts';

/** The paths a request can take to the same engine. */
type PathName = 'direct' | 'session' | 'xcashu';
const PATHS: readonly PathName[] = ['direct', 'session', 'xcashu'];
const CONCURRENCY: readonly number[] = [1, 8, 32];
/** Slots on the engine and on the node: enough for the highest concurrency, so nothing queues in the node. */
const SLOTS = 32;
/** Face value of each X-Cashu token (one proof): above the gate, so the node makes change (a second swap). */
const TOKEN_SAT = 8;
const PROMPT = 'Say hi to the market';
const MAX_TOKENS = 8;
// msat/Mtok: a request costs well under a sat, so an 8-sat token always leaves change.
const PRICE = { prompt: 5_000_000, completion: 10_000_000 };

interface Timed {
  /** ms from sending to the full answer (non-streaming) or to the first content token (streaming). */
  ms: number;
  /** Streaming: ms to the end of the stream. */
  totalMs?: number;
  /** Wall clock (epoch ms, the proxy's clock base) of the first content token, streaming only. */
  firstAt?: number;
}

const epochNow = (): number => performance.timeOrigin + performance.now();

async function complete(url: string, headers: Record<string, string>, body: string): Promise<Timed> {
  const start = performance.now();
  const res = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  const text = await res.text();
  const ms = performance.now() - start;
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${text.slice(0, 300)}`);
  return { ms };
}

async function stream(url: string, headers: Record<string, string>, body: string): Promise<Timed> {
  const start = performance.now();
  const res = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  if (res.status !== 200 || !res.body) throw new Error(`HTTP ${res.status}: ${(await res.text()).slice(0, 300)}`);
  const decoder = new TextDecoder();
  let buffered = '';
  let first: number | undefined;
  let firstAt: number | undefined;
  for await (const chunk of res.body) {
    if (first !== undefined) continue; // drain to the end
    buffered += decoder.decode(chunk, { stream: true });
    let nl: number;
    while (first === undefined && (nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      if (!line.startsWith('data:') || line.includes('[DONE]')) continue;
      const delta = (JSON.parse(line.slice(5)) as { choices?: { delta?: { content?: string } }[] }).choices?.[0]?.delta?.content;
      if (delta) {
        first = performance.now() - start;
        firstAt = epochNow();
      }
    }
  }
  if (first === undefined) throw new Error('stream ended without a content token');
  return { ms: first, totalMs: performance.now() - start, ...(firstAt !== undefined ? { firstAt } : {}) };
}

/** Pre-minted one-proof tokens, so the client's own wallet work never lands in a timed request. */
class TokenPool {
  private readonly tokens: string[] = [];
  private readonly wallet: Wallet;
  private readonly mintUrl: string;
  constructor(mintUrl: string) {
    this.mintUrl = mintUrl;
    this.wallet = new Wallet(mintUrl);
  }
  async fill(count: number): Promise<void> {
    await this.wallet.loadMint();
    for (let left = count; left > 0; ) {
      const n = Math.min(left, 250);
      const quote = await this.wallet.createMintQuoteBolt11(n * TOKEN_SAT);
      const proofs = await this.wallet.mintProofsBolt11(n * TOKEN_SAT, quote, undefined, { type: 'random', denominations: Array<number>(n).fill(TOKEN_SAT) });
      for (const p of proofs) this.tokens.push(getEncodedToken({ mint: this.mintUrl, proofs: [p], unit: 'sat' }));
      left -= n;
    }
  }
  /** One token of `amount` sats in proofs of the default split (a session's opening balance). */
  async big(amount: number): Promise<string> {
    const quote = await this.wallet.createMintQuoteBolt11(amount);
    const proofs: Proof[] = await this.wallet.mintProofsBolt11(amount, quote);
    return getEncodedToken({ mint: this.mintUrl, proofs, unit: 'sat' });
  }
  take(): string {
    const token = this.tokens.pop();
    if (!token) throw new Error('token pool ran dry');
    return token;
  }
}

const busyMs = (calls: readonly MintCall[]): number => calls.reduce((a, c) => a + (c.end - c.start), 0);

export const paymentOverhead: Benchmark = {
  name: 'payment-overhead',
  description: 'same engine, same requests: direct vs through the node paying by Bearer sk- session or X-Cashu (latency, TTFT, throughput)',
  async run(ctx) {
    const warmup = ctx.scale === 'full' ? 20 : 2;
    // Tiny scale (the harness self-test) skips c32 and saturates with fewer clients: X-Cashu is slow there.
    const levels = ctx.scale === 'full' ? CONCURRENCY : CONCURRENCY.filter((c) => c <= 8);
    const rounds = { 1: ctx.samples(250, 3), 8: ctx.samples(20, 1), 32: ctx.samples(6, 1) } as Record<number, number>;
    const tputRounds = ctx.samples(5, 1);
    const clients = ctx.scale === 'full' ? SLOTS : 8;
    const windowMs = ctx.scale === 'full' ? 3000 : 400;
    // X-Cashu tokens a throughput window may spend; a window that spends them all just ends early.
    const tputTokens = ctx.scale === 'full' ? 100 : 40;
    const perMode = levels.reduce((a, c) => a + c * rounds[c]!, warmup);
    const tokensNeeded = 2 * perMode + tputRounds * tputTokens + 8;

    const dirs: string[] = [];
    let devnet: DevnetProcess | undefined;
    let provider: RunningProvider | undefined;
    try {
      devnet = await spawnDevnet({ flavour: 'vllm', maxConcurrency: SLOTS });
      const dataDir = mkdtempSync(join(tmpdir(), 'bench-payment-'));
      dirs.push(dataDir);
      provider = await startProvider({
        engine: 'vllm', upstream: devnet.engineUrl, mints: [devnet.proxyUrl], dataDir, contextLength: devnet.contextSize,
        board: createFixedPriceBoard([{ model: devnet.model, prompt: msatPerMtok(PRICE.prompt), completion: msatPerMtok(PRICE.completion) }]),
        maxConcurrency: SLOTS, queueSize: 4 * SLOTS, log: () => {},
      });
      const pool = new TokenPool(devnet.proxyUrl);
      await pool.fill(tokensNeeded);
      const created = await fetch(`${provider.url}/v1/balance/create`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ initial_balance_token: await pool.big(100_000) }),
      });
      if (created.status !== 200) throw new Error(`balance/create: HTTP ${created.status} ${await created.text()}`);
      const apiKey = ((await created.json()) as { api_key: string }).api_key;
      ctx.log(`${tokensNeeded} tokens of ${TOKEN_SAT} sat minted; session ${apiKey.slice(0, 10)}…`);

      const base: Record<string, unknown> = { model: devnet.model, messages: [{ role: 'user', content: PROMPT }], max_tokens: MAX_TOKENS, temperature: 0, seed: 7 };
      const bodies = { complete: JSON.stringify(base), stream: JSON.stringify({ ...base, stream: true, stream_options: { include_usage: true } }) };
      const engineUrl = devnet.engineUrl;
      const nodeUrl = provider.url;
      const proxyUrl = devnet.proxyUrl;
      const target = (path: PathName): { url: string; headers: () => Record<string, string> } =>
        path === 'direct'
          ? { url: engineUrl, headers: () => ({}) }
          : path === 'session'
            ? { url: nodeUrl, headers: () => ({ authorization: `Bearer ${apiKey}` }) }
            // the opt-in to incremental X-Cashu streams (without it the node buffers them as routstr-core does)
            : { url: nodeUrl, headers: () => ({ 'X-Cashu': pool.take(), 'X-Routstr-Stream-Change': 'sse' }) };
      const send = (path: PathName, mode: 'complete' | 'stream'): Promise<Timed> => {
        const t = target(path);
        return (mode === 'complete' ? complete : stream)(t.url, t.headers(), bodies[mode]);
      };

      // Warm-up: JIT, keep-alive connections, the node's stores.
      for (let i = 0; i < warmup; i++) for (const path of PATHS) for (const mode of ['complete', 'stream'] as const) await send(path, mode);
      await takeMintCalls(proxyUrl);

      const series: Series[] = [];
      const notes: string[] = [];
      for (const mode of ['complete', 'stream'] as const) {
        for (const c of levels) {
          const got: Record<PathName, number[]> = { direct: [], session: [], xcashu: [] };
          const streamEnd: number[] = [];
          const mintWork: number[] = [];
          const lessMint: number[] = [];
          for (let r = 0; r < rounds[c]!; r++) {
            // Round-robin with a rotating start, so drift and noise hit every path alike.
            for (let k = 0; k < PATHS.length; k++) {
              const path = PATHS[(r + k) % PATHS.length]!;
              const results = await Promise.all(Array.from({ length: c }, () => send(path, mode)));
              for (const t of results) got[path].push(t.ms);
              if (path === 'direct' && mode === 'stream') for (const t of results) streamEnd.push(t.totalMs!);
              if (path !== 'xcashu') continue;
              const calls = await takeMintCalls(proxyUrl);
              if (process.env['BENCH_DEBUG_MINT'] && r === 0) ctx.log(`${mode} c${c} mint calls: ${calls.map((x) => `${x.path} ${(x.end - x.start).toFixed(1)}`).join(', ')}`);
              if (mode === 'complete') {
                // Mint calls overlap under concurrency: per request, the round's mint busy time ÷ c.
                const perRequest = busyMs(calls) / c;
                for (const t of results) {
                  mintWork.push(perRequest);
                  lessMint.push(t.ms - perRequest);
                }
              } else if (c === 1) {
                // Only the redeem swap precedes the first token; the change is made after the last one.
                const before = calls.filter((call) => call.end <= results[0]!.firstAt!);
                mintWork.push(busyMs(before));
                lessMint.push(results[0]!.ms - busyMs(before));
              }
            }
          }
          const tag = mode === 'complete' ? `c${c}` : `ttft-c${c}`;
          const unitLabel = mode === 'complete' ? 'latency' : 'time to first token';
          series.push(
            { name: `direct-${tag}`, unit: 'ms', samples: got.direct, better: 'lower', note: `engine alone, ${unitLabel}` },
            {
              name: `session-${tag}`, unit: 'ms', samples: got.session, baseline: `direct-${tag}`, better: 'lower',
              target: mode === 'complete'
                ? { op: '<=', value: 0.5, of: 'delta-median', note: 'Bearer sk- session adds ≤ 0.5 ms at p50' }
                : { op: '<=', value: 2, of: 'delta-median', note: 'first token ≤ direct + 2 ms' },
            },
            { name: `xcashu-${tag}`, unit: 'ms', samples: got.xcashu, baseline: `direct-${tag}`, better: 'lower', note: 'includes the mint’s swaps' },
          );
          if (mintWork.length > 0) {
            series.push(
              { name: `xcashu-mint-${tag}`, unit: 'ms', samples: mintWork, better: 'lower', note: mode === 'complete' ? (c === 1 ? 'mint time per request (redeem + change swaps), at the mint’s timing proxy' : 'mint busy time of the round ÷ c (calls overlap: approximate)') : 'redeem swap before the first token' },
              {
                name: `xcashu-less-mint-${tag}`, unit: 'ms', samples: lessMint, baseline: `direct-${tag}`, better: 'lower',
                target: { op: '<=', value: 2, of: 'delta-median', note: mode === 'complete' ? 'X-Cashu adds ≤ 2 ms beyond the mint’s own work' : 'first token ≤ direct + 2 ms beyond the mint’s redeem' },
              },
            );
          }
          if (mode === 'stream') {
            series.push({
              name: `routstr-core-ttft-c${c}`, unit: 'ms', samples: streamEnd, baseline: `direct-${tag}`, better: 'lower',
              note: 'modelled: routstr-core buffers the whole upstream stream, so its first token arrives at the end of the engine’s stream (its own overhead not counted)',
            });
          }
          ctx.log(`${mode} c${c}: ${rounds[c]} rounds × ${PATHS.length} paths`);
        }
      }

      // Throughput at saturation: closed-loop clients per path, sending back to back for a window;
      // requests/s = completed ÷ time until the last one answered.
      const rps: Record<PathName, number[]> = { direct: [], session: [], xcashu: [] };
      for (let r = 0; r < tputRounds; r++) {
        for (let k = 0; k < PATHS.length; k++) {
          const path = PATHS[(r + k) % PATHS.length]!;
          const start = performance.now();
          let done = 0;
          let budget = tputTokens;
          await Promise.all(Array.from({ length: clients }, async () => {
            while (performance.now() - start < windowMs && (path !== 'xcashu' || budget-- > 0)) {
              await send(path, 'complete');
              done += 1;
            }
          }));
          rps[path].push(done / ((performance.now() - start) / 1000));
        }
      }
      await takeMintCalls(proxyUrl);
      series.push(
        { name: 'direct-rps', unit: 'ops/s', samples: rps.direct, better: 'higher', note: `${clients} closed-loop clients for ${windowMs} ms` },
        { name: 'session-rps', unit: 'ops/s', samples: rps.session, baseline: 'direct-rps', better: 'higher', target: { op: '>=', value: 0.9, of: 'ratio', note: '≥ 90 % of direct throughput' } },
        { name: 'xcashu-rps', unit: 'ops/s', samples: rps.xcashu, baseline: 'direct-rps', better: 'higher', note: `two mint swaps per request; a window ends early after ${tputTokens} tokens` },
      );
      notes.push(
        `engine: devnet vLLM-flavoured tiny model, ${SLOTS} slots, in a child process with the mint; node: ${SLOTS} slots, queue ${4 * SLOTS}; max_tokens ${MAX_TOKENS}, temperature 0, same prompt on every path`,
        'X-Cashu tokens are pre-minted one-proof 8-sat tokens (client wallet work not timed); mint time is measured at a timing proxy in front of the mint, so the node→proxy hop counts as node overhead',
        'routstr-core-ttft-*: routstr-core buffers the whole stream before answering, so its first token arrives when the stream ends (modelled from the direct stream’s end)',
        'throughput: the engine (2 CPU cores shared with everything else) is the bottleneck; the node competes with it for CPU',
      );
      return { name: this.name, description: this.description, series, notes };
    } finally {
      await provider?.stop();
      await devnet?.stop();
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    }
  },
};
