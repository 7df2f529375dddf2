import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { failpointEnv } from '@routstr-kit/core/testing';
import { openOrders, OrderCancelled, OrderExpired, PriceAboveLimit, priceForShape, requestShape, type Market, type Orders } from '@routstr-kit/core';
import { once, startPricedDevnet, type PricedDevnet, type Price, type TickerNode, tickIntoBook } from '@routstr-kit/devnet/priced-nodes';

// msat/Mtok. A request of ~30 prompt and 2 completion tokens costs a few sats at HIGH, ~¼ of that at LOW.
const HIGH: Price = { prompt: 200_000_000, completion: 800_000_000 };
const MID: Price = { prompt: 120_000_000, completion: 480_000_000 };
const child = fileURLToPath(new URL('./orders-crash-child.ts', import.meta.url));

interface ChildRun {
  lines: Array<Record<string, unknown>>;
  signal: NodeJS.Signals | null;
}

/** Runs the buyer child; `killWhen` SIGKILLs it at the first event line it matches. */
function runChild(args: Record<string, unknown>, options: { failpoint?: string; killWhen?: (line: Record<string, unknown>) => boolean } = {}): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const env = failpointEnv(options.failpoint);
    const proc = spawn(process.execPath, [child, JSON.stringify(args)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: Array<Record<string, unknown>> = [];
    let buffer = '';
    let err = '';
    proc.stdout.on('data', (d: Buffer) => {
      buffer += d.toString();
      let nl: number;
      while ((nl = buffer.indexOf('\n')) !== -1) {
        const line = JSON.parse(buffer.slice(0, nl)) as Record<string, unknown>;
        buffer = buffer.slice(nl + 1);
        lines.push(line);
        if (options.killWhen?.(line)) proc.kill('SIGKILL');
      }
    });
    proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
    proc.on('error', reject);
    proc.on('close', (code, signal) => {
      if (signal === null && code !== 0) reject(new Error(`child failed (${code}): ${err}`));
      else resolve({ lines, signal });
    });
  });
}

const LOW: Price = { prompt: 50_000_000, completion: 200_000_000 };

