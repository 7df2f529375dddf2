export { MarketFetch, checkOrderSettings, resolveRoutstrSettings, CALL_HEADER, type RoutstrSettings, type ResolvedRoutstrSettings, type OrderSettings, type CallRecord, type MarketParts } from './market-fetch.ts';
export { RoutstrConfigError } from './errors.ts';
export { receiptJson } from './receipt-json.ts';
