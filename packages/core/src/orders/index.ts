export { openOrders, Orders, parseBatchInput, type OpenOrdersOptions, type OrderRequest, type MarketBuyResult, type BatchInput, type RunBatchOptions, type OrdersRecovery } from './orders.ts';
export { LimitOrder, withinLimit, limitMsat, type FillInfo, type LimitOrderResult, type LimitOrderEvents } from './limit-order.ts';
export { Batch, type BatchProgress, type BatchResult, type BatchSummary, type BatchOutcome, type BatchEvents } from './batch.ts';
export { OrderStore, type UnreadableOrderRow, type LimitOrderRecord, type LimitOrderState, type BatchLineRecord, type BatchLineState, type BatchRecord } from './order-store.ts';
export { OrderError, OrderExpired, OrderCancelled, OrderFailed, InvalidBatch, UnreadableOrder } from './errors.ts';
export { ManualOrderClock, systemOrderClock, atDeadline, MAX_TIMER_MS, type OrderClock } from './order-clock.ts';
export { Filler, STREAMED_ANSWER, type FillOutcome, type SpendState, type StreamReader } from './fill.ts';
