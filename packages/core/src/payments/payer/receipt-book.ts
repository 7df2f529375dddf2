/**
 * A served try becomes its request's receipt: built from the try and what came of its payment,
 * handed to the request's own receipt promise (PaidResponse.receipt), and kept in a bounded
 * window of recent receipts for observers that list them (the receipt itself lives with its
 * PaidResponse; nothing here grows with the number of requests).
 */
import { normalizeUsage } from '../../pricing/index.ts';
import type { AttemptRecord } from './errors.ts';
import type { ProviderTry, ReceiptInput } from './payer-types.ts';
import { checkCharge, type PaymentMode, type Receipt } from './receipt.ts';

/** How many receipts `Payer.receipts()` keeps (the most recent ones). */
export const RECENT_RECEIPTS = 1_000;

/** The receipt of the try `t` that served its request. */
export function buildReceipt(t: ProviderTry, r: ReceiptInput, mode: PaymentMode): Receipt {
  const ok: AttemptRecord = {
    provider: t.candidate.provider, url: t.url, status: 200, code: 'ok', message: 'ok', paidSat: r.paidSat, returnedSat: r.changeSat, tokenReused: false, pendingRecovery: r.changePending,
  };
  const ask = t.candidate.ask;
  return {
    requestId: t.ctx.requestId,
    mode,
    provider: { id: t.candidate.provider, url: t.url, pubkey: t.pubkey },
    model: t.ctx.model,
    providerModelId: String(t.body['model']),
    price: { prompt: ask.prompt, completion: ask.completion, source: t.quoteId ? 'tick' : ask.source === 'tick' ? 'models' : ask.source, quoteId: t.quoteId },
    stream: t.ctx.stream,
    usage: normalizeUsage(r.usage),
    gateMsat: t.sizing.gateMsat,
    paidSat: r.paidSat,
    changeSat: r.changeSat,
    chargedMsat: r.chargedMsat,
    costMsat: r.costMsat,
    expectedCostMsat: r.expectedCostMsat,
    verification: r.verification,
    attempts: [...t.ctx.attempts, ok],
    changePending: r.changePending,
    problems: r.problems,
  };
}

/** `receipt` once the mint refused its change: nothing came back, the whole token was taken, the verdict says how. */
export function refusedChangeReceipt(receipt: Receipt, problem: 'change_forged' | 'change_spent'): Receipt {
  const paidMsat = receipt.paidSat * 1000;
  const problems = receipt.problems.includes(problem) ? receipt.problems : [...receipt.problems, problem];
  const served = receipt.attempts.length - 1;
  return {
    ...receipt,
    changeSat: 0,
    chargedMsat: paidMsat,
    verification: checkCharge(receipt.expectedCostMsat, paidMsat, 0, problems),
    attempts: receipt.attempts.map((a, i) => (i === served ? { ...a, returnedSat: 0 } : a)),
    problems,
  };
}

/** The last `capacity` receipts, oldest first (a ring: memory stays bounded however many requests run). */
export class RecentReceipts {
  readonly #capacity: number;
  readonly #ring: Receipt[] = [];
  #next = 0;

  constructor(capacity = RECENT_RECEIPTS) {
    this.#capacity = Math.max(1, capacity);
  }

  add(receipt: Receipt): void {
    if (this.#ring.length < this.#capacity) this.#ring.push(receipt);
    else this.#ring[this.#next] = receipt;
    this.#next = (this.#next + 1) % this.#capacity;
  }

  /** Puts `replacement` where `receipt` is kept (a receipt amended after the fact); gone from the window: nothing. */
  replace(receipt: Receipt, replacement: Receipt): void {
    const i = this.#ring.indexOf(receipt);
    if (i >= 0) this.#ring[i] = replacement;
  }

  /** The kept receipts, oldest first. */
  list(): Receipt[] {
    if (this.#ring.length < this.#capacity) return [...this.#ring];
    return [...this.#ring.slice(this.#next), ...this.#ring.slice(0, this.#next)];
  }
}
