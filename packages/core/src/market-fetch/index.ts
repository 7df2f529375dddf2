export { MarketFetch, CALL_HEADER, type CallRecord, type Bought, type MarketParts, type MarketFetchEvents } from './market-fetch.ts';
export { checkOrderSettings, resolveRoutstrSettings, type RoutstrSettings, type ResolvedRoutstrSettings, type OrderSettings } from './routstr-settings.ts';
export { ERROR_HINTS, refusalOf, refusalText, type Refusal } from './error-hints.ts';
export { RoutstrConfigError } from './errors.ts';
export { receiptJson } from './receipt-json.ts';
