/**
 * The receipt of one paid request: who served it, at what price, what was paid and came back,
 * what the node says it cost, what it should have cost by the provider's own advertised prices
 * (routstr-core's cost formula), and the RIP-05 §5 verdict on the difference.
 */
import { costFromResponse, normalizeUsage, verifyCharge, type ChargeCheck, type NormalizedUsage } from '../../pricing/index.ts';
import type { AskSource } from '../../market/index.ts';
import type { Model } from '../../protocol/index.ts';
import type { AttemptRecord } from './errors.ts';

export type PaymentMode = 'xcashu' | 'session';

export interface Receipt {
  /** The payer's id of the logical request (journal request id). */
  readonly requestId: string;
  readonly mode: PaymentMode;
  readonly provider: { readonly id: string; readonly url: string; readonly pubkey: string };
  /** Model id as asked, and as the provider calls it. */
  readonly model: string;
  readonly providerModelId: string;
  /** The ask used (msat/Mtok), with the quote id when it came from a price tick. */
  readonly price: { readonly prompt: number; readonly completion: number; readonly source: AskSource; readonly quoteId: string | undefined };
  readonly stream: boolean;
  readonly usage: NormalizedUsage | undefined;
  /** The node's gate for this request, msats. */
  readonly gateMsat: number;
  /** X-Cashu: the token's face value; session: the node's debit (reported cost), in sats rounded up. */
  readonly paidSat: number;
  /** Change received back, sats (0 for sessions: the balance stays on the key). */
  readonly changeSat: number;
  /** What this request took from the buyer, msats (X-Cashu: (paid − change)·1000; session: reported cost). */
  readonly chargedMsat: number;
  /** What the node reports it charged (usage.cost / metadata / header), msats. */
  readonly costMsat: number | undefined;
  /** routstr-core's cost of the usage at the prices used, msats. */
  readonly expectedCostMsat: number;
  readonly verification: ChargeCheck;
  readonly attempts: readonly AttemptRecord[];
  /** True when change is still owed and left for recovery (the refund route did not answer yet). */
  readonly changePending: boolean;
  /** What went wrong with this request, if anything (empty when all was well). */
  readonly problems: readonly ReceiptProblem[];
}

/**
 * What a receipt records as gone wrong: change the mint refused (`change_forged`, `change_spent`),
 * usage beyond what the request allows (`usage_inflated`), an answer past the size limit
 * (`response_too_large`), a stream cut off by its time limits (`stream_timeout`), or a stream the caller
 * broke off before the node's usage arrived (`broken_off`: the charge is held to the request's gate instead).
 */
export type ReceiptProblem = 'change_forged' | 'change_spent' | 'usage_inflated' | 'response_too_large' | 'stream_timeout' | 'broken_off';

/** routstr-core's cost of `usage` at `model`'s sats pricing (0 without usage, as the node bills). */
export function expectedCost(model: Model, usage: unknown, gateMsat: number): number {
  const pricing = model.sats_pricing ?? model.pricing;
  return costFromResponse({ usage }, pricing, { maxCostMsat: gateMsat }).total_msats;
}

/**
 * Verifies a charge: X-Cashu compares paid − change; a session compares the reported debit.
 * Refused change and inflated usage override the arithmetic: the provider took what it should not.
 */
export function checkCharge(expectedMsat: number, paidMsat: number, changeMsat: number, problems: readonly ReceiptProblem[] = []): ChargeCheck {
  const check = verifyCharge({ expectedMsat, paidMsat, changeMsat: Math.min(changeMsat, paidMsat) });
  const verdict = problems.includes('change_forged') ? 'change_forged' : problems.includes('change_spent') ? 'change_spent' : problems.includes('usage_inflated') ? 'overcharged' : check.verdict;
  return verdict === check.verdict ? check : { ...check, ok: false, verdict };
}

export { normalizeUsage };
