export { MarketFetch, checkOrderSettings, CALL_HEADER, type RoutstrSettings, type OrderSettings, type CallRecord, type MarketParts } from './market-fetch.ts';
export { settingsFromEnv } from './settings-from-env.ts';
export { RoutstrConfigError } from './errors.ts';
export { receiptJson } from './receipt-json.ts';
