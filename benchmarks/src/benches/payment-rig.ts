/**
 * What the payment benches share: a provider node in its own process (provider-child.ts: the buyers
 * never share its event loop, as deployed) in front of some upstream (the fast canned one or the
 * devnet engine), a mint behind its timing proxy, a funded Bearer
 * session and a pool of X-Cashu tokens; and the measurements, each interleaving the three paths
 * (direct at the upstream, session and X-Cashu through the node) round-robin with a rotating start,
 * so machine noise hits every path alike.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { InventoryStats } from '@routstr-kit/core';
import { spawnReady, type ReadyChild } from './child-ready.ts';
import { busyMs, callsWithin, takeMintCalls, tallyByPath } from './mint-timing-proxy.ts';
import { complete, stream, TokenPool, type Timed } from './paid-requests.ts';
import type { ProviderChildOptions } from './provider-child.ts';

const PROVIDER_CHILD = fileURLToPath(new URL('./provider-child.ts', import.meta.url));
const BARE_PROXY_CHILD = fileURLToPath(new URL('./bare-proxy-child.ts', import.meta.url));

/** The paths a request can take to the same upstream. */
export type PathName = 'direct' | 'proxy' | 'session' | 'xcashu';
/** `proxy`: a bare pass-through proxy in its own process (bare-proxy-child.ts), the floor of any extra hop. */
export const PATHS: readonly PathName[] = ['direct', 'proxy', 'session', 'xcashu'];
export type Mode = 'complete' | 'stream';

/** What the rig is started on. */
export interface RigOptions {
  upstream: { url: string; model: string; contextSize: number };
  /** The mint's timing proxy (the URL the node and the wallets use). */
  proxyUrl: string;
  /** Slots on the node (and the upstream): enough for the highest concurrency, so nothing queues in the node. */
  slots: number;
  /** msat/Mtok. */
  price: { prompt: number; completion: number };
  /** Face value of each X-Cashu token (one proof): above the gate, so the node makes change. */
  tokenSat: number;
  /** X-Cashu tokens to pre-mint. */
  tokens: number;
}

export interface PaymentRig {
  /** The node's URL. */
  nodeUrl: string;
  pool: TokenPool;
  proxyUrl: string;
  /** Sends one request on a path; `body` is the JSON body as a string. */
  send(path: PathName, mode: Mode, body: string): Promise<Timed>;
  /** The node wallet's exact-change inventory counts (exact sends, swap sends, refills). */
  inventoryStats(): Promise<InventoryStats>;
  /** Resolves once the node's background work (inventory refills after X-Cashu change) has ended. */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts the node on the upstream, funds a session and mints the token pool. */
export async function startPaymentRig(options: RigOptions, log: (line: string) => void): Promise<PaymentRig> {
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-payment-'));
  let node: ReadyChild<{ url: string; controlUrl: string }> | undefined;
  let bare: ReadyChild<{ url: string }> | undefined;
  try {
    const { upstream } = options;
    const childOptions: ProviderChildOptions = { upstream, proxyUrl: options.proxyUrl, slots: options.slots, price: options.price, dataDir };
    [node, bare] = await Promise.all([spawnReady<{ url: string; controlUrl: string }>(PROVIDER_CHILD, childOptions), spawnReady<{ url: string }>(BARE_PROXY_CHILD, upstream.url)]);
    const bareUrl = bare.url;
    const { url: nodeUrl, controlUrl } = node;
    const control = async <T>(what: 'inventory' | 'log' | 'idle'): Promise<T> => (await (await fetch(`${controlUrl}/${what}`)).json()) as T;
    const pool = new TokenPool(options.proxyUrl, options.tokenSat);
    const minting = performance.now();
    await pool.fill(options.tokens);
    const created = await fetch(`${nodeUrl}/v1/balance/create`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ initial_balance_token: await pool.big(100_000) }),
    });
    if (created.status !== 200) throw new Error(`balance/create: HTTP ${created.status} ${await created.text()}`);
    const apiKey = ((await created.json()) as { api_key: string }).api_key;
    log(`${options.tokens} tokens of ${options.tokenSat} sat minted in ${((performance.now() - minting) / 1000).toFixed(1)} s; session ${apiKey.slice(0, 10)}…`);
    const headers = (path: PathName): Record<string, string> =>
      path === 'direct' || path === 'proxy'
        ? {}
        : path === 'session'
          ? { authorization: `Bearer ${apiKey}` }
          // the opt-in to incremental X-Cashu streams (without it the node buffers them as routstr-core does)
          : { 'X-Cashu': pool.take(), 'X-Routstr-Stream-Change': 'sse' };
    const stopChildren = [node.stop, bare.stop];
    const urlOf = (path: PathName): string => (path === 'direct' ? upstream.url : path === 'proxy' ? bareUrl : nodeUrl);
    return {
      nodeUrl,
      pool,
      proxyUrl: options.proxyUrl,
      send: (path, mode, body) =>
        (mode === 'complete' ? complete : stream)(urlOf(path), headers(path), body).catch(async (error: unknown) => {
          // The node's last log lines: a 500 says nothing by itself.
          const nodeLog = await control<string[]>('log').catch(() => []);
          throw new Error(`${path} ${mode}: ${(error as Error).message}${nodeLog.length ? `\n  node log: ${nodeLog.join('\n  node log: ')}` : ''}`);
        }),
      inventoryStats: () => control<InventoryStats>('inventory'),
      idle: () => control<void>('idle'),
      stop: async () => {
        await Promise.all(stopChildren.map((stop) => stop()));
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await Promise.all([node?.stop(), bare?.stop()]);
    rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }
}

