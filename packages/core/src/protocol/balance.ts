/**
 * Bodies of routstr-core's `/v1/balance/*` (alias `/v1/wallet/*`) endpoints. Amounts are msats
 * unless named `sats`; refund amounts are decimal STRINGS on the wire.
 */
import { z } from 'zod';
import type { Msat } from '../money/index.ts';
import { ProtocolError, parseWith, wireMsat } from './protocol-error.ts';

const int = z.number().int();
const optInt = int.nullable().optional();
const optStr = z.string().nullable().optional();

/** `POST|GET /v1/balance/create` → `{"api_key","balance"}`. */
export const createBalanceResponseSchema = z.object({ api_key: z.string(), balance: int }).loose();

const childKeySchema = z
  .object({ api_key: z.string(), total_requests: optInt, total_spent: optInt, balance_limit: optInt, balance_limit_reset: optStr, validity_date: optInt })
  .loose();

/** `GET /v1/balance/info`; `balance` may be negative on buggy nodes (core#520). */
export const balanceInfoSchema = z
  .object({
    api_key: z.string(),
    balance: int,
    reserved: int.optional(),
    is_child: z.boolean().optional(),
    total_requests: optInt,
    total_spent: optInt,
    balance_limit: optInt,
    balance_limit_reset: optStr,
    validity_date: optInt,
    child_keys: z.array(childKeySchema).optional(),
    parent_key_preview: z.string().optional(),
  })
  .loose();

/** `POST /v1/balance/topup` → `{"msats"}`. */
export const topupResponseSchema = z.object({ msats: int.nonnegative() }).loose();

const amountString = z.string().regex(/^\d+$/, 'expected a decimal integer string');

/** `POST /v1/balance/refund`: token or recipient, with `sats` or `msats` (strings; old nodes: int msats). */
export const refundResponseSchema = z
  .object({
    token: z.string().nullable().optional(),
    recipient: z.string().nullable().optional(),
    sats: z.union([amountString, int.nonnegative()]).optional(),
    msats: z.union([amountString, int.nonnegative()]).optional(),
  })
  .loose();

/** `POST /v1/balance/child-key`. */
export const childKeyResponseSchema = z
  .object({
    api_keys: z.array(z.string()),
    count: int,
    cost_msats: int,
    cost_sats: int,
    parent_balance: int,
    parent_balance_sats: int,
  })
  .loose();

export type CreateBalanceResponse = z.infer<typeof createBalanceResponseSchema>;
export type BalanceInfo = z.infer<typeof balanceInfoSchema>;
export type TopupResponse = z.infer<typeof topupResponseSchema>;
export type ChildKeyResponse = z.infer<typeof childKeyResponseSchema>;

/** A refund as a client uses it. */
export interface Refund {
  readonly token: string | undefined;
  readonly recipient: string | undefined;
  readonly unit: 'sat' | 'msat';
  readonly amountMsat: Msat;
}

/** Parses `/v1/balance/create`. */
export function parseCreateBalanceResponse(input: unknown): CreateBalanceResponse {
  return parseWith(createBalanceResponseSchema, input);
}

/** Parses `/v1/balance/info`. */
export function parseBalanceInfo(input: unknown): BalanceInfo {
  return parseWith(balanceInfoSchema, input);
}

/** Parses `/v1/balance/topup`. */
export function parseTopupResponse(input: unknown): TopupResponse {
  return parseWith(topupResponseSchema, input);
}

/** Parses `/v1/balance/child-key`. */
export function parseChildKeyResponse(input: unknown): ChildKeyResponse {
  return parseWith(childKeyResponseSchema, input);
}

/** Parses `/v1/balance/refund` into a unit-aware amount in msats. */
export function parseRefundResponse(input: unknown): Refund {
  const r = parseWith(refundResponseSchema, input);
  const token = r.token ?? undefined;
  const recipient = r.recipient ?? undefined;
  if (token === undefined && recipient === undefined) throw new ProtocolError('missing_field', 'token', 'refund has neither token nor recipient');
  if (r.sats !== undefined) return { token, recipient, unit: 'sat', amountMsat: wireMsat(Number(r.sats) * 1000, 'sats') };
  if (r.msats !== undefined) return { token, recipient, unit: 'msat', amountMsat: wireMsat(Number(r.msats), 'msats') };
  throw new ProtocolError('missing_field', 'sats', 'refund has neither sats nor msats');
}

/** `{"api_key","balance"}`. */
export function buildCreateBalanceResponse(apiKey: string, balanceMsat: number): CreateBalanceResponse {
  return { api_key: apiKey, balance: balanceMsat };
}

/** `/v1/balance/info` in routstr-core's key order. */
export function buildBalanceInfo(info: {
  apiKey: string;
  balance: number;
  reserved: number;
  isChild: boolean;
  totalRequests: number;
  totalSpent: number;
  balanceLimit?: number | null;
  balanceLimitReset?: string | null;
  validityDate?: number | null;
  parentKeyPreview?: string;
  childKeys?: { apiKey: string; totalRequests: number; totalSpent: number; balanceLimit?: number | null; balanceLimitReset?: string | null; validityDate?: number | null }[];
}): BalanceInfo {
  const out: Record<string, unknown> = {
    api_key: info.apiKey,
    balance: info.balance,
    reserved: info.reserved,
    is_child: info.isChild,
    total_requests: info.totalRequests,
    total_spent: info.totalSpent,
    balance_limit: info.balanceLimit ?? null,
    balance_limit_reset: info.balanceLimitReset ?? null,
    validity_date: info.validityDate ?? null,
  };
  if (info.parentKeyPreview !== undefined) out['parent_key_preview'] = info.parentKeyPreview;
  else if (info.childKeys !== undefined) {
    out['child_keys'] = info.childKeys.map((c) => ({
      api_key: c.apiKey,
      total_requests: c.totalRequests,
      total_spent: c.totalSpent,
      balance_limit: c.balanceLimit ?? null,
      balance_limit_reset: c.balanceLimitReset ?? null,
      validity_date: c.validityDate ?? null,
    }));
  }
  return out as BalanceInfo;
}

/** `{"msats"}`. */
export function buildTopupResponse(creditedMsat: number): TopupResponse {
  return { msats: creditedMsat };
}

/**
 * The refund body: `{"token"|"recipient", "sats"|"msats"}` with the amount as a string. With sat
 * units the sub-sat remainder stays on the key, as in routstr-core.
 */
export function buildRefundResponse(refund: { token?: string; recipient?: string; unit: 'sat' | 'msat'; amountMsat: number }): Record<string, string> {
  const body: Record<string, string> = refund.recipient !== undefined ? { recipient: refund.recipient } : { token: refund.token ?? '' };
  if (refund.unit === 'sat') body['sats'] = String(Math.floor(refund.amountMsat / 1000));
  else body['msats'] = String(refund.amountMsat);
  return body;
}

/** `/v1/balance/child-key` body. */
export function buildChildKeyResponse(apiKeys: string[], costMsat: number, parentBalanceMsat: number): ChildKeyResponse {
  return {
    api_keys: apiKeys,
    count: apiKeys.length,
    cost_msats: costMsat,
    cost_sats: Math.floor(costMsat / 1000),
    parent_balance: parentBalanceMsat,
    parent_balance_sats: Math.floor(parentBalanceMsat / 1000),
  };
}
