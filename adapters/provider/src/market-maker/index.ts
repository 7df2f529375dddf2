export {
  createFixedPriceBoard,
  createPriceBoard,
  type ModelPrice,
  type NodeLoad,
  type PriceBoard,
  type QuoteLookup,
  type WritablePriceBoard,
} from './price-board.ts';
export { QuoteBook } from './quote-book.ts';
export { LoadMonitor, type LoadMonitorOptions, type LoadReading, type ReplicaReading, type TelemetryOptions, type TelemetrySource } from './load-monitor.ts';
export { DynamicPricer, type DynamicBoardConfig, type DynamicModelPricing, type ModelPricingState } from './dynamic-pricer.ts';
export { NostrListing, type NostrListingOptions, type PublishOutcome } from './nostr-listing.ts';
export { MarketMakerConfigError, type MarketMakerErrorCode } from './market-maker-error.ts';
export {
  startMarketMaker,
  type FixedBoardConfig,
  type MarketMaker,
  type MarketMakerOptions,
  type MarketMakerState,
  type TickReason,
  type TickRecord,
} from './market-maker.ts';
