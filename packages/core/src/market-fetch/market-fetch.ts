/**
 * The market behind a framework adapter: a lazily opened wallet, market and orders, and one
 * OpenAI-compatible `fetch` that buys each request the way its call asks — at market (the
 * Payer's selection and failover) or as a limit buy that rests until the book crosses the limit.
 * A call is named by the `x-routstr-call` header the adapter sets, so the receipt of exactly
 * that request can be handed back (the Payer tells a pinned request its id before paying).
 *
 * Framework-free on purpose: the same file serves the AI SDK and the LangChain adapters.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { EventEmitter } from 'node:events';
import { openMarket, type Market, type PricedAsk, type RequestShape, type SelectionProfile } from '../market/index.ts';
import { limitMsat, openOrders, OrderCancelled, OrderExpired, withinLimit, withPin, type FillInfo, type Orders } from '../orders/index.ts';
import { openWallet, type EcashWallet } from '../wallet/index.ts';
import { paidRoute, PriceAboveLimit, requestShape, type MaxPrice, type PaymentMode, type Receipt } from '../payments/index.ts';
import { RoutstrConfigError } from './errors.ts';
import { resolveKitConfig, type Env, type KitBudget, type KitConfig, type ProviderAddresses } from '../config/index.ts';

/**
 * How a buyer reaches the market: a wallet (or its file), relays, mints, and how it pays. Every
 * setting left out is taken from the environment, the config file, then the defaults (core `config`).
 */
export interface RoutstrSettings {
  /** An open wallet (the caller keeps ownership: it is not closed by `close()`). */
  wallet?: EcashWallet;
  /** Or the sqlite file of one, opened on first use with `mints` (default ~/.routstr-kit/wallet.db). */
  walletPath?: string;
  /** Nostr relays announcing providers. */
  relays?: readonly string[];
  /** Mints the wallet uses. */
  mints?: readonly string[];
  /** An open market (the caller keeps ownership); default: one opened on `relays`. */
  market?: Market;
  /** `xcashu` (default): a token per request; `session`: a funded key per provider. */
  mode?: PaymentMode;
  /** Caps checked before any token leaves; `totalSat` is kept in the wallet's database across restarts. */
  budget?: KitBudget;
  profile?: SelectionProfile;
  /** Which provider addresses may be dialled (`public`, `loopback`, `any`). */
  providerAddresses?: ProviderAddresses;
  /** The config file (default: ROUTSTR_KIT_CONFIG, else ~/.routstr-kit/config.json if present). */
  configPath?: string;
  /** How long a market buy waits for a first ask of its model on a book still filling (default 15 000 ms). */
  bookWaitMs?: number;
}

/** Settings after the config contract filled every gap. */
export type ResolvedRoutstrSettings = RoutstrSettings & Pick<KitConfig, 'walletPath' | 'relays' | 'mints' | 'mode' | 'profile' | 'providerAddresses' | 'budget'>;

/**
 * Fills what `settings` leave out from `env`, the config file and the defaults (explicit settings
 * win); a bad value anywhere throws ConfigError naming the setting and its source.
 */
export function resolveRoutstrSettings(settings: RoutstrSettings, env: Env): ResolvedRoutstrSettings {
  return fromKitConfig(settings, resolveKitConfig({ options: kitOptions(settings), env }));
}

/** The settings the config contract knows (not the open wallet or market, not the book wait). */
function kitOptions(settings: RoutstrSettings): Record<string, unknown> {
  const { wallet: _wallet, market: _market, bookWaitMs: _wait, ...options } = settings;
  return options;
}

function fromKitConfig(settings: RoutstrSettings, config: KitConfig): ResolvedRoutstrSettings {
  return { ...settings, walletPath: config.walletPath, relays: config.relays, mints: config.mints, mode: config.mode, profile: config.profile, providerAddresses: config.providerAddresses, budget: config.budget };
}

/** How one model buys: now at the best ask (`market`), or when the book crosses `maxPrice` (`limit`). */
export interface OrderSettings {
  order?: 'market' | 'limit';
  /** Most a request may cost: msats for its shape, or msat/Mtok ceilings. Required with `limit`. */
  maxPrice?: MaxPrice;
  /** Limit orders: a Date, or ms after the call starts (default 600 000). */
  deadline?: Date | number;
}

