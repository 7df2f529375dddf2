/**
 * `/v1/balance/{create,info,topup,refund}` (and the `/v1/wallet/*` aliases the SDK calls) with
 * routstr-core's exact keys; `POST …/refund` with `X-Cashu: <original token>` re-delivers an
 * X-Cashu request's change: 425 + Retry-After while it is being made, then 200 with the same
 * token on every repeat.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  PayeeError,
  buildBalanceInfo,
  buildCreateBalanceResponse,
  buildHttpExceptionBody,
  buildRefundResponse,
  buildTopupResponse,
  parseAuthorization,
  type Payee,
} from '@routstr-kit/core';
import { InvalidJson, header, readJson, sendJson, sendPayeeError } from './responses.ts';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The part of the path after `/v1/balance` or `/v1/wallet`, or undefined when it is not a balance route. */
export function balanceRoute(path: string): string | undefined {
  const m = /^\/v1\/(?:balance|wallet)(\/.*)?$/.exec(path);
  if (!m) return undefined;
  return (m[1] ?? '/').replace(/\/+$/, '') || '/';
}

function detail(res: ServerResponse, status: number, message: string, requestId: string, headers: Record<string, string> = {}): void {
  sendJson(res, status, buildHttpExceptionBody(message, requestId), requestId, headers);
}

/** The account a `Bearer` header names (a Cashu bearer is redeemed once into its account). */
async function accountOf(payee: Payee, req: IncomingMessage): Promise<string | undefined> {
  const auth = header(req, 'authorization');
  if (!auth || !auth.startsWith('Bearer ')) return undefined;
  return payee.accountFor(parseAuthorization(auth));
}

/** Serves a balance route; `sub` is what balanceRoute returned. */
export async function handleBalanceRoute(payee: Payee, req: IncomingMessage, res: ServerResponse, sub: string, url: URL, requestId: string): Promise<void> {
  const method = req.method ?? 'GET';
  try {
    let body: Record<string, unknown> = {};
    if (method === 'POST') {
      try {
        const parsed = await readJson(req);
        body = isObject(parsed) ? parsed : {};
      } catch (error) {
        if (error instanceof InvalidJson) body = {};
        else throw error;
      }
    }
    if (sub === '/create' && (method === 'GET' || method === 'POST')) {
      const token = url.searchParams.get('initial_balance_token') ?? (typeof body['initial_balance_token'] === 'string' ? body['initial_balance_token'] : undefined);
      if (!token) return detail(res, 400, 'initial_balance_token is required', requestId);
      const apiKey = await payee.accountFor({ kind: 'cashu', token });
      return sendJson(res, 200, buildCreateBalanceResponse(apiKey, payee.info(apiKey).availableMsat), requestId);
    }
    if ((sub === '/info' || sub === '/') && method === 'GET') {
      const apiKey = await accountOf(payee, req);
      if (!apiKey) return unauthorized(res, requestId);
      const i = payee.info(apiKey);
      return sendJson(res, 200, buildBalanceInfo({
        apiKey, balance: i.availableMsat, reserved: i.reservedMsat, isChild: false, totalRequests: i.totalRequests, totalSpent: i.totalSpentMsat, childKeys: [],
      }), requestId);
    }
    if (sub === '/topup' && method === 'POST') {
      const apiKey = await accountOf(payee, req);
      if (!apiKey) return unauthorized(res, requestId);
      const token = url.searchParams.get('cashu_token') ?? (typeof body['cashu_token'] === 'string' ? body['cashu_token'] : undefined);
      if (!token) return detail(res, 400, 'A cashu_token is required.', requestId);
      return sendJson(res, 200, buildTopupResponse(await payee.topup(apiKey, token)), requestId);
    }
    if (sub === '/refund' && method === 'POST') {
      const original = header(req, 'x-cashu')?.trim();
      if (original) {
        let lookup = payee.refundFor(original);
        if (lookup.state === 'unknown') return detail(res, 404, 'No refund found for this token', requestId);
        // Change a down mint kept us from making is made now if the mint is back: answered at once, not after a poll.
        if (lookup.state === 'pending' && (await payee.retryChange(original))) lookup = payee.refundFor(original);
        if (lookup.state !== 'done') return detail(res, 425, 'The refund is not ready yet; retry shortly', requestId, { 'retry-after': '2' });
        if (!lookup.token) return detail(res, 404, 'No change is owed for this token', requestId);
        return sendJson(res, 200, buildRefundResponse({ token: lookup.token, unit: 'sat', amountMsat: lookup.changeSat * 1000 }), requestId, { 'X-Cashu': lookup.token });
      }
      const apiKey = await accountOf(payee, req);
      if (!apiKey) return unauthorized(res, requestId);
      const refund = await payee.refund(apiKey);
      return sendJson(res, 200, buildRefundResponse({ token: refund.token, unit: 'sat', amountMsat: refund.sat * 1000 }), requestId);
    }
    return detail(res, 404, 'Not Found', requestId);
  } catch (error) {
    if (error instanceof PayeeError) return sendPayeeError(res, error, requestId);
    if (error instanceof Error && (error as { code?: string }).code === 'invalid_value') return unauthorized(res, requestId);
    throw error;
  }
}

function unauthorized(res: ServerResponse, requestId: string): void {
  sendJson(res, 401, buildHttpExceptionBody({ error: { message: 'Missing or invalid API key', type: 'invalid_request_error', code: 'invalid_api_key' } }, requestId), requestId);
}
