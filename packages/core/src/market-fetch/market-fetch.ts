/**
 * The market behind every framework adapter (AI SDK, LangChain, MCP): a lazily opened wallet,
 * market and orders, and one way to buy a request the way its call asks — at market (the Payer's
 * selection and failover, under the call's price limit) or as a durable limit buy that rests
 * until the book crosses the limit (`Orders.runWhenCheaper`, streamed or not). `buy` is that way;
 * `fetch` is the same as an OpenAI-compatible `fetch`, where a call is named by the
 * `x-routstr-call` header the adapter sets so its own receipt can be handed back.
 *
 * Layers: Payer.send ← Orders ← MarketFetch ← adapters. Framework-free on purpose.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { EventEmitter } from 'node:events';
import { openMarket, type Market, type PricedAsk } from '../market/index.ts';
import { openOrders, OrderCancelled, type FillInfo, type Orders } from '../orders/index.ts';
import { openWallet, type EcashWallet } from '../wallet/index.ts';
import { isPostgresUrl } from '../storage/index.ts';
import { paidRoute, type PaidResponse, type Receipt } from '../payments/index.ts';
import { RoutstrConfigError } from './errors.ts';
import { resolveKitConfig, type Env, type KitConfig } from '../config/index.ts';
import { fromKitConfig, kitOptions, type OrderSettings, type ResolvedRoutstrSettings, type RoutstrSettings } from './routstr-settings.ts';

/** One adapter call: how it buys, and once its request was paid, its own receipt and (limit buys) its fill. */
export interface CallRecord {
  readonly id: string;
  readonly settings: OrderSettings;
  /** This call's own receipt: settles once its answer was read (a stream ended or was broken off) and the change is stored. */
  receipt: Promise<Receipt> | undefined;
  fill: FillInfo | undefined;
  /** The market's typed error, when the request failed before an answer. */
  error: unknown;
}

/** A bought request: the provider's answer, its own receipt, and for limit buys where it filled. */
export interface Bought {
  readonly response: Response;
  readonly receipt: Promise<Receipt>;
  readonly fill: FillInfo | undefined;
}

function newCall(settings: OrderSettings): CallRecord {
  return { id: randomUUID(), settings, receipt: undefined, fill: undefined, error: undefined };
}

/** The header that names a call; it is read here and never leaves (the Payer builds its own request). */
export const CALL_HEADER = 'x-routstr-call';

const DEFAULT_DEADLINE_MS = 600_000;

/** The opened parts. */
export interface MarketParts {
  readonly wallet: EcashWallet;
  readonly market: Market;
  readonly orders: Orders;
}

/** What a MarketFetch tells listeners: a limit call started resting, filled at an ask, or a call's receipt settled. */
export interface MarketFetchEvents {
  resting: [{ callId: string; model: string; orderId: string | undefined }];
  filling: [{ callId: string; model: string; ask: PricedAsk }];
  receipt: [{ callId: string; receipt: Receipt }];
}

/** The lazily opened market of an adapter, and its paying `fetch`. */
export class MarketFetch extends EventEmitter<MarketFetchEvents> {
  readonly settings: ResolvedRoutstrSettings;
  /** Calls begun whose request has not gone out yet: `fetch` takes a call out, `end` forgets it. */
  readonly #calls = new Map<string, CallRecord>();
  #parts: Promise<MarketParts> | undefined;
  #owned: { wallet?: EcashWallet; market?: Market } = {};
  /** ROUTSTR_KIT_MNEMONIC, kept out of `settings` so it is never logged with them. */
  readonly #mnemonic: string | undefined;

  /**
   * Resolves `settings` at once (a bad setting throws ConfigError here, not at the first call); opens nothing.
   * `config`: settings a caller already resolved (the MCP server's); default: `settings` over `env`, the config file, the defaults.
   */
  constructor(settings: RoutstrSettings, env: Env = {}, config: KitConfig = resolveKitConfig({ options: kitOptions(settings), env })) {
    super();
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

  /** Forgets `call` and gives its receipt once it settled (after its answer was read, or its stream ended); undefined when nothing was paid. */
  async end(call: CallRecord): Promise<Receipt | undefined> {
    this.forget(call);
    return call.receipt?.catch(() => undefined);
  }

  /** How many calls were begun and have not sent their request yet (a call is forgotten once it did, or ended). */
  waitingCalls(): number {
    return this.#calls.size;
  }

  /** Forgets `call` without waiting for its receipt (the call failed; a receipt still goes out on the `receipt` event). */
  forget(call: CallRecord): void {
    this.#calls.delete(call.id);
  }

  /** The OpenAI-compatible `fetch` the framework's client is given. */
  readonly fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = input instanceof Request ? input.url : input instanceof URL ? input.href : String(input);
    const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
    // a request without a call header (the fetch used on its own) buys at market, unrecorded
    const call = this.#calls.get(headers.get(CALL_HEADER) ?? '') ?? newCall({});
    this.#calls.delete(call.id);
    const route = paidRoute(url);
    const method = (init?.method ?? (input instanceof Request ? input.method : 'GET')).toUpperCase();
    const signal = init?.signal ?? (input instanceof Request ? input.signal : undefined) ?? undefined;
    if (!route || method !== 'POST') {
      return new Response(JSON.stringify({ error: { message: `${method} ${url} is not a paid route`, type: 'invalid_request_error', code: 'not_found' } }), { status: 404, headers: { 'content-type': 'application/json' } });
    }
    const text = init?.body !== undefined && init.body !== null ? await new Response(init.body).text() : input instanceof Request ? await input.text() : '';
    const body = JSON.parse(text) as Record<string, unknown>;
    try {
      const bought = await this.buy(route, body, call.settings, signal);
      call.receipt = bought.receipt;
      call.fill = bought.fill;
      bought.receipt.then((receipt) => this.emit('receipt', { callId: call.id, receipt }), () => undefined);
      return bought.response;
    } catch (error) {
      call.error = error;
      throw error;
    }
  };

