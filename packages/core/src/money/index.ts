export {
  type Msat,
  type Sat,
  type MsatPerMtok,
  InvalidAmount,
  msat,
  sat,
  msatPerMtok,
  satToMsat,
  msatToSatCeil,
  msatToSatFloor,
} from './amounts.ts';
export {
  type PriceRounding,
  satsPerTokenToMsatPerMtok,
  msatPerMtokToSatsPerToken,
  usdPerTokenToMsatPerMtok,
  msatPerMtokToUsdPerToken,
  chargeForTokens,
} from './prices.ts';
export { pythonRound } from './decimal.ts';