/** What a call bought: the receipt, and for limit buys where the fill happened. */
export interface CallRecord {
  readonly id: string;
  readonly settings: OrderSettings;
  requestId: string | undefined;
  receipt: Receipt | undefined;
  fill: FillInfo | undefined;
  /** The market's typed error, when the request failed before an answer. */
  error: unknown;
  /** True once the `receipt` event went out. */
  reported?: boolean;
  /** How many receipts the payer had when the request went out, and the model it named. */
  started?: number;
  model?: string;
  /** Set by `endWhenPaid` while it waits for the payer's receipt. */
  onPaid?: (receipt: Receipt) => void;
}

function newCall(settings: OrderSettings): CallRecord {
  return { id: randomUUID(), settings, requestId: undefined, receipt: undefined, fill: undefined, error: undefined };
}

/** The header that names a call; removed before anything leaves. */
export const CALL_HEADER = 'x-routstr-call';

const DEFAULT_DEADLINE_MS = 600_000;

/** The opened parts. */
export interface MarketParts {
  readonly wallet: EcashWallet;
  readonly market: Market;
  readonly orders: Orders;
}

/** Checks order settings once, where the model is made. */
export function checkOrderSettings(settings: OrderSettings): void {
  if (settings.order === 'limit' && settings.maxPrice === undefined) throw new RoutstrConfigError('a limit order needs maxPrice');
  if (settings.order !== undefined && settings.order !== 'market' && settings.order !== 'limit') throw new RoutstrConfigError(`order must be 'market' or 'limit', not ${String(settings.order)}`);
}

/** What a MarketFetch tells listeners: a limit call started resting, or filled at an ask. */
export interface MarketFetchEvents {
  resting: [{ callId: string; model: string; orderId: string | undefined }];
  filling: [{ callId: string; model: string; ask: PricedAsk }];
  receipt: [{ callId: string; receipt: Receipt }];
}

/** The lazily opened market of an adapter, and its paying `fetch`. */
export class MarketFetch extends EventEmitter<MarketFetchEvents> {
  readonly settings: ResolvedRoutstrSettings;
  readonly #calls = new Map<string, CallRecord>();
  readonly #claimed = new Set<string>();
  #parts: Promise<MarketParts> | undefined;
  #owned: { wallet?: EcashWallet; market?: Market } = {};
  /** ROUTSTR_KIT_MNEMONIC, kept out of `settings` so it is never logged with them. */
  readonly #mnemonic: string | undefined;

  /** Resolves `settings` at once (a bad setting throws ConfigError here, not at the first call); opens nothing. */
  constructor(settings: RoutstrSettings, env: Env = {}) {
    super();
    const config = resolveKitConfig({ options: kitOptions(settings), env });
    this.settings = fromKitConfig(settings, config);
    this.#mnemonic = config.mnemonic;
  }

