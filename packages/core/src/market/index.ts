export { type MarketClock, systemClock, ManualClock, unixSeconds } from './clock.ts';
export { stripVendorPrefix, ModelIdResolver } from './model-id.ts';
export { type ChangeIterationOptions, ChangeStream } from './change-stream.ts';
export {
  type AskSource,
  type AskQuote,
  type Ask,
  type RequestShape,
  DEFAULT_SHAPE,
  type PricedAsk,
  type MarketPrice,
  type AskChange,
  type BestAskChange,
  type SetAsksOptions,
  type OrderBookOptions,
  priceForShape,
  OrderBook,
} from './order-book.ts';
export { type RejectReason, REJECT_REASONS, type MarketStatsSnapshot, MarketStats } from './market-stats.ts';
export { type HistoryPoint, type PriceHistoryOptions, PriceHistory } from './price-history.ts';
export { type CooldownOptions, cooldownScope, CooldownTracker } from './cooldown.ts';
export { seededRandom } from './seeded-random.ts';
export { type EventVerifier, loadWasmVerifier, classifyUnverified } from './event-verifier.ts';
export {
  DELETION_KIND,
  type FeedHandlers,
  type IngestOutcome,
  type MarketFeedOptions,
  MarketFeed,
  marketFilters,
} from './market-feed.ts';
export { type RelaySocketOptions, type RelaySocketClass, relaySocketClass, guardedSocketClass } from './relay-socket.ts';
export {
  type ReconnectOptions,
  type RelaySubscriptionOptions,
  type RelaySubscription,
  subscribeRelays,
} from './relay-subscription.ts';
export {
  type ProbeErrorCode,
  ProbeError,
  type ProbeOptions,
  type ProbeResult,
  type ProviderAddressPolicy,
  PROVIDER_ADDRESS_POLICIES,
  parseProviderAddressPolicy,
  type AddressScope,
  addressScope,
  isPrivateAddress,
  scopeAllowed,
  literalHostScope,
  checkProviderAddress,
  asksFromModels,
  probeProvider,
} from './provider-probe.ts';
export { type ProviderHealth, type ProviderRecord, successRate, providerHost, ProviderRegistry } from './provider-registry.ts';
export {
  type SelectionProfile,
  type SelectionWeights,
  PROFILE_WEIGHTS,
  type SelectionCandidate,
  type SelectionRequest,
  type SelectionRejectReason,
  type RankedProvider,
  type Selection,
  scoreCandidates,
  selectProviders,
} from './selection.ts';
export {
  DEFAULT_MARKET_RELAYS,
  type OpenMarketOptions,
  type DepartureReason,
  type FailureReport,
  Market,
  openMarket,
} from './open-market.ts';
export { type PubkeyRateOptions, PubkeyRateLimiter } from './pubkey-rate-limit.ts';
export { type ProbeSchedulerOptions, ProbeScheduler, SkippedProbe } from './probe-scheduler.ts';
