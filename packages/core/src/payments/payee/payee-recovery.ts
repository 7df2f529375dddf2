/**
 * The payee's recovery on open (crash rules in payee.ts's module doc): a token recorded
 * 'redeeming' is ours only if our wallet's own swap of it finished; a redeemed X-Cashu request
 * never billed is refunded in full; billed change, deposits, reservations, refunds and token
 * payouts that a crash cut off are finished. A step that cannot finish now is deferred, and the
 * node still starts.
 *
 * With shared books (several processes on one database) recovery runs at open and may run again
 * while others serve: it touches only records whose owner is gone (or that nobody owns), takes a
 * record over in one transaction before it works on it (claim), and re-reads each record inside the
 * transaction that finishes it, so two processes recovering at once never finish one twice.
 */
import { UnknownMint, UnreadableToken, type EcashWallet } from '../../wallet/index.ts';
import type { OwnedTable, PayeeStore } from './payee-store.ts';
import { deliverRefund, releaseReservation } from './account-book.ts';
import { changeRef, madeToken, payoutRef, sendOnce } from './outgoing-tokens.ts';

/** What recovery needs of the payee: its books, its wallet, and how an X-Cashu request is finished. */
export interface PayeeRecoveryHost {
  readonly store: PayeeStore;
  readonly wallet: EcashWallet;
  /** Bills a redeemed request (cost 0: refunded in full) and delivers its change. */
  finishXCashu(tokenHash: string, costMsat: number): Promise<unknown>;
  /** This process's owner id on records (null: single process). */
  readonly owner: string | null;
  /** Whether a record written by `owner` may be finished here (single process: always). */
  mayTake(owner: string | null): boolean;
}

/** Takes a record over for this process if it is still `state` and its owner is gone (one transaction); false otherwise. */
export function claim(host: PayeeRecoveryHost, table: OwnedTable, id: string, state: string): boolean {
  return host.store.tx(() => {
    const cur = host.store.ownerOf(table, id);
    if (!cur || cur.state !== state || !host.mayTake(cur.owner)) return false;
    host.store.setOwner(table, id, host.owner);
    return true;
  });
}

/** Lets a claimed record go (its step failed): any process may try it again. */
function letGo(host: PayeeRecoveryHost, table: OwnedTable, id: string): void {
  host.store.tx(() => host.store.setOwner(table, id, null));
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
  const mine = <T extends { owner: string | null }>(records: T[]): T[] => records.filter((r) => host.mayTake(r.owner));
  // Still `state` and still not a live process's, read inside the transaction that acts on it.
  const still = (table: OwnedTable, id: string, state: string): boolean => {
    const cur = store.ownerOf(table, id);
    return cur?.state === state && host.mayTake(cur.owner);
  };
  for (const r of mine(store.xcashuByState('redeeming'))) {
    await step(() => {
      const ours = redeemedByUs(wallet, r.token);
      if (ours.state === 'pending') return false; // the wallet could not settle its swap yet
      store.tx(() => {
        if (!still('xcashu', r.tokenHash, 'redeeming')) return;
        if (ours.state === 'received') store.updateXCashu(r.tokenHash, { state: 'redeemed', creditedMsat: ours.creditedSat * 1000 });
        else store.deleteXCashu(r.tokenHash);
      });
    });
  }
  // A request whose change the wallet journaled before the crash was billed: face − change (the
  // payee commits its bill together with the change, after the wallet's commit of the change token).
  for (const r of mine(store.xcashuByState('redeemed'))) {
    const change = madeToken(wallet, changeRef(r.tokenHash));
    if (!change?.token) continue;
    await step(() => {
      const changeSat = Math.min(change.amount, r.faceSat);
      store.tx(() => {
        if (!still('xcashu', r.tokenHash, 'redeemed')) return;
        store.updateXCashu(r.tokenHash, { state: 'done', costMsat: (r.faceSat - changeSat) * 1000, changeSat, changeToken: change.token });
        store.insertCharge(r.requestId, 'xcashu', (r.faceSat - changeSat) * 1000);
      });
      if (change.status !== 'settled') wallet.settle(change.id);
    });
  }
  // A request cut off before it was billed is refunded in full: the client may not have got its answer.
  // finishXCashu takes the request over (shared books) before it bills it.
  for (const r of mine(store.xcashuByState('redeemed'))) await step(() => host.finishXCashu(r.tokenHash, 0).then(() => undefined));
  for (const r of mine(store.xcashuByState('charged'))) await step(() => host.finishXCashu(r.tokenHash, r.costMsat ?? 0).then(() => undefined));
  for (const d of mine(store.depositsRedeeming())) {
    await step(() => {
      const ours = redeemedByUs(wallet, d.token);
      if (ours.state === 'pending') return false;
      store.tx(() => {
        if (!still('deposits', d.tokenHash, 'redeeming')) return;
        if (ours.state === 'received') {
          store.finishDeposit(d.tokenHash, ours.creditedSat * 1000);
          store.credit(d.apiKey, ours.creditedSat * 1000);
        } else store.deleteDeposit(d.tokenHash);
      });
    });
  }
  for (const r of mine(store.heldReservations())) await step(() => releaseReservation(store, r.id, (o) => host.mayTake(o)));
  for (const r of mine(store.pendingRefunds())) {
    if (!claim(host, 'refunds', r.id, 'pending')) continue;
    await step(() =>
      deliverRefund(store, wallet, r.id, r.apiKey, r.sat).then(
        () => undefined,
        (error: unknown) => {
          letGo(host, 'refunds', r.id);
          throw error;
        },
      ),
    );
  }
  for (const p of mine(store.pendingPayouts())) {
    if (p.kind !== 'token' || !claim(host, 'payouts', p.id, 'pending')) continue;
    await step(async () => {
      try {
        const sent = await sendOnce(wallet, payoutRef(p.id), p.amountMsat / 1000, 'admin withdraw');
        store.tx(() => store.updatePayout(p.id, { state: 'done', token: sent.token }));
        wallet.settle(sent.entryId);
      } catch (error) {
        letGo(host, 'payouts', p.id);
        throw error;
      }
    });
  }
  return { resolved, deferred };
}

/**
 * Recovery passes, one at a time in this process (a second call joins the running pass): on
 * demand, and with shared books on a timer, so that what a process left when it died (a buyer's
 * change, a held reservation, a refund) is finished by the others without waiting for its restart.
 * When a timed pass leaves steps deferred (a gone process's swap the wallet has not settled yet), the
 * wallet's recovery (without reclaiming) runs and the pass once more.
 */
export class RecoveryRunner {
  readonly #host: PayeeRecoveryHost;
  #running: Promise<{ resolved: number; deferred: number }> | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(host: PayeeRecoveryHost) {
    this.#host = host;
  }

  /** One pass (or the one running). */
  run(): Promise<{ resolved: number; deferred: number }> {
    this.#running ??= recoverPayee(this.#host).finally(() => (this.#running = undefined));
    return this.#running;
  }

  /** Runs a pass every `everyMs` until stop() (the timer does not keep the process alive). */
  every(everyMs: number): void {
    if (this.#timer !== undefined || !(everyMs > 0)) return;
    this.#timer = setInterval(() => {
      if (this.#running) return;
      // a failed pass (the database or the mint unreachable) is tried again on the next tick
      this.run()
        .then((pass) => (pass.deferred > 0 ? this.#host.wallet.recover({ reclaimOutstanding: false }).then(() => this.run()) : pass))
        .catch(() => undefined);
    }, everyMs);
    this.#timer.unref();
  }

  /** Stops the timer (the payee is closing). */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }
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
