/**
 * `openOrders`: the three ways to buy — market buy (`send`, `marketBuy`), limit buy
 * (`runWhenCheaper`), limit-buy batch (`runBatch`) — over one Payer: a market buy is the Payer's
 * selection under the caller's price limit, a fill pins the crossing ask (`PayOptions.ask`).
 * Opening it resumes resting orders and reconciles fills a crash interrupted (against the wallet
 * journal, after the Payer's own recovery has settled the tokens), so every order ends in exactly one state.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Market, RequestShape } from '../market/index.ts';
import { Payer, requestShape, type MaxPrice, type PaidResponse, type PayerOptions, type Receipt } from '../payments/payer/index.ts';
import type { EcashWallet } from '../wallet/index.ts';
import { Batch } from './batch.ts';
import { InvalidBatch, OrderError } from './errors.ts';
import { Filler, type StreamReader } from './fill.ts';
import { LimitOrder, limitMsat } from './limit-order.ts';
import { systemOrderClock, type OrderClock } from './order-clock.ts';
import { OrderStore, type UnreadableOrderRow } from './order-store.ts';

/** An OpenAI chat completion request (the body `POST /v1/chat/completions` takes). */
export type OrderRequest = Record<string, unknown> & { model: string };

export interface OpenOrdersOptions extends Omit<PayerOptions, 'wallet' | 'market' | 'maxPrice'> {
  wallet: EcashWallet;
  market: Market;
  /** Route the requests go to (default `v1/chat/completions`). */
  path?: string;
  /** Clock and timers of deadlines (default the wall clock; tests move a ManualOrderClock). */
  clock?: OrderClock;
}

export interface MarketBuyResult {
  readonly response: Record<string, unknown>;
  readonly receipt: Receipt;
}

/** One line of an OpenAI batch input file, or a bare request body (its custom_id is then `request-<n>`). */
export type BatchInput = ReadonlyArray<{ custom_id: string; body: Record<string, unknown>; method?: string; url?: string } | Record<string, unknown>>;

export interface RunBatchOptions {
  model: string;
  maxPrice: MaxPrice;
  /** Epoch ms (or a Date). */
  deadline: number | Date;
  /** Lines in flight at once (default 4). */
  concurrency?: number;
  /** Shape the limit refers to (default: the first line's). */
  shape?: RequestShape;
}

/** What `open` found of earlier runs. */
export interface OrdersRecovery {
  /** Resting orders that resumed. */
  resumed: number;
  /** Filling orders settled by the journal: back to resting (nothing was taken) or failed (paid, answer lost). */
  reconciled: number;
  /** Stored orders that cannot be read: left as stored, not resumed, reported here. */
  unreadable: UnreadableOrderRow[];
}

/** The orders of one wallet on one market; see openOrders. */
export class Orders {
  readonly payer: Payer;
  readonly market: Market;
  readonly wallet: EcashWallet;
  readonly store: OrderStore;
  readonly path: string;
  readonly clock: OrderClock;
  readonly #filler: Filler;
  readonly #live = new Map<string, LimitOrder>();
  readonly #batches = new Map<string, Batch>();

