/**
 * `LimitOrder`: a durable limit buy. It rests until some ask for its model, priced for its
 * request's shape, is at or below the limit — checked synchronously on every ask change of the
 * book, no polling — then fills at that very ask, sending the tick's quote so that the price
 * that triggered the fill is the price billed. A fill that fails at that provider (and took
 * nothing) goes back to resting and skips that ask until the provider quotes again.
 * A streamed buy rests the same way; its fill streams to the reader that placed it, or — resumed
 * after a restart, when nobody is reading — fills as a plain JSON request like any other.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { priceForShape, type AskChange, type Market, type PricedAsk, type RequestShape } from '../market/index.ts';
import type { MaxPrice, Receipt } from '../payments/payer/index.ts';
import { failpoint } from '../wallet/failpoint.ts';
import { OrderCancelled, OrderExpired, OrderFailed } from './errors.ts';
import type { Filler, StreamReader } from './fill.ts';
import { atDeadline, type OrderClock } from './order-clock.ts';
import type { LimitOrderRecord, LimitOrderState, OrderStore } from './order-store.ts';

/** Where and at what price a limit order filled. */
export interface FillInfo {
  /** The triggering ask: msats for the request's shape, and its msat/Mtok prices. */
  readonly price: { readonly msat: number; readonly prompt: number; readonly completion: number };
  readonly provider: string;
  /** The tick's event id sent as `X-Routstr-Quote` (undefined when the ask came from `/v1/models` or the announcement). */
  readonly quote: string | undefined;
  /** From placing the order to the start of the fill, ms. */
  readonly restedMs: number;
}

export interface LimitOrderResult {
  /** The provider's JSON answer (OpenAI chat.completion); for a streamed fill `STREAMED_ANSWER` (the reader got the stream). */
  readonly response: Record<string, unknown>;
  readonly receipt: Receipt;
  readonly fill: FillInfo;
}

/** Events: one per state, with the order's snapshot; `filling` carries the ask, `filled` the result. */
export interface LimitOrderEvents {
  resting: [{ id: string; reason: 'placed' | 'resumed' | 'fill-failed' }];
  filling: [{ id: string; ask: PricedAsk; at: number }];
  filled: [LimitOrderResult];
  expired: [{ id: string }];
  cancelled: [{ id: string }];
  failed: [OrderFailed];
  state: [LimitOrderState];
}

/** A price cap applied to an ask for a shape. */
export function withinLimit(ask: { prompt: number; completion: number }, limit: MaxPrice, shape: RequestShape): boolean {
  return typeof limit === 'number' ? priceForShape(ask, shape) <= limit : ask.prompt <= limit.prompt && ask.completion <= limit.completion;
}

/** The limit in msats for `shape`. */
export function limitMsat(limit: MaxPrice, shape: RequestShape): number {
  return typeof limit === 'number' ? limit : priceForShape(limit, shape);
}

/** Which ask a failed fill went to: the same provider must quote again before it is tried again. */
const askKey = (a: PricedAsk): string => `${a.provider}|${a.source}|${a.quoteId ?? ''}|${a.since}|${a.prompt}|${a.completion}`;

interface Deps {
  readonly market: Market;
  readonly store: OrderStore;
  readonly filler: Filler;
  readonly path: string;
  readonly clock: OrderClock;
  readonly onSettled: (order: LimitOrder) => void;
}

