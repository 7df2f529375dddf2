/**
 * Which providers a request goes to, in failover order: the market's selection for the model and
 * the request's shape (this payer's mints, its distrusted providers left out), then the buyer's
 * guards — asks far above the market median refused, then `maxPrice`.
 */
import { priceForShape, type PricedAsk, type RankedProvider, type RequestShape } from '../../market/index.ts';
import { DEFAULT_MAX_ASK_OVER_MEDIAN, withinMedian, type MaxPrice } from './buyer-guards.ts';
import { AllProvidersFailed, PriceAboveLimit } from './errors.ts';
import type { PayerMarket, PayerOptions } from './payer-types.ts';
import { requestShape } from './sizing.ts';

/** What the choice reads of its payer. */
export interface ChoiceParts {
  readonly market: PayerMarket;
  readonly options: Pick<PayerOptions, 'sizing' | 'profile' | 'topN' | 'maxAskOverMedian' | 'maxPrice'>;
  readonly mints: readonly string[];
  readonly distrusted: ReadonlySet<string>;
}

/** Whether a price (msat/Mtok) is within `maxPrice` for the request's shape; true without a limit. */
export function withinMaxPrice(limit: MaxPrice | undefined, price: { prompt: number; completion: number }, shape: RequestShape): boolean {
  if (limit === undefined) return true;
  return typeof limit === 'number' ? priceForShape(price, shape) <= limit : price.prompt <= limit.prompt && price.completion <= limit.completion;
}

const cheapest = (providers: readonly RankedProvider[]): RankedProvider => [...providers].sort((a, b) => a.ask.priceMsat - b.ask.priceMsat)[0] as RankedProvider;

/** The buyer's price limit for a request of `shape`, msats: min(maxPrice for the shape, the request's own). */
export function priceLimitMsat(maxPrice: MaxPrice | undefined, maxPriceMsat: number | undefined, shape: RequestShape): number | undefined {
  const own = maxPrice === undefined ? undefined : typeof maxPrice === 'number' ? maxPrice : priceForShape(maxPrice, shape);
  if (own === undefined) return maxPriceMsat;
  return maxPriceMsat === undefined ? own : Math.min(own, maxPriceMsat);
}

/** Whether a price is within the buyer's limits for a request of `shape` (maxPrice, per-token ceilings, the request's own). */
export function withinLimits(maxPrice: MaxPrice | undefined, maxPriceMsat: number | undefined, ask: { prompt: number; completion: number }, shape: RequestShape): boolean {
  return withinMaxPrice(maxPrice, ask, shape) && (maxPriceMsat === undefined || priceForShape(ask, shape) <= maxPriceMsat);
}

/**
 * The failover order for a request; throws PriceAboveLimit when the guards leave no provider —
 * the one place a request's price is checked against the buyer's limits (maxPrice, `maxPriceMsat`).
 */
export function chooseProviders(parts: ChoiceParts, model: string, body: Record<string, unknown>, maxPriceMsat?: number): RankedProvider[] {
  const { market, options } = parts;
  const shape = requestShape(body, options.sizing);
  const profile = options.profile ?? 'balanced';
  const topN = options.topN ?? (profile === 'cheapest' ? 1 : undefined);
  const selection = market.select({
    model,
    shape,
    profile,
    ...(topN !== undefined ? { topN } : {}),
    mints: [...parts.mints],
    exclude: [...parts.distrusted],
  });
  // an ask far above what the market asks is refused before anything else (a buyer with no limits is protected too)
  const factor = options.maxAskOverMedian ?? DEFAULT_MAX_ASK_OVER_MEDIAN;
  // the median of the market's live asks, from providers a probe found healthy (whatever their mint): a flood of
  // never-probed cheap asks cannot drag it down and so price the honest out
  const unhealthy = new Set(selection.rejected.filter((r) => r.reason === 'unhealthy').map((r) => r.provider));
  const live = (market.depth ? market.depth(model, 1_000, shape) : selection.providers.map((p) => p.ask)).filter((a) => !unhealthy.has(a.provider));
  const { kept, medianMsat } = withinMedian(selection.providers, live, factor);
  if (kept.length === 0 && selection.providers.length > 0 && medianMsat !== undefined) {
    throw new PriceAboveLimit(model, cheapest(selection.providers).ask, medianMsat * factor, { limit: 'median' });
  }
  const limit = priceLimitMsat(options.maxPrice, maxPriceMsat, shape);
  if (limit === undefined) return kept;
  const ok = kept.filter((p) => withinLimits(options.maxPrice, maxPriceMsat, p.ask, shape));
  if (ok.length === 0 && kept.length > 0) throw new PriceAboveLimit(model, cheapest(kept).ask, limit);
  return ok;
}

/**
 * A request pinned to one ask (PayOptions.ask): that provider alone, at that ask — refused with
 * PriceAboveLimit above the buyer's limits, and with AllProvidersFailed when the provider is gone or distrusted.
 */
export function pinnedProvider(parts: ChoiceParts, model: string, body: Record<string, unknown>, ask: PricedAsk, maxPriceMsat: number | undefined): RankedProvider[] {
  const shape = requestShape(body, parts.options.sizing);
  const limit = priceLimitMsat(parts.options.maxPrice, maxPriceMsat, shape);
  if (limit !== undefined && !withinLimits(parts.options.maxPrice, maxPriceMsat, ask, shape)) throw new PriceAboveLimit(model, ask, limit);
  const record = parts.market.registry.get(ask.provider);
  if (!record || parts.distrusted.has(ask.provider)) {
    throw new AllProvidersFailed(model, [], `the pinned provider ${ask.provider} is ${record ? 'distrusted by this payer' : 'not in the market'}`);
  }
  return [{ provider: ask.provider, ask, score: 1, pubkey: record.pubkey, host: record.urls[0] ?? '' }];
}
