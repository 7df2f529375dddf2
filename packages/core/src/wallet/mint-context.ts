/**
 * A configured mint as the wallet talks to it (URL + cashu-ts wallet), and the small conversions
 * every wallet part shares: cashu-ts amounts to sats, stored proofs to cashu-ts proofs, and mint
 * failures to the wallet's typed errors.
 */
import { isMintOperationError, normalizeMintUrl, type OperationCounters, type ProofLike, type Wallet as CashuWallet } from '@cashu/cashu-ts';
import type { SwapMaths } from './curve-pool.ts';
import { MintRefused, ProofsAlreadySpent, UnknownMint, WalletError } from './errors.ts';
import type { CounterRangeRecord, StoredProof } from './store.ts';

/** NUT error code for "proofs already spent". */
const MINT_CODE_ALREADY_SPENT = 11001;

/** One configured mint: its normalised URL, the cashu-ts wallet bound to it, and where its swaps' curve maths run. */
export interface MintContext {
  url: string;
  cashu: CashuWallet;
  /** cashu-ts's swap calls for this mint, in the wallet's curve pool (or in this thread when curveWorkers is 0). */
  swaps: SwapMaths;
}

/** The context of a configured mint (any spelling of its URL); UnknownMint otherwise. */
export function contextFor(contexts: ReadonlyMap<string, MintContext>, mint: string): MintContext {
  let url: string;
  try {
    url = normalizeMintUrl(mint);
  } catch {
    throw new UnknownMint(mint);
  }
  const ctx = contexts.get(url);
  if (!ctx) throw new UnknownMint(url);
  return ctx;
}

/** Read a sats integer from a cashu-ts Amount or anything number-like. */
export function toSats(value: { toString(): string } | number): number {
  return Number(value.toString());
}

/** Σ of the proofs' amounts, in sats. */
export function sumOf(proofs: ReadonlyArray<{ amount: { toString(): string } | number }>): number {
  return proofs.reduce((s, p) => s + toSats(p.amount), 0);
}

/** A stored proof as cashu-ts takes it. */
export function asProofLike(p: StoredProof): ProofLike {
  return { id: p.id, amount: p.amount, secret: p.secret, C: p.C, ...(p.dleq ? { dleq: p.dleq } : {}) };
}

/** A cashu-ts `onCountersReserved` callback that journals the NUT-13 counter ranges into `into`. */
export function collect(into: CounterRangeRecord[]): (c: OperationCounters) => void {
  return (c) => {
    into.push({ keysetId: c.keysetId, start: c.start, count: c.count });
  };
}

/** A mint failure as a wallet error: already spent → ProofsAlreadySpent, anything else → MintRefused. */
export function mapMintError(error: unknown, context: string): Error {
  if (error instanceof WalletError) return error;
  if (isMintOperationError(error)) {
    if (error.code === MINT_CODE_ALREADY_SPENT) return new ProofsAlreadySpent(`${context}: ${error.message}`, { cause: error });
    return new MintRefused(`${context}: ${error.message}`, error.code, { cause: error });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new MintRefused(`${context}: ${message}`, undefined, { cause: error });
}