  constructor(options: OpenOrdersOptions) {
    const { market, wallet, path, clock, ...payerOptions } = options;
    this.clock = clock ?? systemOrderClock;
    this.market = market;
    this.wallet = wallet;
    this.path = (path ?? 'v1/chat/completions').replace(/^\//, '');
    this.store = new OrderStore(wallet.store);
    this.payer = new Payer({ ...payerOptions, wallet, market });
    this.#filler = new Filler(this.payer, wallet);
  }

  /**
   * Pays for one request to `path` now, at the market (the Payer's selection and failover); with `maxPrice`
   * the Payer refuses every ask above it (PriceAboveLimit, nothing spent). The answer comes with its own receipt.
   */
  send(path: string, body: Record<string, unknown>, options: { maxPrice?: MaxPrice; signal?: AbortSignal } = {}): Promise<PaidResponse> {
    const maxPriceMsat = options.maxPrice === undefined ? undefined : limitMsat(options.maxPrice, requestShape(body));
    return this.payer.send(path, body, { ...(maxPriceMsat !== undefined ? { maxPriceMsat } : {}), ...(options.signal ? { signal: options.signal } : {}) });
  }

  /** Buys now from the market (selection profile, failover) and reads the JSON answer; see `send`. */
  async marketBuy(request: OrderRequest, options: { maxPrice?: MaxPrice; signal?: AbortSignal } = {}): Promise<MarketBuyResult> {
    const paid = await this.send(this.path, { ...request, stream: false }, options);
    const response = JSON.parse(await paid.response.text()) as Record<string, unknown>;
    return { response, receipt: await paid.receipt };
  }

  /**
   * Places a durable limit buy: rests until an ask for the request's shape is at or below `maxPrice`, then fills at it.
   * A request with `stream: true` streams its fill to `reader` (given by the caller that reads it); resumed after a
   * restart, with nobody reading, it fills as a JSON request.
   */
  runWhenCheaper(request: OrderRequest, options: { maxPrice: MaxPrice; deadline: number | Date; shape?: RequestShape; reader?: StreamReader }): LimitOrder {
    if (typeof request.model !== 'string' || request.model === '') throw new OrderError('invalid_request', 'the request names no model');
    const body = { ...request, stream: request['stream'] === true };
    const shape = options.shape ?? requestShape(body);
    // checked before anything is stored: a row that cannot be read back must never be written
    const deadline = checkOrderValues(options.maxPrice, +options.deadline);
    const id = `lo_${randomUUID()}`;
    this.store.insertLimit({ id, request: body, maxPrice: options.maxPrice, shape, deadline });
    this.#warm(request.model);
    const order = this.#make(id, options.reader);
    order.start('placed');
    return order;
  }

  /** Runs a limit-buy batch from request bodies, OpenAI batch lines, or a JSONL file path. */
  runBatch(input: BatchInput | string, options: RunBatchOptions): Batch {
    const lines = parseBatchInput(input, options.model);
    const first = lines[0];
    const shape = options.shape ?? (first ? requestShape(first.body) : { inputTokens: 0, outputTokens: 0 });
    const deadline = checkOrderValues(options.maxPrice, +options.deadline);
    const concurrency = options.concurrency ?? 4;
    if (!Number.isSafeInteger(concurrency) || concurrency < 1) throw new OrderError('invalid_order', `concurrency must be a whole number of at least 1, got ${String(concurrency).slice(0, 40)}`);
    const id = `batch_${randomUUID()}`;
    const record = { id, state: 'running', model: options.model, maxPrice: options.maxPrice, deadline, concurrency };
    this.store.insertBatch(record, lines);
    this.#warm(options.model);
    const batch = new Batch({ ...record, maxPrice: options.maxPrice, shape }, { market: this.market, store: this.store, filler: this.#filler, path: this.path, clock: this.clock });
    this.#batches.set(id, batch);
    void batch.result.then(() => this.#batches.delete(id));
    batch.start();
    return batch;
  }

  /** A limit order of this wallet (live, or restored from the store with its final state). */
  get(id: string): LimitOrder | undefined {
    const live = this.#live.get(id);
    if (live) return live;
    const record = this.store.limit(id);
    if (!record) return undefined;
    const order = new LimitOrder(record, this.#deps());
    order.settleFromRecord(record);
    return order;
  }

  /** Orders resting or filling in this process. */
  live(): LimitOrder[] {
    return [...this.#live.values()];
  }

  /** Resumes resting orders and reconciles interrupted fills (run by openOrders after the Payer's recovery). */
  async resume(): Promise<OrdersRecovery> {
    await this.payer.ready.catch(() => undefined);
    let reconciled = 0;
    for (const rec of this.store.limitsIn('filling')) {
      const spend = rec.fillRequestId ? this.#filler.spendOf(rec.fillRequestId) : ({ state: 'none', spentSat: 0 } as const);
      if (spend.state === 'none') {
        this.store.moveLimit(rec.id, ['filling'], 'resting', { fill: null, fillRequestId: null });
      } else {
        // the provider took the token: the fill was paid for but its answer died with the process
        this.store.moveLimit(rec.id, ['filling'], 'failed', {
          error: { code: 'fill_interrupted', message: `the fill was paid (${spend.spentSat} sat) but the process stopped before its answer arrived`, spentSat: spend.spentSat },
        });
      }
      reconciled += 1;
    }
    let resumed = 0;
    for (const rec of this.store.limitsIn('resting')) {
      if (this.#live.has(rec.id)) continue;
      this.#warm(String(rec.request['model']));
      const order = this.#make(rec.id);
      order.start('resumed');
      resumed += 1;
    }
    return { resumed, reconciled, unreadable: this.store.unreadableLimits() };
  }

  /** Stops listening (resting orders stay stored and resume on the next open), then closes the payer. */
  async close(): Promise<void> {
    for (const o of this.#live.values()) o.detach();
    for (const b of this.#batches.values()) b.cancel();
    await Promise.allSettled([...this.#batches.values()].map((b) => b.result));
    await this.payer.close();
  }

  #deps(): ConstructorParameters<typeof LimitOrder>[1] {
    return { market: this.market, store: this.store, filler: this.#filler, path: this.path, clock: this.clock, onSettled: (o) => this.#live.delete(o.id) };
  }

  #make(id: string, reader?: StreamReader): LimitOrder {
    const record = this.store.limit(id);
    if (!record) throw new OrderError('unknown_order', `no order ${id}`);
    const order = new LimitOrder(record, this.#deps(), reader);
    this.#live.set(id, order);
    return order;
  }

  // the first fill should not wait for the provider's /v1/models: read it while the order rests
  #warm(model: string): void {
    for (const ask of this.market.book.asks(model)) {
      const url = this.market.registry.get(ask.provider)?.urls[0];
      if (url) this.payer.directory.get(url.endsWith('/') ? url : `${url}/`).catch(() => undefined);
    }
  }
}

/** Epoch ms a Date can hold. */
const MAX_EPOCH_MS = 8.64e15;

/**
 * Refuses a limit or deadline that could not be stored and read back (OrderError `invalid_order`);
 * returns the deadline as whole epoch ms (rounded up: an order never ends before its deadline).
 */
function checkOrderValues(maxPrice: MaxPrice, deadline: number): number {
  const ok = (v: unknown): boolean => typeof v === 'number' && v > 0 && v <= Number.MAX_SAFE_INTEGER;
  if (typeof maxPrice === 'number' ? !ok(maxPrice) : !(ok(maxPrice.prompt) && ok(maxPrice.completion))) {
    throw new OrderError('invalid_order', 'maxPrice must be a positive number of msat (or of msat per million tokens, each way) up to 2^53');
  }
  if (!Number.isFinite(deadline) || deadline <= 0 || deadline > MAX_EPOCH_MS) {
    throw new OrderError('invalid_order', `deadline must be epoch milliseconds a Date can hold (at most ${MAX_EPOCH_MS}), got ${String(deadline).slice(0, 40)}`);
  }
  return Math.ceil(deadline);
}

/** Normalises batch input to `{ customId, body }` lines (custom_ids unique, model filled in). */
export function parseBatchInput(input: BatchInput | string, model: string): Array<{ customId: string; body: Record<string, unknown> }> {
  let items: BatchInput;
  if (typeof input === 'string') {
    items = readFileSync(input, 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '')
      .map((l, i) => {
        try {
          return JSON.parse(l) as Record<string, unknown>;
        } catch {
          throw new InvalidBatch(`line ${i + 1} of ${input} is not JSON`);
        }
      });
  } else items = input;
  const seen = new Set<string>();
  return items.map((item, i) => {
    const isLine = typeof item['custom_id'] === 'string' && typeof item['body'] === 'object' && item['body'] !== null;
    const customId = isLine ? String(item['custom_id']) : `request-${i + 1}`;
    const body = { ...((isLine ? item['body'] : item) as Record<string, unknown>) };
    if (body['model'] === undefined) body['model'] = model;
    if (seen.has(customId)) throw new InvalidBatch(`custom_id ${customId} appears twice`);
    seen.add(customId);
    return { customId, body };
  });
}

/** Opens the orders of `wallet` on `market`: resumes resting orders and reconciles interrupted fills. */
export async function openOrders(options: OpenOrdersOptions): Promise<Orders> {
  const orders = new Orders(options);
  await orders.resume();
  return orders;
}
