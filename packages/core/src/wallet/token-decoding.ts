/**
 * Reading an incoming token before anything is done with it (a clear UnreadableToken or
 * UnknownMint, nothing changed), and telling from the wallet's own swap records whether the
 * wallet itself redeemed a token — the payments layer must never take "spent at the mint" for "ours".
 */
import { getTokenMetadata, normalizeMintUrl, type Proof } from '@cashu/cashu-ts';
import { sat, type Sat } from '../money/index.ts';
import { UnknownMint, UnreadableToken } from './errors.ts';
import { toSats, type MintContext } from './mint-context.ts';
import type { WalletStore } from './store.ts';

/** What `receivedToken` says about a token: redeemed by our swap, swap outcome unknown, or never ours. */
export type ReceivedState = { state: 'received'; creditedSat: Sat } | { state: 'pending' } | { state: 'none' };

/** Decodes a sat token of a configured mint whose proofs all use keysets that mint knows. */
export function decodeToken(contexts: ReadonlyMap<string, MintContext>, token: string): { ctx: MintContext; proofs: Proof[] } {
  if (typeof token !== 'string' || token.trim() === '') throw new UnreadableToken('the token is empty');
  if (!/^cashu[AB]/.test(token.trim())) throw new UnreadableToken('not a Cashu token: it should start with cashuA or cashuB');
  let mintUrl: string;
  // a decoding failure is reported as malformed; the library's own words (often a TypeError) stay in `cause`
  try {
    mintUrl = normalizeMintUrl(getTokenMetadata(token.trim()).mint);
  } catch (error) {
    throw new UnreadableToken('malformed Cashu token: it could not be decoded', { cause: error });
  }
  const ctx = contexts.get(mintUrl);
  if (!ctx) throw new UnknownMint(mintUrl);
  let decoded;
  try {
    decoded = ctx.cashu.decodeToken(token.trim());
  } catch (error) {
    throw new UnreadableToken('malformed Cashu token: it could not be decoded', { cause: error });
  }
  if ((decoded.unit ?? 'sat') !== 'sat') throw new UnreadableToken(`token unit ${decoded.unit} is not sat`);
  if (decoded.proofs.length === 0) throw new UnreadableToken('token holds no proofs');
  const known = new Set(ctx.cashu.keyChain.getAllKeysetIds());
  for (const p of decoded.proofs) {
    if (!known.has(p.id)) throw new UnreadableToken(`token proof uses keyset ${p.id}, unknown at ${ctx.url}`);
    if (typeof p.secret !== 'string' || typeof p.C !== 'string' || toSats(p.amount) <= 0) throw new UnreadableToken('token holds a malformed proof');
  }
  return { ctx, proofs: decoded.proofs };
}

/** Whether one of our receive swaps took exactly these proofs, by the wallet's operation records. */
export function receivedState(store: WalletStore, proofs: readonly Proof[]): ReceivedState {
  const secrets = new Set(proofs.map((p) => p.secret));
  const first = proofs[0] as Proof;
  const ops = store.receivesOfSecret(first.secret).filter((op) => {
    const inputs = (op.data['inputs'] as Array<{ secret: string }> | undefined) ?? [];
    return inputs.length === secrets.size && inputs.every((p) => secrets.has(p.secret));
  });
  const done = ops.find((op) => op.state === 'done');
  if (done) return { state: 'received', creditedSat: sat(done.amount - done.fee) };
  if (ops.some((op) => op.state === 'prepared')) return { state: 'pending' };
  return { state: 'none' };
}