/** A resting limit buy; see the module comment. `await order.result` for the fill. */
export class LimitOrder extends EventEmitter<LimitOrderEvents> {
  readonly id: string;
  readonly request: Record<string, unknown>;
  readonly model: string;
  readonly maxPrice: MaxPrice;
  readonly shape: RequestShape;
  /** Epoch ms. */
  readonly deadline: number;
  readonly placedAt: number;
  /** Resolves with the fill; rejects with OrderExpired, OrderCancelled or OrderFailed. */
  readonly result: Promise<LimitOrderResult>;
  /** Ms from the book change that crossed the limit to the fill's payment starting (undefined until then). */
  triggerLatencyMs: number | undefined;
  /** The ask this order is filling or filled at, and where (set when a fill starts in this process). */
  ask: PricedAsk | undefined;
  fill: FillInfo | undefined;
  readonly #deps: Deps;
  readonly #reader: StreamReader | undefined;
  readonly #key: string;
  readonly #skip = new Set<string>();
  #state: LimitOrderState;
  #off: (() => void) | undefined;
  #cancelTimer: (() => void) | undefined;
  #cancelRequested = false;
  #resolve: (r: LimitOrderResult) => void = () => undefined;
  #reject: (e: unknown) => void = () => undefined;

  /** `reader`: who reads a streamed fill (only in the process that placed the order). */
  constructor(record: LimitOrderRecord, deps: Deps, reader?: StreamReader) {
    super();
    this.#deps = deps;
    this.#reader = record.request['stream'] === true ? reader : undefined;
    this.id = record.id;
    this.request = record.request;
    this.model = String(record.request['model']);
    this.maxPrice = record.maxPrice as MaxPrice;
    this.shape = record.shape;
    this.deadline = record.deadline;
    this.placedAt = record.createdAt;
    this.#state = record.state;
    this.#key = deps.market.book.resolver.key(this.model);
    this.result = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    this.result.catch(() => undefined);
  }

  get state(): LimitOrderState {
    return this.#state;
  }

