export {
  createFixedPriceBoard,
  createPriceBoard,
  type ModelPrice,
  type NodeLoad,
  type PriceBoard,
  type QuoteLookup,
  type WritablePriceBoard,
} from './price-board.ts';
export { QuoteBook, type QuoteStore } from './quote-book.ts';
export { SharedQuoteBook } from './shared-quote-book.ts';
export { combineClusterLoad, type ProcessLoad } from './cluster-load.ts';
export { ClusterStore, type StoredQuote } from './cluster-store.ts';
export { AnnouncerLease, leaseKey, type AnnouncerLeaseOptions } from './announcer-lease.ts';
export { MarketCluster, type ClusterContext, type ClusterOptions } from './market-cluster.ts';
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
