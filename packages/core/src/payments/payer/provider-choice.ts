/**
 * Which providers a request goes to, in failover order: the market's selection for the model and
 * the request's shape (this payer's mints, its distrusted providers left out), then the buyer's
 * guards — asks far above the market median refused, then `maxPrice`.
 */
import { priceForShape, type RankedProvider, type RequestShape } from '../../market/index.ts';
import { DEFAULT_MAX_ASK_OVER_MEDIAN, withinMedian, type MaxPrice } from './buyer-guards.ts';
import { PriceAboveLimit } from './errors.ts';
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

/** The failover order for a request; throws PriceAboveLimit when the guards leave no provider. */
export function chooseProviders(parts: ChoiceParts, model: string, body: Record<string, unknown>): RankedProvider[] {
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
    throw new PriceAboveLimit(model, cheapest(selection.providers).ask, medianMsat * factor);
  }
  const limit = options.maxPrice;
  if (limit === undefined) return kept;
  const ok = kept.filter((p) => withinMaxPrice(limit, p.ask, shape));
  if (ok.length === 0 && selection.providers.length > 0) {
    throw new PriceAboveLimit(model, cheapest(selection.providers).ask, typeof limit === 'number' ? limit : priceForShape(limit, shape));
  }
  return ok;
}
