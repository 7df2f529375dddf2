/**
 * Operator API (`Authorization: Bearer <adminToken>`, loopback callers only unless allowed):
 * balances held and earned, withdrawals to a Cashu token or a bolt11 invoice, and the market
 * maker's price inputs. The token is compared in constant time and never logged.
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { PayeeError, type Payee } from '@routstr-kit/core';
import { header, readJson, sendError, sendJson, sendPayeeError } from './responses.ts';

export interface AdminDeps {
  readonly payee: Payee;
  readonly adminToken: string | undefined;
  /** Accept admin calls from non-loopback addresses (default false). */
  readonly allowRemote: boolean;
  /** Price inputs for `/admin/api/price-inputs` (the market maker's state, or the board's prices). */
  priceInputs(): unknown;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);
const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

function authorised(deps: AdminDeps, req: IncomingMessage): boolean {
  if (!deps.adminToken) return false;
  if (!deps.allowRemote && !LOOPBACK.has(req.socket.remoteAddress ?? '')) return false;
  const auth = header(req, 'authorization') ?? '';
  const given = auth.startsWith('Bearer ') ? auth.slice(7).trim() : '';
  return timingSafeEqual(digest(given), digest(deps.adminToken));
}

/** Serves `/admin/api/*`. */
export async function handleAdminRoute(deps: AdminDeps, req: IncomingMessage, res: ServerResponse, path: string, requestId: string): Promise<void> {
  if (!deps.adminToken) return sendError(res, 404, 'invalid_request_error', 'not_found', 'Not Found', requestId);
  if (!authorised(deps, req)) return sendError(res, 401, 'invalid_request_error', 'unauthorized', 'Admin token required', requestId);
  const method = req.method ?? 'GET';
  try {
    if (path === '/admin/api/balances' && method === 'GET') {
      const b = deps.payee.balances();
      return sendJson(res, 200, {
        held_sats: b.heldSat,
        pending_sats: b.pendingSat,
        revenue_msats: b.revenueMsat,
        paid_out_msats: b.paidOutMsat,
        owed_msats: b.liabilitiesMsat,
        withdrawable_sats: b.withdrawableSat,
        by_mint: deps.payee.wallet.balances(),
      }, requestId);
    }
    if (path === '/admin/api/withdraw' && method === 'POST') {
      const body = (await readJson(req)) as Record<string, unknown>;
      const invoice = typeof body['invoice'] === 'string' ? body['invoice'] : undefined;
      const amount = typeof body['amount_sats'] === 'number' ? body['amount_sats'] : undefined;
      if (!invoice && amount === undefined) return sendError(res, 400, 'invalid_request_error', 'invalid_request', 'Give "invoice" (bolt11) or "amount_sats" (for a Cashu token)', requestId);
      const payout = await deps.payee.withdraw(invoice ? { invoice } : { amountSat: amount as number });
      return sendJson(res, 200, { id: payout.id, kind: payout.kind, amount_sats: payout.amountSat, fee_sats: payout.feeSat, token: payout.token ?? null }, requestId);
    }
    if (path === '/admin/api/price-inputs' && method === 'GET') return sendJson(res, 200, deps.priceInputs(), requestId);
    return sendError(res, 404, 'invalid_request_error', 'not_found', 'Not Found', requestId);
  } catch (error) {
    if (error instanceof PayeeError) return sendPayeeError(res, error, requestId);
    throw error;
  }
}