/** A chat body for the upstream's model with `maxTokens` of output. */
export function chatBody(model: string, maxTokens: number, mode: Mode): string {
  const base: Record<string, unknown> = { model, messages: [{ role: 'user', content: 'Say hi to the market' }], max_tokens: maxTokens, temperature: 0, seed: 7 };
  return JSON.stringify(mode === 'stream' ? { ...base, stream: true, stream_options: { include_usage: true } } : base);
}

/** Whole-answer latency at concurrency `c`, per path; X-Cashu's mint time split out. */
export interface LatencyRun {
  got: Record<PathName, number[]>;
  /** Mint time per X-Cashu request (at c > 1: the round's mint busy time ÷ c, approximate). */
  mintWork: number[];
  /** X-Cashu latency − its mint time. */
  lessMint: number[];
  /** c1 only: mint calls inside each X-Cashu request's window. */
  onPathCalls: number[];
  /** c1 only: per mint path, calls inside the X-Cashu requests' windows and outside them (background). */
  onPathByPath: Map<string, number>;
  backgroundByPath: Map<string, number>;
}

/** `rounds` rounds of `c` concurrent whole requests on each path. */
export async function measureLatency(rig: PaymentRig, c: number, rounds: number, body: string): Promise<LatencyRun> {
  const run: LatencyRun = { got: { direct: [], proxy: [], session: [], xcashu: [] }, mintWork: [], lessMint: [], onPathCalls: [], onPathByPath: new Map(), backgroundByPath: new Map() };
  await takeMintCalls(rig.proxyUrl);
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < PATHS.length; k++) {
      const path = PATHS[(r + k) % PATHS.length]!;
      // Background mint calls of earlier rounds (refills) are not this round's.
      if (path === 'xcashu' && c > 1) await takeMintCalls(rig.proxyUrl);
      const results = await Promise.all(Array.from({ length: c }, () => rig.send(path, 'complete', body)));
      for (const t of results) run.got[path].push(t.ms);
      if (path !== 'xcashu') continue;
      // The node refills its change inventory in the background after X-Cashu requests: that work is no
      // request's, and landing in the next one's time it would charge whichever path comes next (its
      // cost shows in xcashu-rps, where nothing waits for it).
      await rig.idle();
      const calls = await takeMintCalls(rig.proxyUrl);
      if (c === 1) {
        const t = results[0]!;
        const inside = callsWithin(calls, t.startAt, t.endAt);
        run.onPathCalls.push(inside.length);
        tallyByPath(run.onPathByPath, inside);
        tallyByPath(run.backgroundByPath, calls.filter((call) => !inside.includes(call)));
        run.mintWork.push(busyMs(inside));
        run.lessMint.push(t.ms - busyMs(inside));
      } else {
        // Mint calls overlap under concurrency: per request, the round's mint busy time ÷ c.
        const perRequest = busyMs(calls) / c;
        for (const t of results) {
          run.mintWork.push(perRequest);
          run.lessMint.push(t.ms - perRequest);
        }
      }
    }
  }
  return run;
}

/** First content token at c1, per path; the direct stream's end; X-Cashu's redeem split out. */
export interface TtftRun {
  got: Record<PathName, number[]>;
  /** The direct stream's end: routstr-core's first token, as it buffers the whole stream. */
  directEnd: number[];
  /** Mint time before X-Cashu's first token (the redeem swap). */
  redeem: number[];
  lessMint: number[];
}

/** `rounds` streamed requests on each path, one at a time. */
export async function measureTtft(rig: PaymentRig, rounds: number, body: string): Promise<TtftRun> {
  const run: TtftRun = { got: { direct: [], proxy: [], session: [], xcashu: [] }, directEnd: [], redeem: [], lessMint: [] };
  await takeMintCalls(rig.proxyUrl);
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < PATHS.length; k++) {
      const path = PATHS[(r + k) % PATHS.length]!;
      const t = await rig.send(path, 'stream', body);
      run.got[path].push(t.ms);
      if (path === 'direct') run.directEnd.push(t.totalMs!);
      if (path !== 'xcashu') continue;
      await rig.idle(); // the background refill is no request's (see measureLatency)
      // Only the redeem precedes the first token (change is made after the last one). It is the first
      // call the request makes: a background refill that happens to fall in the window must not be
      // counted as mint time, which would flatter the node.
      const before = callsWithin(await takeMintCalls(rig.proxyUrl), t.startAt, t.firstAt!).sort((a, b) => a.start - b.start);
      const redeemMs = before.length > 0 ? busyMs(before.slice(0, 1)) : 0;
      run.redeem.push(redeemMs);
      run.lessMint.push(t.ms - redeemMs);
    }
  }
  return run;
}

/**
 * Requests/s at saturation: `clients` closed-loop clients per path sending back to back for a
 * window; requests/s = completed ÷ time until the last one answered. X-Cashu windows end early
 * once `tokenBudget` tokens are spent.
 */
export async function measureRps(rig: PaymentRig, rounds: number, clients: number, windowMs: number, tokenBudget: number, body: string): Promise<Record<PathName, number[]>> {
  const rps: Record<PathName, number[]> = { direct: [], proxy: [], session: [], xcashu: [] };
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < PATHS.length; k++) {
      const path = PATHS[(r + k) % PATHS.length]!;
      const start = performance.now();
      let done = 0;
      let budget = tokenBudget;
      await Promise.all(Array.from({ length: clients }, async () => {
        while (performance.now() - start < windowMs && (path !== 'xcashu' || budget-- > 0)) {
          await rig.send(path, 'complete', body);
          done += 1;
        }
      }));
      rps[path].push(done / ((performance.now() - start) / 1000));
    }
  }
  await takeMintCalls(rig.proxyUrl);
  return rps;
}
