/**
 * Bearer accounts' money moves, each one transaction in the payee's books: a reservation holds
 * the gate against the available balance, settles at the real cost (charged as revenue) or is
 * released; a refund's debit is durable before its token is made, and the token is delivered
 * (or, when the wallet cannot make it, the debit is put back on the key).
 */
import { randomUUID } from 'node:crypto';
import { sat } from '../../money/index.ts';
import { InsufficientFunds, type EcashWallet } from '../../wallet/index.ts';
import { failpoint } from '../../wallet/failpoint.ts';
import { insufficientBalanceError, keyNotFoundError, refundRefused } from './payee-errors.ts';
import type { AccountRecord, PayeeStore } from './payee-store.ts';
import type { AccountRefund } from './payee-types.ts';
import { refundRef, sendOnce } from './outgoing-tokens.ts';

/** Reserves the gate from the account's available balance (402 insufficient_balance); returns the reservation id. */
export function reserveGate(store: PayeeStore, apiKey: string, gateMsat: number): string {
  return store.tx(() => {
    const a = store.account(apiKey);
    if (!a) throw keyNotFoundError();
    const available = a.balanceMsat - a.reservedMsat;
    if (available < gateMsat) throw insufficientBalanceError(gateMsat, available, a.reservedMsat);
    const id = randomUUID();
    store.updateAccount(apiKey, { reservedMsat: a.reservedMsat + gateMsat });
    store.insertReservation({ id, apiKey, amountMsat: gateMsat });
    return id;
  });
}

/** Settles a reservation at the real cost (at most the balance), charged as revenue; idempotent. */
export function settleReservation(store: PayeeStore, reservationId: string, costMsat: number): { chargedMsat: number; remainingMsat: number } {
  return store.tx(() => {
    const r = store.reservation(reservationId);
    if (!r) throw new Error(`unknown reservation ${reservationId}`);
    const a = store.account(r.apiKey) as AccountRecord;
    if (r.state !== 'held') return { chargedMsat: r.costMsat ?? 0, remainingMsat: a.balanceMsat - a.reservedMsat };
    // As routstr-core: a cost above the reservation is charged as far as the balance goes.
    const charged = Math.min(Math.max(0, Math.ceil(costMsat)), a.balanceMsat);
    const next = {
      reservedMsat: a.reservedMsat - r.amountMsat,
      balanceMsat: a.balanceMsat - charged,
      totalRequests: a.totalRequests + 1,
      totalSpentMsat: a.totalSpentMsat + charged,
    };
    store.updateAccount(r.apiKey, next);
    store.closeReservation(reservationId, 'settled', charged);
    if (charged > 0) store.insertCharge(`res:${reservationId}`, 'bearer', charged);
    return { chargedMsat: charged, remainingMsat: next.balanceMsat - next.reservedMsat };
  });
}

/** Releases a held reservation without charging (the upstream failed). */
export function releaseReservation(store: PayeeStore, reservationId: string): void {
  store.tx(() => {
    const r = store.reservation(reservationId);
    if (!r || r.state !== 'held') return;
    const a = store.account(r.apiKey) as AccountRecord;
    store.updateAccount(r.apiKey, { reservedMsat: Math.max(0, a.reservedMsat - r.amountMsat) });
    store.closeReservation(reservationId, 'released', null);
  });
}

/** Makes (or adopts) the token of a debited refund and stores it on the account. */
export async function deliverRefund(store: PayeeStore, wallet: EcashWallet, id: string, apiKey: string, amountSat: number): Promise<AccountRefund> {
  let sent: { token: string; entryId: string };
  try {
    sent = await sendOnce(wallet, refundRef(id), amountSat, 'account refund');
  } catch (error) {
    if (error instanceof InsufficientFunds) {
      // Nothing left the wallet: put the money back on the key.
      store.tx(() => {
        store.credit(apiKey, amountSat * 1000);
        store.finishRefund(id, '');
      });
      throw refundRefused('The node cannot make the refund token now; try again later', 503);
    }
    throw error;
  }
  failpoint('payee:refund-after-send');
  store.tx(() => {
    store.finishRefund(id, sent.token);
    store.updateAccount(apiKey, { refundToken: sent.token, refundSat: amountSat });
  });
  wallet.settle(sent.entryId);
  return { token: sent.token, sat: sat(amountSat) };
}
