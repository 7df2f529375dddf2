/**
 * The incoming-token journal: a token handed to the wallet (X-Cashu change, a refund) is kept as a
 * string in one synchronous, durable transaction — from then on it is the wallet's money even if
 * the process dies — and redeemed at the mint later, in the background, by an ordinary
 * write-ahead receive swap. Recovery (on open) finishes a swap a crash cut off and redeems what
 * is still kept. A token the mint refuses (spent by someone else, forged) is recorded as refused:
 * it leaves the incoming balance and was never the wallet's.
 */
import { randomUUID } from 'node:crypto';
import type { Proof, ProofLike } from '@cashu/cashu-ts';
import { sat, type Sat } from '../money/index.ts';
import { MintRefused, ProofsAlreadySpent, UnknownMint, UnreadableToken } from './errors.ts';
import { failpoint } from './failpoint.ts';
import type { IncomingProblem, IncomingRecord, IncomingStore } from './incoming-store.ts';
import { sumOf, type MintContext } from './mint-context.ts';
import type { OperationRecord, WalletStore } from './store.ts';
import { decodeToken, receivedState } from './token-decoding.ts';

/** What became of a kept token: redeemed (sats credited), refused by the mint, or still kept (mint unreachable: recovery tries again). */
export type IncomingOutcome =
  | { readonly status: 'redeemed'; readonly creditedSat: Sat }
  | { readonly status: 'refused'; readonly problem: IncomingProblem }
  | { readonly status: 'kept' };

/** A kept token as `keepIncoming` returns it: durable already; `redeemed` settles when the background swap is decided. */
export interface IncomingEntry {
  readonly id: string;
  readonly mint: string;
  /** Face value, sats. */
  readonly amount: Sat;
  readonly purpose: string;
  readonly requestId: string | null;
  /** Never rejects. */
  readonly redeemed: Promise<IncomingOutcome>;
}

/** What the journal needs of its wallet: the books, mints, owner, and its receive swap. */
export interface IncomingHost {
  readonly store: WalletStore;
  readonly incoming: IncomingStore;
  readonly contexts: ReadonlyMap<string, MintContext>;
  readonly owner: string;
  /** True when the owner that kept an entry is gone (its process died, or it was closed). */
  orphaned(owner: string): boolean;
  /** A write-ahead receive swap of `inputs` tied to the incoming entry (failpoints `incoming:*`). */
  redeemSwap(ctx: MintContext, inputs: ProofLike[], incomingOf: string): Promise<Sat>;
  /** Settles a receive operation a crash or an outage left open, if the mint answers. */
  tryResolve(opId: string): Promise<void>;
  /** Whether the wallet still runs (a closed wallet starts no swap). */
  isOpen(): boolean;
}

/** Keeps incoming tokens and redeems them in the background (one redeem per entry at a time). */
export class IncomingJournal {
  readonly #host: IncomingHost;
  /** The journal's table (in the wallet's file). */
  readonly store: IncomingStore;
  readonly #running = new Map<string, Promise<IncomingOutcome>>();
  /** Redeems started by keep() that have not ended (scheduled ones included). */
  readonly #background = new Set<Promise<IncomingOutcome>>();

  constructor(host: IncomingHost) {
    this.#host = host;
    this.store = host.incoming;
  }

