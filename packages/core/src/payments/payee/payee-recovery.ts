/**
 * The payee's recovery on open (crash rules in payee.ts's module doc): a token recorded
 * 'redeeming' is ours only if our wallet's own swap of it finished; a redeemed X-Cashu request
 * never billed is refunded in full; billed change, deposits, reservations, refunds and token
 * payouts that a crash cut off are finished. A step that cannot finish now is deferred, and the
 * node still starts.
 */
import { UnknownMint, UnreadableToken, type EcashWallet } from '../../wallet/index.ts';
import type { PayeeStore } from './payee-store.ts';
import { deliverRefund, releaseReservation } from './account-book.ts';
import { changeRef, madeToken, payoutRef, sendOnce } from './outgoing-tokens.ts';

/** What recovery needs of the payee: its books, its wallet, and how an X-Cashu request is finished. */
export interface PayeeRecoveryHost {
  readonly store: PayeeStore;
  readonly wallet: EcashWallet;
  /** Bills a redeemed request (cost 0: refunded in full) and delivers its change. */
  finishXCashu(tokenHash: string, costMsat: number): Promise<unknown>;
}

/** Finishes what a crash interrupted; counts the steps resolved and those left for later. */
export async function recoverPayee(host: PayeeRecoveryHost): Promise<{ resolved: number; deferred: number }> {
  const { store, wallet } = host;
  let resolved = 0;
  let deferred = 0;
  const step = async (fn: () => Promise<boolean | void> | boolean | void): Promise<void> => {
    try {
      if ((await fn()) === false) deferred++;
      else resolved++;
    } catch {
      deferred++;
    }
  };
  for (const r of store.xcashuByState('redeeming')) {
    await step(() => {
      const ours = redeemedByUs(wallet, r.token);
      if (ours.state === 'pending') return false; // the wallet could not settle its swap yet
      store.tx(() => {
        if (ours.state === 'received') store.updateXCashu(r.tokenHash, { state: 'redeemed', creditedMsat: ours.creditedSat * 1000 });
        else store.deleteXCashu(r.tokenHash);
      });
    });
  }
  // A request whose change the wallet journaled before the crash was billed: face − change (the
  // payee commits its bill together with the change, after the wallet's commit of the change token).
  for (const r of store.xcashuByState('redeemed')) {
    const change = madeToken(wallet, changeRef(r.tokenHash));
    if (!change?.token) continue;
    await step(() => {
      const changeSat = Math.min(change.amount, r.faceSat);
      store.tx(() => {
        store.updateXCashu(r.tokenHash, { state: 'done', costMsat: (r.faceSat - changeSat) * 1000, changeSat, changeToken: change.token });
        store.insertCharge(r.requestId, 'xcashu', (r.faceSat - changeSat) * 1000);
      });
      if (change.status !== 'settled') wallet.settle(change.id);
    });
  }
  // A request cut off before it was billed is refunded in full: the client may not have got its answer.
  for (const r of store.xcashuByState('redeemed')) await step(() => host.finishXCashu(r.tokenHash, 0).then(() => undefined));
  for (const r of store.xcashuByState('charged')) await step(() => host.finishXCashu(r.tokenHash, r.costMsat ?? 0).then(() => undefined));
  for (const d of store.depositsRedeeming()) {
    await step(() => {
      const ours = redeemedByUs(wallet, d.token);
      if (ours.state === 'pending') return false;
      store.tx(() => {
        if (ours.state === 'received') {
          store.finishDeposit(d.tokenHash, ours.creditedSat * 1000);
          store.credit(d.apiKey, ours.creditedSat * 1000);
        } else store.deleteDeposit(d.tokenHash);
      });
    });
  }
  for (const r of store.heldReservations()) await step(() => releaseReservation(store, r.id));
  for (const r of store.pendingRefunds()) await step(() => deliverRefund(store, wallet, r.id, r.apiKey, r.sat).then(() => undefined));
  for (const p of store.pendingPayouts()) {
    if (p.kind !== 'token') continue;
    await step(async () => {
      const sent = await sendOnce(wallet, payoutRef(p.id), p.amountMsat / 1000, 'admin withdraw');
      store.tx(() => store.updatePayout(p.id, { state: 'done', token: sent.token }));
      wallet.settle(sent.entryId);
    });
  }
  return { resolved, deferred };
}

/**
 * Whether a token we started to redeem ended up ours, by our wallet's own swap records (the
 * wallet's recovery on open has finished or rolled back the swap by now). "Spent at the mint" is
 * no proof: the client may have taken its token back after our swap failed.
 */
function redeemedByUs(wallet: EcashWallet, token: string): { state: 'received'; creditedSat: number } | { state: 'pending' } | { state: 'none' } {
  try {
    return wallet.receivedToken(token);
  } catch (error) {
    // A token our wallet cannot even decode was never swapped by it.
    if (error instanceof UnknownMint || error instanceof UnreadableToken) return { state: 'none' };
    throw error;
  }
}