describe('limit orders on the devnet', () => {
  let net: PricedDevnet;
  let node: TickerNode;
  let market: Market;
  let orders: Orders;
  let funded = 0;
  const request = (content: string) => ({ model: '', messages: [{ role: 'user', content }], max_tokens: 2 });
  const chat = (content: string) => ({ ...request(content), model: net.model });
  const limitBetween = (a: Price, b: Price, body: Record<string, unknown>): number => {
    const shape = requestShape(body);
    return Math.floor((priceForShape(a, shape) + priceForShape(b, shape)) / 2);
  };
  const valueHeld = (): number => (orders.wallet.balance() + orders.wallet.incomingBalance()) + orders.wallet.feesPaid() + net.providerHeldSat();

  const bookAt = async (price: Price): Promise<void> => void (await tickIntoBook(node, market, net.model, price));

  beforeAll(async () => {
    net = await startPricedDevnet();
    node = await net.startTicker('ticker', HIGH);
    await node.tick(HIGH);
    market = await net.openMarket();
    const { wallet } = await net.newWallet(400);
    funded = 400;
    orders = await openOrders({ wallet, market });
  });
  // every test starts from a book at HIGH
  afterEach(async () => {
    await bookAt(HIGH);
  });
  afterAll(async () => {
    await orders?.close();
    await net?.stop();
  });

  it('a limit above the book fills at once, at the best ask', async () => {
    const body = chat('fill me now');
    const order = orders.runWhenCheaper(body, { maxPrice: limitBetween(HIGH, { prompt: HIGH.prompt * 2, completion: HIGH.completion * 2 }, body), deadline: Date.now() + 60_000 });
    const { fill, receipt, response } = await order.result;
    expect(order.state).toBe('filled');
    expect(fill.price.completion).toBe(HIGH.completion);
    expect(fill.provider).toContain(node.node.pubkey);
    expect(receipt.verification.verdict).not.toBe('overcharged');
    expect(response['object']).toBe('chat.completion');
    expect(valueHeld()).toBe(funded);
  });

  it('a limit below the book rests; the tick that crosses it fills it with that quote, billed at the quote', async () => {
    const body = chat('wait for a cheaper ask');
    const order = orders.runWhenCheaper(body, { maxPrice: limitBetween(MID, HIGH, body), deadline: Date.now() + 120_000 });
    expect(order.state).toBe('resting');
    const spentBefore = orders.payer.spentSat();
    // a tick that does not cross leaves it resting
    await bookAt({ prompt: HIGH.prompt - 1, completion: HIGH.completion - 1 });
    expect(order.state).toBe('resting');
    expect(orders.payer.spentSat()).toBe(spentBefore);
    const filling = once<{ ask: { quoteId?: string } }>(order, 'filling');
    // the node's own price goes back up right after the tick: only the quote bills LOW
    const quote = await node.tick(LOW, { billAfter: HIGH });
    expect((await filling).ask.quoteId).toBe(quote);
    const { fill, receipt } = await order.result;
    expect(fill.quote).toBe(quote);
    expect(fill.price.completion).toBe(LOW.completion);
    expect(receipt.price.quoteId).toBe(quote);
    expect(receipt.price.completion).toBe(LOW.completion);
    expect(receipt.verification.verdict).not.toBe('overcharged');
    // billed at the quote: what the node charged is what LOW prices give for the usage
    expect(receipt.costMsat).toBe(receipt.expectedCostMsat);
    const usage = receipt.usage;
    expect(usage).toBeDefined();
    const atLow = Math.ceil(((usage?.inputTokens ?? 0) * LOW.prompt + (usage?.outputTokens ?? 0) * LOW.completion) / 1_000_000);
    const atHigh = Math.ceil(((usage?.inputTokens ?? 0) * HIGH.prompt + (usage?.outputTokens ?? 0) * HIGH.completion) / 1_000_000);
    expect(receipt.costMsat).toBeLessThanOrEqual(atLow);
    expect(receipt.costMsat).toBeLessThan(atHigh);
    expect(order.triggerLatencyMs).toBeDefined();
    expect(valueHeld()).toBe(funded);
  });

  it('a deadline expires a resting order with nothing spent', async () => {
    const body = chat('never cheap enough');
    const spent = orders.payer.spentSat();
    const balance = (orders.wallet.balance() + orders.wallet.incomingBalance());
    const order = orders.runWhenCheaper(body, { maxPrice: limitBetween(LOW, MID, body), deadline: Date.now() + 300 });
    await expect(order.result).rejects.toBeInstanceOf(OrderExpired);
    expect(order.state).toBe('expired');
    expect(orders.payer.spentSat()).toBe(spent);
    expect((orders.wallet.balance() + orders.wallet.incomingBalance())).toBe(balance);
    expect(orders.store.limit(order.id)?.state).toBe('expired');
  });

  it('cancel() stops a resting order with nothing spent; a later crossing tick does not fill it', async () => {
    const body = chat('cancel me');
    const balance = (orders.wallet.balance() + orders.wallet.incomingBalance());
    const order = orders.runWhenCheaper(body, { maxPrice: limitBetween(LOW, MID, body), deadline: Date.now() + 60_000 });
    expect(order.cancel()).toBe(true);
    await expect(order.result).rejects.toBeInstanceOf(OrderCancelled);
    const other = orders.runWhenCheaper(chat('witness'), { maxPrice: limitBetween(LOW, MID, body), deadline: Date.now() + 60_000 });
    await node.tick(LOW);
    await other.result;
    expect(order.state).toBe('cancelled');
    expect(orders.store.limit(order.id)?.state).toBe('cancelled');
    expect(orders.payer.receipts().filter((r) => r.requestId === orders.store.limit(order.id)?.fillRequestId)).toHaveLength(0);
    expect((orders.wallet.balance() + orders.wallet.incomingBalance())).toBeLessThan(balance); // the witness paid, the cancelled one did not
    expect(valueHeld()).toBe(funded);
  });

  it('marketBuy refuses at once above maxPrice (with the best ask) and buys below it', async () => {
    const body = chat('market buy');
    const limit = limitBetween(LOW, MID, body);
    const balance = (orders.wallet.balance() + orders.wallet.incomingBalance());
    const error = await orders.marketBuy(body, { maxPrice: limit }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PriceAboveLimit);
    expect((error as PriceAboveLimit).bestAsk.completion).toBe(HIGH.completion);
    expect((orders.wallet.balance() + orders.wallet.incomingBalance())).toBe(balance);
    const { receipt, response } = await orders.marketBuy(body);
    expect(response['object']).toBe('chat.completion');
    expect(receipt.price.completion).toBe(HIGH.completion);
    expect(valueHeld()).toBe(funded);
  });

  describe('crash safety (child process, SIGKILL)', () => {
    async function buyer(fund: number): Promise<{ args: Record<string, unknown>; funded: number }> {
      const { wallet, path } = await net.newWallet(fund, { name: `crash-${Math.random().toString(36).slice(2)}` });
      wallet.close();
      return { args: { walletPath: path, mint: net.devnet.mintUrl, relay: net.devnet.relayUrl, model: net.model }, funded: fund };
    }
    const finals = (run: ChildRun) => run.lines.filter((l) => l['event'] === 'final');
    const exitOf = (run: ChildRun) => run.lines.find((l) => l['event'] === 'exit') as { balance: number; fees: number; pending: number };

    it('killed while resting: the order resumes after restart and fills once; value conserved to the sat', async () => {
      const b = await buyer(100);
      const held = net.providerHeldSat();
      const body = { messages: [{ role: 'user', content: 'rest, die, resume' }], max_tokens: 2 };
      const limit = limitBetween(MID, HIGH, chat('rest, die, resume'));
      const first = await runChild({ ...b.args, place: { body, maxPrice: limit, deadline: Date.now() + 120_000 } }, { killWhen: (l) => l['event'] === 'placed' });
      expect(first.signal).toBe('SIGKILL');
      expect(first.lines.find((l) => l['event'] === 'placed')?.['state']).toBe('resting');
      await node.tick(LOW);
      const second = await runChild(b.args);
      const ended = finals(second);
      expect(ended).toHaveLength(1);
      expect(ended[0]?.['state']).toBe('filled');
      const exit = exitOf(second);
      expect(exit.pending).toBe(0);
      expect(exit.balance).toBeLessThan(b.funded);
      expect(exit.balance + exit.fees + (net.providerHeldSat() - held)).toBe(b.funded);
    });

    it('killed while filling before the token left: the order goes back to resting and fills once', async () => {
      await node.tick(LOW);
      const b = await buyer(100);
      const held = net.providerHeldSat();
      const body = { messages: [{ role: 'user', content: 'die before paying' }], max_tokens: 2 };
      const limit = limitBetween(MID, HIGH, chat('die before paying'));
      const first = await runChild({ ...b.args, place: { body, maxPrice: limit, deadline: Date.now() + 120_000 } }, { failpoint: 'payer:before-send' });
      expect(first.signal).toBe('SIGKILL');
      expect(first.lines.some((l) => l['state'] === 'filling')).toBe(true);
      const second = await runChild(b.args);
      const ended = finals(second);
      expect(ended).toHaveLength(1);
      expect(ended[0]?.['state']).toBe('filled');
      const exit = exitOf(second);
      expect(exit.balance + exit.fees + (net.providerHeldSat() - held)).toBe(b.funded);
      // one paid request: the node holds exactly one fill's charge
      expect(net.providerHeldSat() - held).toBeGreaterThan(0);
      expect(net.providerHeldSat() - held).toBeLessThanOrEqual(limit / 1000 + 1);
    });

    it('killed while filling after the node answered: reconciled to failed (paid, answer lost), change recovered, never paid twice', async () => {
      await node.tick(LOW);
      const b = await buyer(100);
      const held = net.providerHeldSat();
      const body = { messages: [{ role: 'user', content: 'die after paying' }], max_tokens: 2 };
      const limit = limitBetween(MID, HIGH, chat('die after paying'));
      const first = await runChild({ ...b.args, place: { body, maxPrice: limit, deadline: Date.now() + 120_000 } }, { failpoint: 'payer:after-send' });
      expect(first.signal).toBe('SIGKILL');
      const second = await runChild(b.args);
      const ended = finals(second);
      expect(ended).toHaveLength(1);
      expect(ended[0]?.['state']).toBe('failed');
      expect(ended[0]?.['code']).toBe('fill_interrupted');
      const exit = exitOf(second);
      expect(exit.pending).toBe(0);
      const charged = net.providerHeldSat() - held;
      expect(charged).toBeGreaterThan(0);
      expect(charged).toBeLessThanOrEqual(limit / 1000 + 1);
      expect(exit.balance + exit.fees + charged).toBe(b.funded);
    });
  });

  describe('streamed limit buys', () => {
    it('a streamed limit buy rests as a durable order: reopened on the same store after a restart, the crossing tick fills it at exactly that quote', async () => {
      const { wallet } = await net.newWallet(50, { name: 'streamed-restart' });
      const held = net.providerHeldSat();
      const first = await openOrders({ wallet, market });
      const body = { ...chat('stream me, even after a restart'), stream: true };
      let read = false;
      const placed = first.runWhenCheaper(body, { maxPrice: limitBetween(MID, HIGH, body), deadline: Date.now() + 120_000, reader: { onResponse: () => (read = true) } });
      expect(placed.state).toBe('resting');
      expect(first.store.limit(placed.id)?.request['stream']).toBe(true);
      await first.close();
      const second = await openOrders({ wallet, market });
      try {
        const order = second.get(placed.id);
        expect(order?.state).toBe('resting');
        const quote = await node.tick(LOW, { billAfter: HIGH });
        const result = await order!.result;
        expect(second.store.limit(placed.id)?.state).toBe('filled');
        expect(result.fill.quote).toBe(quote);
        expect(result.fill.price.completion).toBe(LOW.completion);
        // paid through the Payer at the crossing ask's own quote, billed exactly at it
        expect(result.receipt.price.quoteId).toBe(quote);
        expect(result.receipt.price.completion).toBe(LOW.completion);
        expect(result.receipt.requestId).toBe(second.store.limit(placed.id)?.fillRequestId);
        expect(result.receipt.costMsat).toBe(result.receipt.expectedCostMsat);
        // nobody reads the stream after the restart: the fill answered as JSON, stored with the order
        expect(read).toBe(false);
        expect(result.response['object']).toBe('chat.completion');
      } finally {
        await second.close();
      }
      expect((wallet.balance() + wallet.incomingBalance()) + wallet.feesPaid() + (net.providerHeldSat() - held)).toBe(50);
      wallet.close();
    });
  });

  describe('limit-buy batch', () => {
    const LINES = 200;
    it(`pauses while the price is above the limit, completes when it falls; ${LINES} lines exactly once in OpenAI's output format`, async () => {
      const { wallet } = await net.newWallet(1000, { name: 'batcher' });
      const batcher = await openOrders({ wallet, market });
      const held = net.providerHeldSat();
      try {
        const lines = Array.from({ length: LINES }, (_, i) => ({ custom_id: `line-${i}`, method: 'POST', url: '/v1/chat/completions', body: { model: net.model, messages: [{ role: 'user', content: `item ${i}` }], max_tokens: 1 } }));
        const limit = limitBetween(MID, HIGH, lines[0]!.body);
        const batch = batcher.runBatch(lines, { model: net.model, maxPrice: limit, deadline: Date.now() + 120_000, concurrency: 4 });
        expect(batch.progress()).toMatchObject({ paused: true, done: 0, running: 0, waiting: LINES });
        let paused = batch.progress().paused;
        let lastRunning = 0;
        let dispatchedWhilePaused = 0;
        batch.on('paused', () => (paused = true));
        batch.on('resumed', () => (paused = false));
        batch.on('progress', (p) => {
          if (paused && p.running > lastRunning) dispatchedWhilePaused += 1;
          lastRunning = p.running;
        });
        const third = new Promise<void>((resolve) => batch.on('progress', (p) => p.done >= LINES / 3 && resolve()));
        await bookAt(LOW);
        await third;
        // the price rises: the batch pauses, lines in flight finish, nothing new goes out
        const pausedAgain = once(batch, 'paused');
        await bookAt(HIGH);
        await pausedAgain;
        const drained = batch.progress().running === 0 ? Promise.resolve() : new Promise<void>((resolve) => batch.on('progress', (p) => p.running === 0 && resolve()));
        await drained;
        const doneWhilePaused = batch.progress().done;
        expect(doneWhilePaused).toBeLessThan(LINES);
        await bookAt({ prompt: HIGH.prompt - 1, completion: HIGH.completion - 1 });
        expect(batch.progress().done).toBe(doneWhilePaused);
        expect(batch.progress().running).toBe(0);
        await bookAt(LOW);
        const result = await batch.result;
        expect(dispatchedWhilePaused).toBe(0);
        expect(result.status).toBe('completed');
        expect(result.errors).toBe('');
        const out = result.output.trim().split('\n').map((l) => JSON.parse(l) as Record<string, any>);
        expect(out).toHaveLength(LINES);
        expect(new Set(out.map((o) => o['custom_id'])).size).toBe(LINES);
        expect(out.map((o) => o['custom_id']).sort()).toEqual(lines.map((l) => l.custom_id).sort());
        for (const o of out) {
          expect(Object.keys(o).sort()).toEqual(['custom_id', 'error', 'id', 'response']);
          expect(o['id']).toMatch(/^batch_req_[0-9a-f]+$/);
          expect(o['error']).toBeNull();
          expect(o['response'].status_code).toBe(200);
          expect(typeof o['response'].request_id).toBe('string');
          expect(o['response'].body.object).toBe('chat.completion');
        }
        // exactly once: one paid request per line, every one dispatched at an ask within the limit
        expect(batcher.payer.receipts()).toHaveLength(LINES);
        for (const l of batcher.store.lines(batch.id)) expect(l.priceMsat ?? Infinity).toBeLessThanOrEqual(limit);
        expect(result.summary).toMatchObject({ status: 'completed', done: LINES, failed: 0, expired: 0 });
        expect(result.summary.pauses).toBeGreaterThanOrEqual(2);
        expect(result.summary.spentMsat).toBe(batcher.payer.receipts().reduce((s, r) => s + r.chargedMsat, 0));
        expect((wallet.balance() + wallet.incomingBalance()) + wallet.feesPaid() + (net.providerHeldSat() - held)).toBe(1000);
      } finally {
        await batcher.close();
      }
    });

    it('on the deadline a batch that never got its price returns partial results and a summary, nothing spent', async () => {
      const { wallet } = await net.newWallet(50, { name: 'late' });
      const batcher = await openOrders({ wallet, market });
      try {
        const bodies = [0, 1, 2].map((i) => ({ messages: [{ role: 'user', content: `late ${i}` }], max_tokens: 1 }));
        const limit = limitBetween(LOW, MID, { ...bodies[0], model: net.model });
        const batch = batcher.runBatch(bodies, { model: net.model, maxPrice: limit, deadline: Date.now() + 300, concurrency: 2 });
        const result = await batch.result;
        expect(result.status).toBe('expired');
        expect(result.output).toBe('');
        const errors = result.errors.trim().split('\n').map((l) => JSON.parse(l) as Record<string, any>);
        expect(errors.map((e) => e['custom_id'])).toEqual(['request-1', 'request-2', 'request-3']);
        for (const e of errors) {
          expect(e['response']).toBeNull();
          expect(e['error'].code).toBe('batch_expired');
        }
        expect(result.summary).toMatchObject({ status: 'expired', done: 0, expired: 3, spentMsat: 0 });
        expect(result.summary.text).toContain('expired');
        expect((wallet.balance() + wallet.incomingBalance())).toBe(50);
      } finally {
        await batcher.close();
      }
    });
  });
});
