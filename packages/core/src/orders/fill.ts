/**
 * One paid request at one ask (a limit fill, a batch line), and what a request id cost according
 * to the wallet journal — the one record that survives a crash. A fill goes to the pinned ask
 * only: a failed try is not retried elsewhere or at another price, so the order can go back to
 * resting knowing nothing was paid twice.
 */
import type { Market, PricedAsk } from '../market/index.ts';
import { PayerClosed, type AttemptRecord, type Payer, type Receipt } from '../payments/payer/index.ts';
import { parseCashuToken } from '../protocol/index.ts';
import { WalletError, type EcashWallet } from '../wallet/index.ts';
import { withPin } from './pinned-market.ts';

export type FillOutcome =
  | { readonly ok: true; readonly response: Record<string, unknown>; readonly receipt: Receipt; readonly requestId: string }
  | {
      readonly ok: false;
      /** True when the request cannot succeed by waiting (budget, funds, payer closed). */
      readonly final: boolean;
      /** Sats the failed request took (normally 0: the Payer takes tokens back or collects refunds). */
      readonly spentSat: number;
      readonly requestId: string | undefined;
      readonly attempts: readonly AttemptRecord[];
      readonly error: unknown;
    };

/** What the journal says a request id cost: nothing, a settled amount, or not settled yet. */
export type SpendState = { readonly state: 'none'; readonly spentSat: 0 } | { readonly state: 'spent' | 'unsettled'; readonly spentSat: number };

/** Sends requests pinned to an ask, through the orders' payer. */
export class Filler {
  readonly payer: Payer;
  readonly market: Market;
  readonly wallet: EcashWallet;

  constructor(payer: Payer, market: Market, wallet: EcashWallet) {
    this.payer = payer;
    this.market = market;
    this.wallet = wallet;
  }

  /** Pays for `body` at `ask` (its quote, if a tick); `onRequestId` hears the request id before any token leaves. */
  async at(path: string, body: Record<string, unknown>, ask: PricedAsk, onRequestId: (requestId: string) => void): Promise<FillOutcome> {
    let requestId: string | undefined;
    const attempts: AttemptRecord[] = [];
    const abort = new AbortController();
    const pin = {
      ask,
      abort,
      attempts,
      onRequestId: (id: string) => {
        if (requestId === id) return;
        requestId = id;
        onRequestId(id);
      },
    };
    try {
      const res = await withPin(pin, () => this.payer.request(path, { ...body, stream: false }, { signal: abort.signal }));
      const text = await res.text();
      const response = JSON.parse(text) as Record<string, unknown>;
      const receipt = this.payer.receipts().find((r) => r.requestId === requestId) ?? this.payer.receipts()[this.payer.receipts().length - 1];
      if (!receipt || requestId === undefined) throw new Error('the payer recorded no receipt for the fill');
      return { ok: true, response, receipt, requestId };
    } catch (error) {
      const final = error instanceof PayerClosed || error instanceof WalletError;
      const spent = requestId === undefined ? { spentSat: 0 } : this.spendOf(requestId);
      return { ok: false, final, spentSat: spent.spentSat, requestId, attempts, error };
    }
  }

  /** What request `requestId` took from the wallet, by its journal entries and the change stored for them. */
  spendOf(requestId: string): SpendState {
    const entries = this.wallet.journal({ requestId });
    let spent = 0;
    let unsettled = false;
    for (const e of entries) {
      if (e.status === 'reclaimed' || e.status === 'aborted') continue;
      if (e.status !== 'settled') unsettled = true;
      const change = this.payer.store.xcashu(e.id)?.changeToken;
      let back = 0;
      if (change) {
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
