/** Prices as the API shows them: per-Mtok rates and the cost of a typical request, in integer msat. */
import { priceForShape, type RequestShape } from '@routstr-kit/core/market';
import type { PriceView } from './api-types.ts';

/** The typical request every summary is priced for: 1 000 prompt + 500 completion tokens. */
export const TYPICAL_SHAPE: RequestShape = { inputTokens: 1_000, outputTokens: 500 };

/** msat → sat, rounded up (a request is never cheaper than it says). */
export function satRoundedUp(msat: number): number {
  return Math.ceil(msat / 1_000);
}

/** The API view of prompt/completion rates. */
export function priceView(prompt: number, completion: number): PriceView {
  const typical = priceForShape({ prompt, completion }, TYPICAL_SHAPE);
  return { promptMsatPerMtok: prompt, completionMsatPerMtok: completion, typicalRequestMsat: typical, typicalRequestSat: satRoundedUp(typical) };
}

/** Median of integers: the lower middle plus half the gap, rounded down (so it stays an integer). Sorts `values` in place. */
export function sortedMedian(values: Float64Array): number {
  values.sort();
  const mid = values.length >> 1;
  return values.length % 2 === 1 ? (values[mid] as number) : Math.floor(((values[mid - 1] as number) + (values[mid] as number)) / 2);
}
