/**
 * `routstr-kit demo`: a whole market on loopback and agents buying inference with ecash.
 * Two fixed-price nodes and one dynamic node (vLLM-flavoured engine, price follows its load); an
 * agent's market buys load the dynamic node until its price surges; a limit-buy batch waits for
 * the dynamic node's idle price and runs when the agent stops. The book and the fills are shown
 * live; it ends by itself with a summary and checks that nothing was lost, to the sat.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  openMarket,
  openOrders,
  openWallet,
  priceForShape,
  requestShape,
  sat,
  type Batch,
  type BatchResult,
  type Market,
  type Receipt,
} from '@routstr-kit/core';
import { loadDevnet } from './optional-packages.ts';
import { startProvider, type RunningProvider } from '@routstr-kit/provider';
import { DemoView, type DemoStatus } from './demo-view.ts';

const FUND_SAT = 5000;
const BATCH_LINES = 30;
const AGENT_CONCURRENCY = 6;
const AGENT_MAX_ROUNDS = 30;
/** Agent rounds after the batch started waiting (the dynamic node stays loaded meanwhile). */
const AGENT_ROUNDS_WHILE_BATCH_WAITS = 3;

/** Runs the demo; resolves to the exit code (1 when the books do not balance). */
export async function demoCommand(_argv: string[]): Promise<number> {
  const view = new DemoView();
  const dir = mkdtempSync(join(tmpdir(), 'routstr-kit-demo-'));
  const cleanup: Array<() => Promise<unknown> | unknown> = [() => rmSync(dir, { recursive: true, force: true })];
  try {
    view.log('Starting the devnet: Nostr relay, Cashu mint, vLLM-flavoured llama.cpp engine…');
    const { startDevnet } = await loadDevnet('demo');
    const devnet = await startDevnet({ engines: { vllm: { flavour: 'vllm', maxConcurrency: 2 } } });
    cleanup.push(() => devnet.stop());
    const engine = devnet.parts.engines['vllm'];
    if (!engine) throw new Error('the devnet has no engine');
    const model = engine.model;

    const common = {
      engine: 'vllm' as const,
      upstream: engine.url,
      mints: [devnet.mintUrl],
      relays: [devnet.relayUrl],
      contextLength: engine.contextSize,
      maxConcurrency: 2,
      queueSize: 16,
      log: () => undefined,
    };
    const nodes: Array<{ name: string; node: RunningProvider }> = [];
    for (const [name, price] of [
      ['fixed-a', { prompt: 100_000_000, completion: 400_000_000 }],
      ['fixed-b', { prompt: 125_000_000, completion: 500_000_000 }],
    ] as const) {
      const node = await startProvider({ ...common, name, dataDir: join(dir, name), price, tick: { intervalMs: 0, heartbeatS: 0 } });
      nodes.push({ name, node });
      cleanup.push(() => node.stop());
    }
    // energy 360 W ÷ 1 tok/s at 1 000 000 msat/kWh = 100 000 000 msat/Mtok; idle at half of base, surging to 3× base under a queue
    const dynamic = await startProvider({
      ...common,
      name: 'dynamic',
      dataDir: join(dir, 'dynamic'),
      pricing: { mode: 'dynamic', powerWatts: 360, pue: 1, electricityMsatPerKwh: 1_000_000, tokensPerSecond: 1, measureThroughput: false, margin: 200_000_000, alpha: 0.6, hysteresis: 0.05, maxStep: 0.3 },
      tick: { intervalMs: 200, heartbeatS: 0, expirationS: 120 },
    });
    nodes.push({ name: 'dynamic', node: dynamic });
    cleanup.push(() => dynamic.stop());
    view.log(`  relay ${devnet.relayUrl}   mint ${devnet.mintUrl}   engine ${engine.url} (${model})`);
    view.log(`  nodes: ${nodes.map((n) => `${n.name} ${n.node.url}`).join(', ')}`);

    const market = openMarket({ relays: [devnet.relayUrl], tickIntervalMs: 0, maxFutureSkewSeconds: 3600, allowProviderAddresses: 'loopback' });
    cleanup.push(() => market.close());
    await market.ready();
    await bookHasAll(market, model, nodes.map((n) => n.node.pubkey));
    const nameOf = (provider: string): string => nodes.find((n) => provider.includes(n.node.pubkey))?.name ?? provider.slice(0, 12);

    const wallet = await openWallet({ path: join(dir, 'agent.sqlite'), mints: [devnet.mintUrl], pollIntervalMs: 20 });
    cleanup.push(() => wallet.close());
    const funding = await wallet.fund(sat(FUND_SAT));
    await funding.complete();
    view.log(`\nAgent wallet funded over (fake) Lightning: ${wallet.balance()} sat`);
    const orders = await openOrders({ wallet, market, profile: 'cheapest', limits: { maxConcurrent: 8 } });
    let ordersClosed = false;
    cleanup.push(() => (ordersClosed ? undefined : orders.close()));

    const batchBody = (i: number) => ({ model, messages: [{ role: 'user', content: `Summarise item ${i}` }], max_tokens: 4 });
    const shape = requestShape(batchBody(0));
    const idle = dynamic.board.current().get(model);
    const fixedA = nodes[0]?.node.board.current().get(model);
    if (!idle || !fixedA) throw new Error('the nodes quote no price');
    const limit = Math.floor((priceForShape(idle, shape) + priceForShape(fixedA, shape)) / 2);
    view.log(`Limit for the batch: ${limit} msat per request (dynamic idle ${priceForShape(idle, shape)}, fixed-a ${priceForShape(fixedA, shape)})\n`);

    const agentReceipts: Receipt[] = [];
    let agentFailures = 0;
    let batch: Batch | undefined;
    let phase = 'agent market-buys (loading the dynamic node)';
    const status = (): DemoStatus => ({
      phase,
      rows: nodes.map((n) => ({ name: n.name, ask: market.book.asks(model, shape).find((a) => a.provider.includes(n.node.pubkey)) })),
      limitMsat: limit,
      agent: { buys: agentReceipts.length, spentMsat: agentReceipts.reduce((s, r) => s + r.chargedMsat, 0), lastProvider: agentReceipts.at(-1) ? nameOf(agentReceipts.at(-1)!.provider.id) : undefined },
      batch: batch ? { ...batch.progress(), total: BATCH_LINES } : undefined,
    });
    const offBook = market.onAskChange(() => view.update(status()));
    cleanup.push(offBook);
    view.update(status());

    // the agent: bursts of concurrent market buys (cheapest ask first) until told to stop
    let stopAgent = false;
    let roundsWhileWaiting = 0;
    const agent = (async () => {
      for (let round = 1; round <= AGENT_MAX_ROUNDS && !stopAgent; round++) {
        const results = await Promise.allSettled(
          Array.from({ length: AGENT_CONCURRENCY }, (_, i) => orders.marketBuy({ model, messages: [{ role: 'user', content: `agent task ${round}.${i}` }], max_tokens: 32 })),
        );
        const got = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value.receipt] : []));
        agentFailures += results.length - got.length;
        agentReceipts.push(...got);
        const where = [...new Set(got.map((r) => nameOf(r.provider.id)))].join('+') || 'nobody';
        if (!view.tty) view.log(`  agent round ${round}: ${got.length} market buys at ${where}, ${got.reduce((s, r) => s + r.chargedMsat, 0)} msat`);
        view.update(status());
        if (batch) roundsWhileWaiting += 1;
        if (roundsWhileWaiting >= AGENT_ROUNDS_WHILE_BATCH_WAITS) stopAgent = true;
      }
    })();

    // the batch goes in once the book is above its limit (the dynamic node surged), or after 20 s anyway
    await bookAbove(market, model, shape, limit, 20_000);
    phase = 'agent market-buys; limit batch waiting for the dynamic node';
    view.log(`Book above the limit (best ${market.bestAsk(model, shape)?.priceMsat ?? '-'} msat): placing the limit-buy batch of ${BATCH_LINES} requests`);
    batch = orders.runBatch(
      Array.from({ length: BATCH_LINES }, (_, i) => ({ custom_id: `summary-${i + 1}`, body: batchBody(i + 1) })),
      { model, maxPrice: limit, deadline: Date.now() + 60_000, concurrency: 2 },
    );
    if (batch.progress().paused) view.log(`  batch waiting: best ask ${market.bestAsk(model, shape)?.priceMsat ?? '-'} msat > limit ${limit}`);
    batch.on('paused', ({ bestAsk }) => view.log(`  batch paused: best ask ${bestAsk?.priceMsat ?? '-'} msat > limit ${limit}`));
    batch.on('resumed', ({ bestAsk }) => view.log(`  batch buying: ${nameOf(bestAsk.provider)} at ${bestAsk.priceMsat} msat ≤ limit ${limit}${bestAsk.quoteId ? ` (quote ${bestAsk.quoteId.slice(0, 10)}…)` : ''}`));
    batch.on('progress', () => view.update(status()));
    await agent;
    phase = 'agent stopped; dynamic node cooling down, batch buying';
    view.log('Agent stopped: the dynamic node idles and its price falls');
    const result: BatchResult = await batch.result;
    view.update(status());
    view.stop();
    offBook();

    await orders.close();
    ordersClosed = true;
    const batchReceipts = orders.payer.receipts().filter((r) => !agentReceipts.includes(r));
    const spentAgent = agentReceipts.reduce((s, r) => s + r.chargedMsat, 0);
    const spentBatch = batchReceipts.reduce((s, r) => s + r.chargedMsat, 0);
    const change = orders.payer.receipts().reduce((s, r) => s + r.changeSat, 0);
    // what the batch's tokens would have cost at the prices the agent's market buys paid
    const avg = (pick: (r: Receipt) => number): number => (agentReceipts.length === 0 ? 0 : agentReceipts.reduce((s, r) => s + pick(r), 0) / agentReceipts.length);
    const atMarket = batchReceipts.reduce((s, r) => s + Math.ceil(((r.usage?.inputTokens ?? 0) * avg((x) => x.price.prompt) + (r.usage?.outputTokens ?? 0) * avg((x) => x.price.completion)) / 1_000_000), 0);
    const providerHeld = nodes.reduce((s, n) => s + n.node.payee.balances().heldSat, 0);
    const fees = wallet.feesPaid();
    const accounted = wallet.balance() + fees + providerHeld;

    const say = (line: string): void => void process.stdout.write(`${line}\n`);
    say('\nSummary');
    say(`  agent: ${agentReceipts.length} market buys (${agentFailures} refused or failed, nothing paid for those), spent ${spentAgent} msat`);
    say(`  batch: ${result.summary.text}`);
    const billedBatch = batchReceipts.reduce((s, r) => s + (r.costMsat ?? r.chargedMsat), 0);
    say(`  spent ${Math.ceil((spentAgent + spentBatch) / 1000)} sat in all (agent ${spentAgent / 1000}, batch ${spentBatch / 1000})`);
    say(`  saved: the batch's tokens were billed ${billedBatch} msat at its limit prices vs ${atMarket} msat at the agent's market-buy prices: ${atMarket - billedBatch} msat saved (each X-Cashu request is paid in whole sats, so its charge rounds up)`);
    say(`  change returned by the nodes: ${change} sat`);
    say(`  funded ${FUND_SAT} sat = wallet ${wallet.balance()} + provider revenues ${providerHeld} + fees ${fees} = ${accounted} sat`);
    if (accounted === FUND_SAT && wallet.pendingBalance() === 0) {
      say('  nothing lost: every sat is accounted for.');
      return 0;
    }
    say(`  MISMATCH: accounted ${accounted} of ${FUND_SAT} sat (pending ${wallet.pendingBalance()})`);
    return 1;
  } finally {
    for (const f of cleanup.reverse()) {
      try {
        await f();
      } catch {
        // keep tearing down
      }
    }
  }
}

/** Resolves once every node has a probed or ticked ask in the book. */
function bookHasAll(market: Market, model: string, pubkeys: string[]): Promise<void> {
  const have = (): boolean => pubkeys.every((pk) => market.depth(model, 50).some((a) => a.provider.includes(pk) && a.source !== 'announcement'));
  if (have()) return Promise.resolve();
  return new Promise((resolve) => {
    const off = market.onAskChange(() => {
      if (have()) {
        off();
        resolve();
      }
    });
  });
}

/** Resolves once the best ask for `shape` is above `limit`, or after `timeoutMs`. */
function bookAbove(market: Market, model: string, shape: { inputTokens: number; outputTokens: number }, limit: number, timeoutMs: number): Promise<void> {
  const above = (): boolean => (market.bestAsk(model, shape)?.priceMsat ?? 0) > limit;
  if (above()) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      off();
      clearTimeout(timer);
      resolve();
    };
    const off = market.onAskChange(() => above() && done());
    const timer = setTimeout(done, timeoutMs);
  });
}