  /**
   * Buys one request to `route` the way `settings` say: at market under `maxPrice` (refused by the Payer with
   * PriceAboveLimit, nothing spent), or as a limit buy that rests until the book crosses `maxPrice` and is paid
   * at exactly the crossing ask's quote. `callId` names the call in the `resting`/`filling` events.
   */
  async buy(route: string, body: Record<string, unknown>, settings: OrderSettings, signal?: AbortSignal, callId: string = randomUUID()): Promise<Bought> {
    const parts = await this.open();
    signal?.throwIfAborted();
    if (settings.order === 'limit') return this.#limit(parts, callId, settings, body, signal);
    await this.#bookHas(parts.market, String(body['model']), signal);
    const paid = await parts.orders.send(route, body, { ...(settings.maxPrice !== undefined ? { maxPrice: settings.maxPrice } : {}), ...(signal ? { signal } : {}) });
    return { response: paid.response, receipt: paid.receipt, fill: undefined };
  }

  /** Closes what this instance opened (a wallet or market passed in stays open). */
  async close(): Promise<void> {
    if (!this.#parts) return;
    const parts = this.#parts;
    this.#parts = undefined;
    const { orders } = await parts.catch(() => ({ orders: undefined }));
    await orders?.close();
    this.#closeOwned();
  }

  #closeOwned(): void {
    this.#owned.market?.close();
    this.#owned.wallet?.close();
    this.#owned = {};
  }

  async #open(): Promise<MarketParts> {
    const s = this.settings;
    try {
      let wallet = s.wallet;
      if (!wallet) {
        // the wallet file holds the seed and proofs: a folder the kit creates is the user's alone
        if (!isPostgresUrl(s.walletPath)) mkdirSync(dirname(s.walletPath), { recursive: true, mode: 0o700 });
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
      const orders = await openOrders({ wallet, market, mode: s.mode, profile: s.profile, budget: s.budget, ...(s.clock ? { clock: s.clock } : {}) });
      return { wallet, market, orders };
    } catch (error) {
      // what could not open must not keep relay sockets or the wallet open (the process would never exit)
      this.#closeOwned();
      throw error;
    }
  }

  /** A durable limit buy (`Orders.runWhenCheaper`); a stream is read from the fill as it starts. */
  async #limit(parts: MarketParts, callId: string, settings: OrderSettings, body: Record<string, unknown>, signal: AbortSignal | undefined): Promise<Bought> {
    const { maxPrice } = settings;
    if (maxPrice === undefined) throw new RoutstrConfigError('a limit order needs maxPrice');
    const d = settings.deadline ?? DEFAULT_DEADLINE_MS;
    const deadline = d instanceof Date ? d.getTime() : parts.orders.clock.now() + d;
    let onStream: (paid: PaidResponse) => void = () => undefined;
    const streamed = new Promise<PaidResponse>((resolve) => (onStream = resolve));
    const reader = body['stream'] === true ? { onResponse: (paid: PaidResponse) => onStream(paid), ...(signal ? { signal } : {}) } : undefined;
    const order = parts.orders.runWhenCheaper(body as Record<string, unknown> & { model: string }, { maxPrice, deadline, ...(reader ? { reader } : {}) });
    const onAbort = (): void => void order.cancel();
    signal?.addEventListener('abort', onAbort, { once: true });
    const filling = (ask: PricedAsk): void => void this.emit('filling', { callId, model: order.model, ask });
    // a book already at the limit fills while the order is placed
    if (order.ask) filling(order.ask);
    else order.once('filling', ({ ask }) => filling(ask));
    if (order.state === 'resting') this.emit('resting', { callId, model: order.model, orderId: order.id });
    if (signal?.aborted) onAbort();
    try {
      if (reader) {
        // the order settles only once the stream was read: answer as soon as the fill streams (or the order ends unfilled)
        const paid = await Promise.race([streamed, order.result.then(() => streamed)]);
        return { response: paid.response, receipt: paid.receipt, fill: order.fill };
      }
      const result = await order.result;
      return { response: new Response(JSON.stringify(result.response), { status: 200, headers: { 'content-type': 'application/json' } }), receipt: Promise.resolve(result.receipt), fill: result.fill };
    } catch (error) {
      if (error instanceof OrderCancelled && signal?.aborted) throw signal.reason;
      throw error;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
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
