/**
 * Bearer accounts' durable money moves (reservations and settlements are in session-ledger.ts and
 * shared-ledger.ts): a refund's debit is durable before its token is made, and the token is
 * delivered (or, when the wallet cannot make it, the debit is put back on the key); held
 * reservations an older version (or, shared books, a gone process) left are released by recovery.
 */
import { randomUUID } from 'node:crypto';
import { sat } from '../../money/index.ts';
import { InsufficientFunds, type EcashWallet } from '../../wallet/index.ts';
import { failpoint } from '../../wallet/failpoint.ts';
import { keyNotFoundError, refundRefused } from './payee-errors.ts';
import type { PayeeStore } from './payee-store.ts';
import type { AccountRefund } from './payee-types.ts';
import { nothingInFlight, refundRef, sendOnce } from './outgoing-tokens.ts';
import type { LiveAccount } from './session-ledger.ts';
import { freeGoneHolds } from './shared-ledger.ts';

/**
 * Releases a reservation left held in the books (recovery): an older version's, or (shared books)
 * one whose process is gone — `mayTake` re-checked in the transaction.
 */
export function releaseReservation(store: PayeeStore, reservationId: string, mayTake: (owner: string | null) => boolean = () => true): void {
  store.tx(() => {
    const r = store.lockHeld(reservationId);
    if (!r || !mayTake(r.owner)) return;
    store.closeHeld(r, { state: 'released' });
  });
}

/** Makes (or adopts) the token of a debited refund and stores it on the account. */
export async function deliverRefund(
  store: PayeeStore, wallet: EcashWallet, id: string, apiKey: string, amountSat: number, onCredit: (deltaMsat: number) => void = () => {},
): Promise<AccountRefund> {
  let sent: { token: string; entryId: string };
  try {
    sent = await sendOnce(wallet, refundRef(id), amountSat, 'account refund');
  } catch (error) {
    if (error instanceof InsufficientFunds) {
      // Nothing left the wallet: put the money back on the key — once, by whoever closes the refund.
      const credited = store.tx(() => {
        if (!store.finishRefund(id, '')) return false;
        store.credit(apiKey, amountSat * 1000);
        return true;
      });
      if (credited) onCredit(amountSat * 1000);
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

/**
 * Debits the whole sats available (call inside tx) and records the refund pending (under `owner`),
 * or answers the last refund again while nothing new was deposited. `live`: the account's figures now.
 */
export function planRefund(
  store: PayeeStore, apiKey: string, live: LiveAccount | undefined, owner: string | null,
): { kind: 'cached'; refund: AccountRefund } | { kind: 'new'; id: string; wholeSat: number } {
  const a = store.lockAccount(apiKey); // the debit below is written over the row: no lockless hold or settle may land between
  if (!a || !live) throw keyNotFoundError();
  const wholeSat = Math.floor((live.balanceMsat - live.reservedMsat) / 1000);
  if (wholeSat <= 0) {
    if (a.refundToken !== null) return { kind: 'cached' as const, refund: { token: a.refundToken, sat: sat(a.refundSat ?? 0) } };
    if (live.reservedMsat > 0) throw refundRefused('Cannot refund key. There are ongoing requests using this key.');
    throw refundRefused(live.balanceMsat > 0 ? 'Balance too small to refund' : 'No balance to refund');
  }
  const id = randomUUID();
  store.updateAccount(apiKey, { balanceMsat: a.balanceMsat - wholeSat * 1000 });
  store.insertRefund({ id, apiKey, sat: wholeSat }, owner);
  return { kind: 'new' as const, id, wholeSat };
}

/** What a refund on shared books needs of the payee. */
export interface SharedRefundHost {
  readonly store: PayeeStore;
  readonly wallet: EcashWallet;
  readonly owner: string | null;
  mayTake(owner: string | null): boolean;
}

/**
 * A refund on shared books: a pending refund of the key is finished by one process at a time
 * (taken over in the transaction that would otherwise debit a new one; another live process's
 * answers 409 "try again"); one whose token cannot be made now is let go for any process to retry.
 */
export async function refundShared(host: SharedRefundHost, apiKey: string): Promise<AccountRefund> {
  const { store } = host;
  const plan = store.tx(() => {
    const pending = store.pendingRefunds(apiKey)[0];
    if (!pending) {
      freeGoneHolds(store, apiKey, (o) => host.mayTake(o)); // a dead process's requests no longer block the refund
      const a = store.lockAccount(apiKey);
      return planRefund(store, apiKey, a && { balanceMsat: a.balanceMsat, reservedMsat: a.reservedMsat, totalRequests: a.totalRequests, totalSpentMsat: a.totalSpentMsat }, host.owner);
    }
    if (pending.owner !== host.owner && !host.mayTake(pending.owner)) throw refundRefused('A refund of this key is being made; try again', 409);
    store.setOwner('refunds', pending.id, host.owner);
    return { kind: 'pending' as const, id: pending.id, wholeSat: pending.sat };
  });
  if (plan.kind === 'cached') return plan.refund;
  if (plan.kind === 'new') failpoint('payee:refund-after-debit');
  try {
    return await deliverRefund(store, host.wallet, plan.id, apiKey, plan.wholeSat);
  } catch (error) {
    if (nothingInFlight(host.wallet, refundRef(plan.id))) store.tx(() => store.setOwner('refunds', plan.id, null));
    throw error;
  }
}