  /** Starts resting (subscribes to the book, arms the deadline) and fills at once if the book is already at or below the limit. */
  start(reason: 'placed' | 'resumed'): void {
    if (this.#state !== 'resting') return;
    this.#off = this.#deps.market.onAskChange((c) => this.#onAskChange(c));
    if (this.deadline <= this.#deps.clock.now()) {
      this.#expire();
      return;
    }
    // re-armed in steps: a single setTimeout past ~24.8 days would fire at once
    this.#cancelTimer = atDeadline(this.#deps.clock, this.deadline, () => this.#expire());
    this.#emitState('resting', { id: this.id, reason });
    this.#tryBook();
  }

  /** Cancels a resting order (nothing spent); a filling order is cancelled only if its fill fails. Returns whether it is cancelled now. */
  cancel(): boolean {
    if (this.#state === 'resting') {
      if (!this.#deps.store.moveLimit(this.id, ['resting'], 'cancelled')) return false;
      this.#end('cancelled');
      this.emit('cancelled', { id: this.id });
      this.#reject(new OrderCancelled(this.id));
      return true;
    }
    if (this.#state === 'filling') this.#cancelRequested = true;
    return false;
  }

  /** Ends a restored order that is already final (result from the store). */
  settleFromRecord(record: LimitOrderRecord): void {
    this.#state = record.state;
    if (record.state === 'filled' && record.result) this.#resolve(record.result as unknown as LimitOrderResult);
    else if (record.state === 'expired') this.#reject(new OrderExpired(this.id));
    else if (record.state === 'cancelled') this.#reject(new OrderCancelled(this.id));
    else if (record.state === 'failed') this.#reject(new OrderFailed(this.id, record.error?.code ?? 'failed', record.error?.message ?? 'failed', Number((record.error as { spentSat?: number } | null)?.spentSat ?? 0)));
  }

  #onAskChange(c: AskChange): void {
    if (this.#state !== 'resting' || c.model !== this.#key || !c.current) return;
    const ask = this.#deps.market.book.asks(this.model, this.shape).find((a) => a.provider === c.provider);
    if (ask && this.#eligible(ask)) this.#fill(ask, performance.now());
  }

  #tryBook(): void {
    if (this.#state !== 'resting') return;
    const ask = this.#deps.market.book.asks(this.model, this.shape).find((a) => this.#eligible(a));
    if (ask) this.#fill(ask, performance.now());
  }

  #eligible(ask: PricedAsk): boolean {
    return withinLimit(ask, this.maxPrice, this.shape) && !this.#skip.has(askKey(ask)) && this.#deps.market.registry.get(ask.provider) !== undefined;
  }

  #fill(ask: PricedAsk, triggeredAt: number): void {
    const startedAt = this.#deps.clock.now();
    const fill = { provider: ask.provider, quote: ask.quoteId, priceMsat: ask.priceMsat, prompt: ask.prompt, completion: ask.completion, source: ask.source, at: startedAt };
    // the request id is stored with the move to filling, before any token can leave: recovery links the order to its tokens
    const requestId = randomUUID();
    if (!this.#deps.store.moveLimit(this.id, ['resting'], 'filling', { fill, fillRequestId: requestId })) return;
    this.#state = 'filling';
    const info: FillInfo = { price: { msat: ask.priceMsat, prompt: ask.prompt, completion: ask.completion }, provider: ask.provider, quote: ask.quoteId, restedMs: startedAt - this.placedAt };
    this.ask = ask;
    this.fill = info;
    this.emit('filling', { id: this.id, ask, at: startedAt });
    this.emit('state', 'filling');
    failpoint('orders:after-filling');
    this.triggerLatencyMs ??= performance.now() - triggeredAt;
    const run = this.#deps.filler.at(this.#deps.path, this.request, ask, requestId, this.#reader);
    void run.then((out) => {
      if (out.ok) {
        const result: LimitOrderResult = { response: out.response, receipt: out.receipt, fill: info };
        this.#deps.store.moveLimit(this.id, ['filling'], 'filled', { result });
        this.#end('filled');
        this.emit('filled', result);
        this.#resolve(result);
        return;
      }
      const message = out.error instanceof Error ? out.error.message : String(out.error);
      if (out.final || out.spentSat > 0) {
        const code = out.spentSat > 0 ? 'fill_paid_without_answer' : ((out.error as { code?: string }).code ?? 'fill_failed');
        this.#fail(new OrderFailed(this.id, code, message, out.spentSat, out.error));
        return;
      }
      this.#skip.add(askKey(ask));
      if (this.#cancelRequested || this.#deps.clock.now() >= this.deadline) {
        const to = this.#cancelRequested ? 'cancelled' : 'expired';
        this.#deps.store.moveLimit(this.id, ['filling'], to, { fill: null, fillRequestId: null });
        this.#end(to);
        this.emit(to, { id: this.id });
        this.#reject(to === 'cancelled' ? new OrderCancelled(this.id) : new OrderExpired(this.id));
        return;
      }
      this.#deps.store.moveLimit(this.id, ['filling'], 'resting', { fill: null, fillRequestId: null });
      this.#emitState('resting', { id: this.id, reason: 'fill-failed' });
      this.#tryBook();
    });
  }

  #fail(error: OrderFailed): void {
    this.#deps.store.moveLimit(this.id, ['filling', 'resting'], 'failed', { error: { code: error.code, message: error.message, spentSat: error.spentSat } });
    this.#end('failed');
    this.emit('failed', error);
    this.#reject(error);
  }

  #expire(): void {
    if (this.#state !== 'resting') return;
    if (!this.#deps.store.moveLimit(this.id, ['resting'], 'expired')) return;
    this.#end('expired');
    this.emit('expired', { id: this.id });
    this.#reject(new OrderExpired(this.id));
  }

  #emitState(state: 'resting', payload: LimitOrderEvents['resting'][0]): void {
    this.#state = state;
    this.emit('resting', payload);
    this.emit('state', state);
  }

  #end(state: LimitOrderState): void {
    this.#state = state;
    this.#off?.();
    this.#off = undefined;
    this.#cancelTimer?.();
    this.#cancelTimer = undefined;
    this.emit('state', state);
    this.#deps.onSettled(this);
  }

  /** Stops listening without changing the stored state (the process is closing; the order resumes on the next open). */
  detach(): void {
    this.#off?.();
    this.#off = undefined;
    this.#cancelTimer?.();
    this.#cancelTimer = undefined;
  }
}
