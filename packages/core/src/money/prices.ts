/**
 * The market's price unit is msat per million tokens (msat/Mtok), an integer. routstr-core
 * publishes floats: `sats_pricing` in sats per token and `pricing` in USD per token. These
 * conversions are the wire edge: floats in, integers out (and back for publishing).
 */
import { InvalidAmount, msat, msatPerMtok, type Msat, type MsatPerMtok } from './amounts.ts';
import { decimalOf, divideRounding, scaleToInteger } from './decimal.ts';

/** How to round a float price into msat/Mtok: 'ceil' (default, a seller never undercharges) or 'floor'. */
export type PriceRounding = 'ceil' | 'floor';

function toSafe(value: bigint, what: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new InvalidAmount(`${what} too large: ${value}`);
  return Number(value);
}

/** routstr-core `sats_pricing` (sats per token, float) → msat/Mtok, exact on the printed decimal. */
export function satsPerTokenToMsatPerMtok(satsPerToken: number, rounding: PriceRounding = 'ceil'): MsatPerMtok {
  // 1 sat/token = 1000 msat/token = 1e9 msat/Mtok
  return msatPerMtok(toSafe(scaleToInteger(satsPerToken, 9, rounding), 'price'));
}

/** msat/Mtok → sats per token, the float routstr-core puts in `sats_pricing`. */
export function msatPerMtokToSatsPerToken(price: MsatPerMtok): number {
  return price / 1e9;
}

function checkRate(btcUsd: number): void {
  if (!Number.isFinite(btcUsd) || btcUsd <= 0) throw new InvalidAmount(`BTC/USD rate must be positive, got ${String(btcUsd)}`);
}

/** routstr-core `pricing` (USD per token) at a BTC/USD rate → msat/Mtok. */
export function usdPerTokenToMsatPerMtok(usdPerToken: number, btcUsd: number, rounding: PriceRounding = 'ceil'): MsatPerMtok {
  checkRate(btcUsd);
  if (!(usdPerToken >= 0)) throw new InvalidAmount(`negative price: ${String(usdPerToken)}`);
  // msat/Mtok = usd/token ÷ (usd/btc) × 1e8 sat/btc × 1e3 msat/sat × 1e6 tok/Mtok = usd × 1e17 / btcUsd
  const usd = decimalOf(usdPerToken);
  const rate = decimalOf(btcUsd);
  const shift = usd.exponent - rate.exponent + 17;
  let num = usd.digits;
  let den = rate.digits;
  if (shift >= 0) num *= 10n ** BigInt(shift);
  else den *= 10n ** BigInt(-shift);
  return msatPerMtok(toSafe(divideRounding(num, den, rounding), 'price'));
}

/** msat/Mtok → USD per token at a BTC/USD rate (float, for `pricing`). */
export function msatPerMtokToUsdPerToken(price: MsatPerMtok, btcUsd: number): number {
  checkRate(btcUsd);
  return (price * btcUsd) / 1e17;
}

/** What `tokens` cost at `price`, rounded UP to the msat (integer math). */
export function chargeForTokens(tokens: number, price: MsatPerMtok): Msat {
  if (!Number.isSafeInteger(tokens) || tokens < 0) throw new InvalidAmount(`token count must be a non-negative integer, got ${String(tokens)}`);
  return msat(toSafe(divideRounding(BigInt(tokens) * BigInt(price), 1_000_000n, 'ceil'), 'charge'));
}
