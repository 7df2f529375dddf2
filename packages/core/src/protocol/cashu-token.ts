/**
 * Reading the Cashu tokens that travel in `X-Cashu` and `Authorization: Bearer` headers, without
 * a mint: face value, unit, mint. routstr-core checks the face value (msats; sat ×1000) against
 * the gate before redeeming, and keys a token's account by `sk-` + sha256(token string).
 */
import { createHash } from 'node:crypto';
import { getTokenMetadata } from '@cashu/cashu-ts';
import { msat, type Msat } from '../money/index.ts';
import { ProtocolError } from './protocol-error.ts';

/** What a token header says about itself. */
export interface CashuTokenSummary {
  readonly version: 'A' | 'B';
  readonly mint: string;
  readonly unit: 'sat' | 'msat';
  /** Face value in the token's unit. */
  readonly amount: number;
  /** Face value in msats, as routstr-core compares it with the gate. */
  readonly amountMsat: Msat;
  readonly proofCount: number;
  readonly memo: string | undefined;
}

/** Decodes a `cashuA…`/`cashuB…` token string; anything else is ProtocolError('invalid_token'). */
export function parseCashuToken(token: string, field = 'token'): CashuTokenSummary {
  const text = token.trim();
  const version = text.startsWith('cashuB') ? 'B' : text.startsWith('cashuA') ? 'A' : undefined;
  if (!version) throw new ProtocolError('invalid_token', field, 'not a cashuA/cashuB token');
  let meta: ReturnType<typeof getTokenMetadata>;
  try {
    meta = getTokenMetadata(text);
  } catch (e) {
    throw new ProtocolError('invalid_token', field, `cannot decode token: ${(e as Error).message}`);
  }
  const unit = meta.unit;
  if (unit !== 'sat' && unit !== 'msat') throw new ProtocolError('invalid_token', `${field}.unit`, `unsupported unit ${JSON.stringify(unit)}`);
  let amount: number;
  try {
    amount = meta.amount.toNumber();
  } catch (e) {
    throw new ProtocolError('invalid_token', `${field}.amount`, (e as Error).message);
  }
  if (!Number.isSafeInteger(amount) || amount <= 0) throw new ProtocolError('invalid_token', `${field}.amount`, 'token has no value');
  const amountMsat = unit === 'sat' ? amount * 1000 : amount;
  if (!Number.isSafeInteger(amountMsat)) throw new ProtocolError('invalid_token', `${field}.amount`, 'amount too large');
  return { version, mint: meta.mint, unit, amount, amountMsat: msat(amountMsat), proofCount: meta.proofAmounts.length, memo: meta.memo };
}

/** The API key routstr-core gives a Cashu bearer token's account: `sk-` + sha256(utf8(token)). */
export function apiKeyForToken(token: string): string {
  return `sk-${createHash('sha256').update(token, 'utf8').digest('hex')}`;
}

/** What an `Authorization` header carries. */
export type BearerCredential = { readonly kind: 'api_key'; readonly apiKey: string } | { readonly kind: 'cashu'; readonly token: string };

/** Reads `Authorization: Bearer <sk-…|cashu…>` (scheme case-insensitive, as the proxy path accepts). */
export function parseAuthorization(header: string): BearerCredential {
  const [scheme, value, ...rest] = header.trim().split(/\s+/);
  if (!scheme || scheme.toLowerCase() !== 'bearer' || !value || rest.length > 0) {
    throw new ProtocolError('invalid_value', 'authorization', 'expected "Bearer <key>"');
  }
  if (/^sk-[0-9a-f]{64}$/.test(value)) return { kind: 'api_key', apiKey: value };
  if (value.startsWith('cashu')) return { kind: 'cashu', token: value };
  throw new ProtocolError('invalid_value', 'authorization', 'bearer is neither an sk- key nor a cashu token');
}
