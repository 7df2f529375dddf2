/**
 * The hook orders need from the Payer without changing it: a fill must go to the provider and
 * ask (with its quote) that triggered it, so the fill price is the price that crossed the limit.
 * The Payer routes through `market.select()` and pays through `wallet.send()`; both run inside
 * the async context of `payer.request()`, so an AsyncLocalStorage pin set around that call
 * narrows the selection to the pinned ask and tells the order which request id paid for it
 * (journaled before the token leaves, which crash recovery relies on).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Market, PricedAsk, Selection, SelectionRequest } from '../market/index.ts';
import type { AttemptRecord, PayerMarket } from '../payments/payer/index.ts';
import type { EcashWallet, SendOptions } from '../wallet/index.ts';

/** What one pinned request goes to, and who hears of its payment. */
export interface FillPin {
  /** Go to this provider at this ask (its quote id travels as `X-Routstr-Quote`); undefined: ordinary selection. */
  readonly ask?: PricedAsk;
  /** Ordinary selection, but no ask above this many msats for the request's shape. */
  readonly maxPriceMsat?: number;
  /** Called synchronously with the Payer's request id before the first token of this request leaves. */
  readonly onRequestId?: (requestId: string) => void;
  /** Aborted when a try fails, so the Payer does not retry at another (unquoted) price. */
  readonly abort?: AbortController;
  /** Failed tries of this request land here (the Payer's `onAttemptFailed`). */
  readonly attempts?: AttemptRecord[];
}

const pins = new AsyncLocalStorage<FillPin>();

/** Runs `fn` (a `payer.request(...)`) with `pin` in force. */
export function withPin<T>(pin: FillPin, fn: () => Promise<T>): Promise<T> {
  return pins.run(pin, fn);
}

/** The pin of the request running in this async context, if any. */
export function currentPin(): FillPin | undefined {
  return pins.getStore();
}

/** A PayerMarket over `market` that honours pins. */
export function pinnableMarket(market: Market): PayerMarket {
  return {
    select(request: SelectionRequest): Selection {
      const pin = pins.getStore();
      if (pin?.ask) {
        const record = market.registry.get(pin.ask.provider);
        if (!record) return { model: request.model, providers: [], rejected: [] };
        return { model: request.model, providers: [{ provider: pin.ask.provider, ask: pin.ask, score: 1, pubkey: record.pubkey, host: record.urls[0] ?? '' }], rejected: [] };
      }
      if (pin?.maxPriceMsat !== undefined) return market.select({ ...request, maxPriceMsat: pin.maxPriceMsat });
      return market.select(request);
    },
    reportFailure: (provider, report) => market.reportFailure(provider, report),
    reportSuccess: (provider, latencyMs) => market.reportSuccess(provider, latencyMs),
    registry: market.registry,
  };
}

/** `wallet` as the Payer sees it: `send` tells the pinned request its request id first. */
export function tappedWallet(wallet: EcashWallet): EcashWallet {
  return new Proxy(wallet, {
    get(target, prop) {
      if (prop === 'send') {
        return (amount: Parameters<EcashWallet['send']>[0], options: SendOptions) => {
          const pin = pins.getStore();
          if (pin?.onRequestId && options.requestId) pin.onRequestId(options.requestId);
          return target.send(amount, options);
        };
      }
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}
