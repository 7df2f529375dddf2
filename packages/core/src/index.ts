/**
 * The root of @routstr-kit/core: every module's public surface, listed by name (a module's own index
 * keeps its list; this file repeats the names, one block per module, so the package's face is explicit).
 * `root-surface.test.ts` checks that the root is exactly the union of the modules and that no two
 * modules export the same name.
 */
export {
  chargeForTokens, InvalidAmount, msat, type Msat, msatPerMtok, type MsatPerMtok, msatPerMtokToSatsPerToken,
  msatPerMtokToUsdPerToken, msatToSatCeil, msatToSatFloor, type PriceRounding, pythonRound, sat, type Sat,
  satsPerTokenToMsatPerMtok, satToMsat, usdPerTokenToMsatPerMtok,
} from './money/index.ts';
export {
  type Announcement, ANNOUNCEMENT_KIND, type AnnouncementInput, announcementsEquivalent, announcementTemplate,
  announcerPubkey, apiKeyForToken, type Architecture, architectureSchema, attachCostMetadata, type BalanceInfo,
  balanceInfoSchema, BalanceLimitExceeded, type BearerCredential, buildAnnouncement, buildBalanceInfo,
  buildChildKeyResponse, buildCostData, buildCostHeaders, buildCreateBalanceResponse, buildErrorBody,
  buildHttpExceptionBody, buildModel, buildModelsBody, buildNodeInfo, buildPriceTick, buildRedemptionErrorBody,
  buildRefundResponse, buildTopupResponse, buildUpstreamRefundBody, buildUsageCost, calculateMaxCosts,
  type CashuTokenSummary, type ChildKeyResponse, childKeyResponseSchema, COST_HEADERS, type CostData, type CostSource,
  type CreateBalanceResponse, createBalanceResponseSchema, determineProviderId, type ErrorObjectInput,
  eventIdPreimage, type EventParseOptions, fastApiJson, fieldPath, firstTagValue, fromZodError, fullPricing,
  InsufficientBalance, InvalidApiKey, InvalidModel, InvalidRequest, InvalidToken, isTickLive, KeyExpired, KeyNotFound,
  minimumBalanceDetail, MinimumBalanceRequired, MintError, MintRateLimited, MintUnreachable, type Model,
  type ModelAsk, type ModelInput, modelsBodySchema, modelSchema, modelTag, NEGATIVE_REVIEW_LABELS,
  NO_TOKEN_ECHO_CODES, type NodeErrorCode, type NodeErrorFields, type NodeInfo, nodeInfoSchema, NodeInternalError,
  normalizeEndpointUrl, normalizeMintUrl, type NostrEvent, nostrEventSchema, parseAnnouncement, parseAuthorization,
  parseBalanceInfo, parseCashuToken, parseChildKeyResponse, parseCostHeaders, parseCreateBalanceResponse,
  parseJsonText, parseModel, parseModelsBody, parseModelsBodyLenient, parseModelTag, parseModelTags, parseNodeError,
  parseNodeInfo, parsePriceTick, parseRecommendation, parseRefundResponse, parseReview, parseSignedEvent,
  parseTopupResponse, parseWith, POSITIVE_REVIEW_LABELS, PRICE_TICK_KIND, type PriceTick, type PriceTickInput,
  type Pricing, PRICING_KEYS, pricingFromAsk, type PricingKey, pricingSchema, ProtocolError, type ProtocolErrorCode,
  pythonFloatRepr, pythonJsonDumps, type PythonJsonOptions, readReportedCost, readSseLine, type Recommendation,
  RECOMMENDATION_KIND, type RecommendedAddress, REDEMPTION_ERRORS, type RedemptionErrorCode, type Refund,
  refundResponseSchema, type ReportedCost, type Review, REVIEW_KIND, reviewSentiment, type ReviewSentiment,
  ROUTSTR_PUBKEY, RoutstrNodeError, satsPricingFromUsd, serializeErrorBody, serializeHttpExceptionBody,
  serializeModelsBody, serializeNodeInfo, SSE_DONE, sseDataEvent, type SseLine, tagsNamed, TokenAlreadySpent,
  TokenConsumed, TokenRedemptionFailed, type TopProvider, topProviderSchema, type TopupResponse, topupResponseSchema,
  UpstreamError, type UsageCost, usageCostSchema, usageTrailerChunk, wireMsat, xCashuSseComment,
} from './protocol/index.ts';
export {
  type AmortisationInputs, amortisationPerMtok, askCost, askGate, type AskPrices, type ChargeCheck, type ChargeInput,
  type ChargeVerdict, costFromResponse, costFromTokens, costFromUsd, type CostOptions, type CostPath, type CostResult,
  type CostSatsPricing, DEFAULT_CURVE, DEFAULT_UPDATE_RULES, type DemandSample, discountedMaxCost,
  type DiscountOptions, energyCostPerMtok, type EnergyInputs, estimatePromptTokens, ewma, type GateModel,
  type GateSatsPricing, type GateSettings, imageTokens, initialPriceState, maxCostForModel, nextPrice,
  type NormalizedUsage, normalizeUsage, OUTPUT_BOUND_FIELDS, OUTPUT_CHOICE_FIELDS, outputBound, type OutputBound,
  parseTokenCount, priceBounds, type PriceCurve, type PriceModel, type PriceState, type PriceUpdate,
  type PriceUpdateRules, ratesPer1k, requestGate, resolveUsdCost, stepLimit, targetPrice, utilisationFactor,
  utilisationFromDemand, verifyCharge, xCashuChange,
} from './pricing/index.ts';
export {
  type BudgetCap, BudgetExceeded, type Budgets, checkTotalBudget, DEFAULT_INVENTORY_POLICY, EcashWallet, type Funding,
  type IncomingEntry, type IncomingOutcome, type IncomingProblem, type IncomingRecord, type IncomingStatus,
  InsufficientFunds, type InventoryPolicy, type InventoryStats, type JournalEntry, type JournalStatus, MintRefused,
  MnemonicMismatch, openWallet, type OpenWalletOptions, PaymentFailed, ProofsAlreadySpent, type ProofState,
  type RecoveryReport, type SendOptions, type SentToken, TOTAL_BUDGET, UnknownJournalEntry, UnknownMint,
  UnreadableToken, WalletError, walletFileIsEmpty, type Withdrawal,
} from './wallet/index.ts';
export {
  type AccountInfo, type AccountRecord, type AccountRefund, AllProvidersFailed, type AttemptRecord, bolt11AmountSat,
  changeByRefundRoute, type ChangeLookup, type ChatRequest, type ChatResult, createPayingFetch, createRoutstrClient,
  DEFAULT_MAX_ASK_OVER_MEDIAN, DEFAULT_PER_REQUEST_MAX_SAT, DEFAULT_RESPONSE_LIMITS, DEFAULT_TIMEOUTS,
  insufficientBalanceError, InvalidPayOptions, invalidRequestError, keyNotFoundError, type MaxPrice,
  minimumBalanceError, openPayee, type OpenPayeeOptions, type PaidResponse, paidRoute, Payee, type PayeeBalances,
  PayeeError, PayeeStore, Payer, PayerClosed, PayerError, type PayerMarket, type PayerOptions,
  type PayerRecoveryReport, type PayerSessionRecord, PayerStore, type PayerXCashuRecord, type PayingFetch,
  type PayingFetchOptions, type PaymentMode, type PayOptions, type Payout, PriceAboveLimit, type PriceLimitKind,
  quotedModel, type Receipt, type ReceiptProblem, redemptionError, type RefundLookup, refundRefused, requestShape,
  RequestTimeout, type ResponseLimits, ResponseTooLarge, retryAfterMs, type RoutstrClient, SessionFundingFailed,
  type SessionOptions, type SettlementGroupOptions, sizeRequest, type Sizing, type SizingOptions, SseTap,
  StreamLimitExceeded, type Timeouts, type TokenFacts, UnroutableRequest, type XCashuChange, type XCashuPayment,
  type XCashuRecord, type XCashuState,
} from './payments/index.ts';
export {
  addressScope, type AddressScope, type Ask, type AskChange, type AskQuote, asksFromModels, type AskSource,
  type BestAskChange, type ChangeIterationOptions, ChangeStream, checkProviderAddress, classifyUnverified,
  type CooldownOptions, cooldownScope, CooldownTracker, DEFAULT_MARKET_RELAYS, DEFAULT_SHAPE, DELETION_KIND,
  type DepartureReason, type EventVerifier, type FailureReport, type FeedHandlers, guardedSocketClass,
  type HistoryPoint, type IngestOutcome, isPrivateAddress, literalHostScope, loadWasmVerifier, ManualClock, Market,
  type MarketClock, MarketFeed, type MarketFeedOptions, marketFilters, type MarketPrice, MarketStats,
  type MarketStatsSnapshot, ModelIdResolver, openMarket, type OpenMarketOptions, OrderBook, type OrderBookOptions,
  parseProviderAddressPolicy, type PricedAsk, priceForShape, PriceHistory, type PriceHistoryOptions, ProbeError,
  type ProbeErrorCode, type ProbeOptions, probeProvider, type ProbeResult, ProbeScheduler, type ProbeSchedulerOptions,
  PROFILE_WEIGHTS, PROVIDER_ADDRESS_POLICIES, type ProviderAddressPolicy, type ProviderHealth, providerHost,
  type ProviderRecord, ProviderRegistry, PubkeyRateLimiter, type PubkeyRateOptions, type RankedProvider,
  type ReconnectOptions, REJECT_REASONS, type RejectReason, relaySocketClass, type RelaySocketClass,
  type RelaySocketOptions, type RelaySubscription, type RelaySubscriptionOptions, type RequestShape, scopeAllowed,
  scoreCandidates, seededRandom, type Selection, type SelectionCandidate, type SelectionProfile,
  type SelectionRejectReason, type SelectionRequest, type SelectionWeights, selectProviders, type SetAsksOptions,
  SkippedProbe, stripVendorPrefix, subscribeRelays, successRate, systemClock, unixSeconds,
} from './market/index.ts';
export {
  AttachedTables, type Dialect, DurableDatabase, type DurableDatabaseOptions, isPostgresUrl, OwnerRegistry,
  type ReadOptions, redactLocation, type Row, type SqlConnection, type SqlValue, type StoreSchema,
} from './storage/index.ts';
export {
  atDeadline, Batch, type BatchEvents, type BatchInput, type BatchLineRecord, type BatchLineState, type BatchOutcome,
  type BatchProgress, type BatchRecord, type BatchResult, type BatchSummary, Filler, type FillInfo, type FillOutcome,
  InvalidBatch, limitMsat, LimitOrder, type LimitOrderEvents, type LimitOrderRecord, type LimitOrderResult,
  type LimitOrderState, ManualOrderClock, type MarketBuyResult, MAX_TIMER_MS, openOrders, type OpenOrdersOptions,
  OrderCancelled, type OrderClock, OrderError, OrderExpired, OrderFailed, type OrderRequest, Orders,
  type OrdersRecovery, OrderStore, parseBatchInput, type RunBatchOptions, type SpendState, STREAMED_ANSWER,
  type StreamReader, systemOrderClock, UnreadableOrder, type UnreadableOrderRow, withinLimit,
} from './orders/index.ts';
export {
  type Bought, CALL_HEADER, type CallRecord, checkOrderSettings, ERROR_HINTS, MarketFetch, type MarketFetchEvents,
  type MarketParts, type OrderSettings, receiptJson, type Refusal, refusalOf, refusalText,
  type ResolvedRoutstrSettings, resolveRoutstrSettings, RoutstrConfigError, type RoutstrSettings,
} from './market-fetch/index.ts';
export {
  ALL_SETTINGS, BUYER_SETTINGS, CONFIG_ENV, ConfigError, configFilePath, configFileSchema, type ConfigInputs,
  DEFAULT_MINTS, DEFAULT_PROFILE, describeSource, ENGINES, type Env, flagOptions, type FlagValues, type KitBudget,
  type KitConfig, MARKET_SERVE_SETTINGS, MCP_SETTINGS, type McpKitConfig, MODES, nest, parseFlags, PROFILES,
  PROVIDER_ADDRESSES, PROVIDER_SETTINGS, type ProviderAddresses, readConfigFile, type ResolvedSettings,
  resolveKitConfig, resolveMcpKitConfig, resolveSettings, type SettingSource, type SettingSpec,
} from './config/index.ts';
