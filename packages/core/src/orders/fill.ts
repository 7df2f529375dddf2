/**
 * One paid request at one ask (a limit fill, a batch line), and what a request id cost according
 * to the wallet journal — the one record that survives a crash. A fill goes through the Payer with
 * the ask pinned (`PayOptions.ask`): that provider at its quote only, no failover to another
 * provider or price, so the order can go back to resting knowing nothing was paid twice. The
 * caller stores the request id before the fill starts, so recovery can link order and tokens.
 */
import type { PricedAsk } from '../market/index.ts';
import { PayerClosed, type AttemptRecord, type PaidResponse, type Payer, type Receipt } from '../payments/payer/index.ts';
import { parseCashuToken } from '../protocol/index.ts';
import { WalletError, type EcashWallet } from '../wallet/index.ts';

export type FillOutcome =
  | { readonly ok: true; readonly response: Record<string, unknown>; readonly receipt: Receipt; readonly requestId: string }
  | {
      readonly ok: false;
      /** True when the request cannot succeed by waiting (budget, funds, payer closed). */
      readonly final: boolean;
      /** Sats the failed request took (normally 0: the Payer takes tokens back or collects refunds). */
      readonly spentSat: number;
      readonly requestId: string;
      readonly attempts: readonly AttemptRecord[];
      readonly error: unknown;
    };

/** What the journal says a request id cost: nothing, a settled amount, or not settled yet. */
export type SpendState = { readonly state: 'none'; readonly spentSat: 0 } | { readonly state: 'spent' | 'unsettled'; readonly spentSat: number };

/**
 * Who reads a streamed fill: it gets the provider's streaming answer as soon as the fill is paid;
 * the fill counts as done once the stream was read and its receipt settled. Aborting `signal`
 * breaks the stream off (the node bills what it generated, the change comes back).
 */
export interface StreamReader {
  readonly signal?: AbortSignal;
  readonly onResponse: (paid: PaidResponse) => void;
}

/** What a streamed fill records as its answer: the answer itself went to the stream's reader. */
export const STREAMED_ANSWER = { object: 'chat.completion.streamed', streamed: true } as const;

/** Sends requests pinned to an ask, through the orders' payer. */
export class Filler {
  readonly payer: Payer;
  readonly wallet: EcashWallet;

  constructor(payer: Payer, wallet: EcashWallet) {
    this.payer = payer;
    this.wallet = wallet;
  }

  /**
   * Pays for `body` at `ask` (its quote, if a tick) under `requestId` (stored by the caller first).
   * With a `reader` the request streams to it; without, the JSON answer comes back in the outcome.
   */
  async at(path: string, body: Record<string, unknown>, ask: PricedAsk, requestId: string, reader?: StreamReader): Promise<FillOutcome> {
    try {
      const paid = await this.payer.send(path, { ...body, stream: reader !== undefined }, { ask, requestId, ...(reader?.signal ? { signal: reader.signal } : {}) });
      if (reader) {
        reader.onResponse(paid);
        return { ok: true, response: { ...STREAMED_ANSWER }, receipt: await paid.receipt, requestId };
      }
      const response = JSON.parse(await paid.response.text()) as Record<string, unknown>;
      return { ok: true, response, receipt: await paid.receipt, requestId };
    } catch (error) {
      const final = error instanceof PayerClosed || error instanceof WalletError;
      const attempts = (error as { attempts?: readonly AttemptRecord[] }).attempts ?? [];
      return { ok: false, final, spentSat: this.spendOf(requestId).spentSat, requestId, attempts, error };
    }
  }

  /** What request `requestId` took from the wallet, by its journal entries and the change stored for them. */
  spendOf(requestId: string): SpendState {
    const entries = this.wallet.journal({ requestId });
    // Change the mint refused (already spent, or forged by the node) brought nothing back.
    const refused = new Set(this.wallet.incomingEntries('refused').filter((r) => r.requestId === requestId).map((r) => r.token));
    let spent = 0;
    let unsettled = false;
    for (const e of entries) {
      if (e.status === 'reclaimed' || e.status === 'aborted') continue;
      if (e.status !== 'settled') unsettled = true;
      const change = this.payer.store.xcashu(e.id)?.changeToken;
      let back = 0;
      if (change && !refused.has(change.trim())) {
        try {
          back = parseCashuToken(change).amount;
        } catch {
          back = 0;
        }
      }
      spent += Math.max(0, e.amount - back);
    }
    if (unsettled) return { state: 'unsettled', spentSat: spent };
    return spent > 0 ? { state: 'spent', spentSat: spent } : { state: 'none', spentSat: 0 };
  }
}
