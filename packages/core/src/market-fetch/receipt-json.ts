import type { Receipt } from '../payments/index.ts';
import type { FillInfo } from '../orders/index.ts';

/** A receipt as plain JSON (what frameworks carry in their metadata): provider, price, quote, cost, change, verification. */
export function receiptJson(receipt: Receipt, fill?: FillInfo): Record<string, unknown> {
  return JSON.parse(
    JSON.stringify({
      requestId: receipt.requestId,
      mode: receipt.mode,
      provider: receipt.provider,
      model: receipt.model,
      providerModelId: receipt.providerModelId,
      price: receipt.price,
      quote: receipt.price.quoteId ?? null,
      stream: receipt.stream,
      usage: receipt.usage ?? null,
      gateMsat: receipt.gateMsat,
      paidSat: receipt.paidSat,
      changeSat: receipt.changeSat,
      chargedMsat: receipt.chargedMsat,
      costSat: Math.ceil(receipt.chargedMsat / 1000),
      costMsat: receipt.costMsat ?? null,
      expectedCostMsat: receipt.expectedCostMsat,
      verification: receipt.verification,
      changePending: receipt.changePending,
      problems: receipt.problems,
      attempts: receipt.attempts,
      fill: fill ?? null,
    }),
  ) as Record<string, unknown>;
}
