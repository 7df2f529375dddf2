/**
 * Failover: a request's tries in order over its providers (the market's failover order, or the one
 * pinned ask). A 429 with a short Retry-After is retried once on the same provider after waiting;
 * a refused quote once at the provider's current price (never for a pinned request). A token a
 * node did not redeem is carried to the next try, and taken back if no try uses it.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { RankedProvider } from '../../market/index.ts';
import type { SentToken } from '../../wallet/index.ts';
import { AllProvidersFailed, ResponseTooLarge, type AttemptRecord } from './errors.ts';
import type { Outcome, PayerMarket, RequestContext } from './payer-types.ts';

/** What failover uses of its payer. */
export interface FailoverDeps {
  readonly market: PayerMarket;
  /** Most providers tried for one request. */
  readonly maxAttempts: number;
  readonly onAttemptFailed: ((attempt: AttemptRecord) => void) | undefined;
  /** One try at one provider (`carry`: an unspent token from the try before). */
  tryProvider(candidate: RankedProvider, url: string, pubkey: string, useQuote: boolean, carry: SentToken | undefined): Promise<Outcome>;
  /** Takes back a carried token no try used. */
  takeBack(token: SentToken): Promise<unknown>;
}

const withSlash = (url: string): string => (url.endsWith('/') ? url : `${url}/`);

/** The served response of the first try that succeeds; AllProvidersFailed (or the common refusal) otherwise. */
export async function failover(ctx: RequestContext, providers: readonly RankedProvider[], d: FailoverDeps): Promise<Response> {
  const { signal, model } = ctx;
  let carry: SentToken | undefined;
  try {
    for (const candidate of providers) {
      if (new Set(ctx.attempts.map((a) => a.provider)).size >= d.maxAttempts) break;
      const record = d.market.registry.get(candidate.provider);
      const first = record?.urls[0];
      if (!record || !first) continue;
      let useQuote = true;
      for (let retries = 0; ; retries++) {
        signal?.throwIfAborted();
        const out = await d.tryProvider(candidate, withSlash(first), record.pubkey, useQuote, carry).catch((error: unknown) => {
          if (error instanceof ResponseTooLarge) carry = undefined; // served (and settled) with the carried token
          throw error;
        });
        if (out.ok) {
          carry = undefined;
          return out.response;
        }
        carry = out.carry;
        ctx.attempts.push(out.record);
        d.onAttemptFailed?.(out.record);
        // a pinned request stays at its ask's price: a refused quote is not retried at the current price
        if (out.retry && retries < 1 && !(ctx.pinned && out.retry.dropQuote)) {
          if (out.retry.dropQuote) useQuote = false;
          if (out.retry.waitMs > 0) await delay(out.retry.waitMs, undefined, { signal });
          continue;
        }
        d.market.reportFailure(candidate.provider, { model, wholeProvider: out.wholeProvider, reason: out.record.code });
        break;
      }
    }
    signal?.throwIfAborted();
    // every provider asked for more than the buyer's limits allow: say so (nothing was paid)
    const refusal = ctx.refusals[0];
    if (refusal && ctx.refusals.length === ctx.attempts.length) throw refusal;
    throw new AllProvidersFailed(model, ctx.attempts);
  } finally {
    if (carry) await d.takeBack(carry);
  }
}