  /** Opens wallet, market and orders on first use (later calls share them). */
  open(): Promise<MarketParts> {
    if (!this.#parts) {
      const parts = this.#open();
      this.#parts = parts;
      // a failed open (missing settings, relay down) is tried again on the next call
      parts.catch(() => {
        if (this.#parts === parts) this.#parts = undefined;
      });
    }
    return this.#parts;
  }

  /** Starts a call with `settings`; its id goes in the `x-routstr-call` header. */
  begin(settings: OrderSettings): CallRecord {
    const call = newCall(settings);
    this.#calls.set(call.id, call);
    return call;
  }

  /** The receipt of `call` (after its answer, or after its stream ended); forgets the call. */
  async end(call: CallRecord): Promise<Receipt | undefined> {
    this.#calls.delete(call.id);
    if (!call.receipt && call.error === undefined && call.started !== undefined && this.#parts) {
      const { orders } = await this.#parts;
      const receipts = orders.payer.receipts();
      call.receipt = receipts.find((r) => r.requestId === call.requestId);
      // session mode pays from a key, not a token per request, so no request id is heard:
      // take the first receipt of this model that came after the call began and no call claimed
      // (exact for calls in sequence; concurrent calls of one model may swap receipts)
      call.receipt ??= receipts.slice(call.started).find((r) => r.model === call.model && !this.#claimed.has(r.requestId));
    }
    if (call.receipt) {
      this.#claimed.add(call.receipt.requestId);
      if (this.#claimed.size > 10_000) this.#claimed.clear();
    }
    if (call.receipt && !call.reported) {
      call.reported = true;
      this.emit('receipt', { callId: call.id, receipt: call.receipt });
    }
    return call.receipt;
  }

  /**
   * Like `end`, but first waits for the payer's receipt: for a stream the caller broke off after its answer began,
   * the payer settles in the background (the node bills what it generated, the change comes from its refund route),
   * and this resolves once that receipt is written. Call it only once the call's response arrived.
   */
  async endWhenPaid(call: CallRecord): Promise<Receipt | undefined> {
    if (!call.receipt && call.error === undefined && call.requestId !== undefined) {
      const requestId = call.requestId;
      const written = this.#parts ? (await this.#parts).orders.payer.receipts().find((r) => r.requestId === requestId) : undefined;
      call.receipt = written ?? (await new Promise<Receipt>((resolve) => (call.onPaid = resolve)));
    }
    return this.end(call);
  }

  /** The OpenAI-compatible `fetch` the framework's client is given. */
  readonly fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = input instanceof Request ? input.url : input instanceof URL ? input.href : String(input);
    const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
    // a request without a call header (the fetch used on its own) buys at market, unrecorded
    const call = this.#calls.get(headers.get(CALL_HEADER) ?? '') ?? newCall({});
    const route = paidRoute(url);
    const method = (init?.method ?? (input instanceof Request ? input.method : 'GET')).toUpperCase();
    const signal = init?.signal ?? (input instanceof Request ? input.signal : undefined) ?? undefined;
    if (!route || method !== 'POST') {
      return new Response(JSON.stringify({ error: { message: `${method} ${url} is not a paid route`, type: 'invalid_request_error', code: 'not_found' } }), { status: 404, headers: { 'content-type': 'application/json' } });
    }
    const text = init?.body !== undefined && init.body !== null ? await new Response(init.body).text() : input instanceof Request ? await input.text() : '';
    const body = JSON.parse(text) as Record<string, unknown>;
    try {
      const parts = await this.open();
      call.started = parts.orders.payer.receipts().length;
      call.model = String(body['model']);
      signal?.throwIfAborted();
      if (call.settings.order === 'limit') return await this.#limit(parts, call, route, body, signal);
      return await this.#marketBuy(parts, call, route, body, signal);
    } catch (error) {
      call.error = error;
      throw error;
    }
  };

  /** Closes what this instance opened (a wallet or market passed in stays open). */
  async close(): Promise<void> {
    if (!this.#parts) return;
    const parts = this.#parts;
    this.#parts = undefined;
    const { orders } = await parts.catch(() => ({ orders: undefined }));
    await orders?.close();
    this.#owned.market?.close();
    this.#owned.wallet?.close();
    this.#owned = {};
  }

  async #open(): Promise<MarketParts> {
    const s = this.settings;
    let wallet = s.wallet;
    if (!wallet) {
      mkdirSync(dirname(s.walletPath), { recursive: true });
      // the seed the CLI's `wallet restore` uses: a fresh file restores from it, another seed is refused
      wallet = await openWallet({ path: s.walletPath, mints: s.mints, ...(this.#mnemonic !== undefined ? { mnemonic: this.#mnemonic } : {}) });
      this.#owned.wallet = wallet;
    }
    let market = s.market;
    if (!market) {
      market = openMarket({ relays: s.relays, allowProviderAddresses: s.providerAddresses });
      this.#owned.market = market;
      await market.ready();
    }
    const orders = await openOrders({
      wallet,
      market,
      mode: s.mode,
      profile: s.profile,
      budget: s.budget,
    });
    return { wallet, market, orders };
  }

  async #marketBuy(parts: MarketParts, call: CallRecord, route: string, body: Record<string, unknown>, signal: AbortSignal | undefined): Promise<Response> {
    const model = String(body['model']);
    await this.#bookHas(parts.market, model, signal);
    const shape = requestShape(body);
    let maxPriceMsat: number | undefined;
    if (call.settings.maxPrice !== undefined) {
      maxPriceMsat = limitMsat(call.settings.maxPrice, shape);
      const best = parts.market.bestAsk(model, shape);
      if (best && best.priceMsat > maxPriceMsat) throw new PriceAboveLimit(model, best, maxPriceMsat);
    }
    const pin = { ...(maxPriceMsat !== undefined ? { maxPriceMsat } : {}), onRequestId: (id: string) => (call.requestId ??= id) };
    return withPin(pin, () => parts.orders.payer.request(route, body, { signal: signal ?? null, onReceipt: (r) => call.onPaid?.(r), ...(maxPriceMsat !== undefined ? { maxPriceMsat } : {}) }));
  }

  async #limit(parts: MarketParts, call: CallRecord, route: string, body: Record<string, unknown>, signal: AbortSignal | undefined): Promise<Response> {
    const { maxPrice } = call.settings;
    if (maxPrice === undefined) throw new RoutstrConfigError('a limit order needs maxPrice');
    const d = call.settings.deadline ?? DEFAULT_DEADLINE_MS;
    const deadline = d instanceof Date ? d.getTime() : Date.now() + d;
    if (body['stream'] !== true) {
      // the core's durable limit order: rests, fills at the crossing ask with its quote
      const order = parts.orders.runWhenCheaper(body as Record<string, unknown> & { model: string }, { maxPrice, deadline });
      const onAbort = (): void => void order.cancel();
      signal?.addEventListener('abort', onAbort, { once: true });
      order.once('filling', ({ ask }) => this.emit('filling', { callId: call.id, model: order.model, ask }));
      if (order.state === 'resting') this.emit('resting', { callId: call.id, model: order.model, orderId: order.id });
      if (signal?.aborted) onAbort();
      try {
        const result = await order.result;
        call.receipt = result.receipt;
        call.requestId = result.receipt.requestId;
        call.fill = result.fill;
        return new Response(JSON.stringify(result.response), { status: 200, headers: { 'content-type': 'application/json' } });
      } catch (error) {
        if (error instanceof OrderCancelled && signal?.aborted) throw signal.reason;
        throw error;
      } finally {
        signal?.removeEventListener('abort', onAbort);
      }
    }
    // a stream cannot go through the stored order (its fill answers JSON): wait for the same
    // crossing, then stream from that ask with its quote, as the order's fill would
    const model = String(body['model']);
    const shape = requestShape(body);
    const ask = await crossing(parts.market, model, maxPrice, shape, deadline, call.id, signal, () => this.emit('resting', { callId: call.id, model, orderId: undefined }));
    this.emit('filling', { callId: call.id, model, ask });
    call.fill = { price: { msat: ask.priceMsat, prompt: ask.prompt, completion: ask.completion }, provider: ask.provider, quote: ask.quoteId, restedMs: 0 };
    return withPin({ ask, onRequestId: (id: string) => (call.requestId ??= id) }, () => parts.orders.payer.request(route, body, { signal: signal ?? null, onReceipt: (r) => call.onPaid?.(r) }));
  }

  /** A market that just opened may not list the model yet: wait a little for its first ask. */
  async #bookHas(market: Market, model: string, signal: AbortSignal | undefined): Promise<void> {
    if (market.bestAsk(model)) return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        off();
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const off = market.onAskChange(() => {
        if (market.bestAsk(model)) done();
      });
      const timer = setTimeout(done, this.settings.bookWaitMs ?? 15_000);
      signal?.addEventListener('abort', done, { once: true });
    });
    signal?.throwIfAborted();
  }
}

/** Resolves with the first ask at or below `maxPrice` (now or on a later book change); rejects at the deadline or on abort. */
function crossing(market: Market, model: string, maxPrice: MaxPrice, shape: RequestShape, deadline: number, id: string, signal: AbortSignal | undefined, onResting: () => void): Promise<PricedAsk> {
  const find = (): PricedAsk | undefined => market.book.asks(model, shape).find((a) => withinLimit(a, maxPrice, shape) && market.registry.get(a.provider) !== undefined);
  return new Promise<PricedAsk>((resolve, reject) => {
    const now = find();
    if (now) return resolve(now);
    const finish = (fn: () => void): void => {
      off();
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      fn();
    };
    const onAbort = (): void => finish(() => reject(signal?.reason));
    const off = market.onAskChange(() => {
      const ask = find();
      if (ask) finish(() => resolve(ask));
    });
    const timer = setTimeout(() => finish(() => reject(new OrderExpired(`stream_${id}`))), Math.max(0, deadline - Date.now()));
    signal?.addEventListener('abort', onAbort, { once: true });
    onResting();
    if (signal?.aborted) onAbort();
  });
}