  /** The background redeems not yet ended (what `EcashWallet.idle()` waits for). */
  background(): Promise<IncomingOutcome>[] {
    return [...this.#background, ...this.#running.values()];
  }

  /** Redeems running now. */
  get running(): number {
    return this.#running.size;
  }

  /**
   * Keeps `token` durably (one transaction; typed UnreadableToken/UnknownMint for a token that is
   * not ecash of a configured mint, nothing kept) and starts its redeem once the caller's turn ends.
   * The same token kept twice is kept once (the second call gets the first entry).
   */
  keep(token: string, meta: { purpose: string; requestId?: string }): IncomingEntry {
    const { ctx, proofs } = decodeToken(this.#host.contexts, token);
    const { incoming } = this.#host;
    const kept = token.trim();
    const entry = incoming.tx(() => {
      const known = incoming.byToken(kept);
      if (known) return known;
      const e = { id: randomUUID(), mint: ctx.url, amount: sat(sumOf(proofs)), token: kept, purpose: meta.purpose, requestId: meta.requestId ?? null, owner: this.#host.owner };
      incoming.insert(e);
      return e;
    });
    failpoint('incoming:after-keep');
    // setImmediate: the caller (an answer on its way out) goes first; the swap is not on its path
    const redeemed = new Promise<IncomingOutcome>((resolve) => setImmediate(() => resolve(this.redeem(entry.id))));
    this.#background.add(redeemed);
    void redeemed.finally(() => this.#background.delete(redeemed));
    return { id: entry.id, mint: entry.mint, amount: entry.amount, purpose: entry.purpose, requestId: entry.requestId, redeemed };
  }

  /** Σ face value of tokens kept and not yet redeemed (per mint, or in total). */
  balance(mint?: string): Sat {
    const sums = this.#host.incoming.keptSums();
    if (mint !== undefined) return sat(sums.get(mint) ?? 0);
    let total = 0;
    for (const v of sums.values()) total += v;
    return sat(total);
  }

  /** Redeems one kept entry (joins a redeem of it already running); never rejects. */
  redeem(id: string): Promise<IncomingOutcome> {
    const running = this.#running.get(id);
    if (running) return running;
    const p = this.#redeemOnce(id)
      .catch((): IncomingOutcome => ({ status: 'kept' }))
      .finally(() => this.#running.delete(id));
    this.#running.set(id, p);
    return p;
  }

  /** Redeems every kept entry this wallet may take (its own, or a gone owner's); the outcomes in order. */
  async redeemAll(): Promise<IncomingOutcome[]> {
    const out: IncomingOutcome[] = [];
    for (const e of this.#host.incoming.list('kept')) {
      if (e.owner !== this.#host.owner && !this.#host.orphaned(e.owner)) continue;
      out.push(await this.redeem(e.id));
    }
    return out;
  }

  async #redeemOnce(id: string): Promise<IncomingOutcome> {
    const { incoming } = this.#host;
    let e = incoming.get(id);
    if (!e || e.status !== 'kept' || !this.#host.isOpen()) return outcomeOf(e);
    // a swap of this entry that a crash or an outage left open is settled first: it may have taken the token already
    for (const op of this.#openSwapsOf(id)) await this.#host.tryResolve(op.id);
    if (this.#openSwapsOf(id).length > 0) return { status: 'kept' };
    e = incoming.get(id);
    if (!e || e.status !== 'kept') return outcomeOf(e);
    let ctx: MintContext;
    let proofs: Proof[];
    try {
      ({ ctx, proofs } = decodeToken(this.#host.contexts, e.token));
    } catch (error) {
      // a mint dropped from the configuration: kept until it is configured again
      if (error instanceof UnknownMint) return { status: 'kept' };
      incoming.tx(() => incoming.decide(id, { status: 'refused', problem: 'forged' }));
      return outcomeOf(incoming.get(id));
    }
    try {
      await this.#host.redeemSwap(ctx, proofs, id);
    } catch (error) {
      const problem = refusal(error);
      if (problem === 'spent') {
        // spent at the mint: by our own earlier swap (then the proofs are ours), or by someone else
        const ours = receivedState(this.#host.store, proofs);
        if (ours.state === 'pending') return { status: 'kept' };
        incoming.tx(() => incoming.decide(id, ours.state === 'received' ? { status: 'redeemed', credited: ours.creditedSat } : { status: 'refused', problem: 'spent' }));
      } else if (problem === 'forged') {
        incoming.tx(() => incoming.decide(id, { status: 'refused', problem: 'forged' }));
      }
    }
    return outcomeOf(incoming.get(id));
  }

  #openSwapsOf(id: string): OperationRecord[] {
    return this.#host.store.openOperations().filter((op) => op.kind === 'receive' && op.data['incomingOf'] === id);
  }
}

/** The outcome an entry's record says. */
function outcomeOf(e: IncomingRecord | undefined): IncomingOutcome {
  if (e?.status === 'redeemed') return { status: 'redeemed', creditedSat: e.credited };
  if (e?.status === 'refused') return { status: 'refused', problem: e.problem ?? 'forged' };
  return { status: 'kept' };
}

/**
 * Why a redeem swap failed for good ('spent', 'forged': the receive swap reads the mint's "could not be
 * verified" and "unknown keyset" as an unreadable token), or undefined: the mint did not answer, or
 * refused for a reason that is not the token's (unbalanced, outputs already signed, …) — try again later.
 */
function refusal(error: unknown): IncomingProblem | undefined {
  if (error instanceof ProofsAlreadySpent) return 'spent';
  if (error instanceof UnreadableToken) return 'forged';
  return undefined;
}
