export { Payee, openPayee } from './payee.ts';
export type {
  TokenFacts,
  XCashuPayment,
  XCashuChange,
  RefundLookup,
  AccountInfo,
  AccountRefund,
  PayeeBalances,
  Payout,
  OpenPayeeOptions,
} from './payee-types.ts';
export type { SettlementGroupOptions } from './settlement-group.ts';
export {
  PayeeError,
  redemptionError,
  minimumBalanceError,
  insufficientBalanceError,
  keyNotFoundError,
  refundRefused,
  invalidRequestError,
} from './payee-errors.ts';
export { PayeeStore } from './payee-store.ts';
export type { XCashuRecord, XCashuState, AccountRecord } from './payee-store.ts';
export { bolt11AmountSat } from './bolt11-amount.ts';
