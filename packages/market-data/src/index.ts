export type * from './api-types.ts';
export { HISTORY_INTERVALS } from './api-types.ts';
export type { MarketDataServiceOptions } from './service-options.ts';
export { type MarketDataService, startMarketDataService } from './service.ts';
export { runMarketServe } from './serve-command.ts';
export { type WebAsset, webAsset } from './web-assets.ts';
