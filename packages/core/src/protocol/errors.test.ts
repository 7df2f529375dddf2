import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  InsufficientBalance,
  InvalidApiKey,
  InvalidModel,
  InvalidRequest,
  KeyNotFound,
  MinimumBalanceRequired,
  MintError,
  MintRateLimited,
  MintUnreachable,
  NO_TOKEN_ECHO_CODES,
  NodeInternalError,
  REDEMPTION_ERRORS,
  RoutstrNodeError,
  TokenAlreadySpent,
  TokenConsumed,
  InvalidToken,
  TokenRedemptionFailed,
  UpstreamError,
  buildErrorBody,
  buildHttpExceptionBody,
  buildRedemptionErrorBody,
  buildUpstreamRefundBody,
  minimumBalanceDetail,
  parseNodeError,
  serializeErrorBody,
  serializeHttpExceptionBody,
  type RedemptionErrorCode,
} from './index.ts';

const fixtures = new URL('../../../../fixtures/routstr/', import.meta.url);
const fixture = (name: string) => JSON.parse(readFileSync(new URL(name, fixtures), 'utf8')) as { _status: number; body: unknown };

describe('error envelopes from real nodes', () => {
  it('402 detail.error envelope (older node, no top-level copy) → InsufficientBalance', () => {
    const { _status, body } = fixture('http_402_insufficient_balance_real.json');
    const err = parseNodeError(_status, body);
    expect(err).toBeInstanceOf(InsufficientBalance);
    expect(err).toMatchObject({ code: 'insufficient_balance', status: 402, type: 'insufficient_quota', providerCode: 'insufficient_balance', requestId: '74fcc28e-cab9-4565-921f-6db2269e000e' });
    expect(err.message).toMatch(/434751 mSats required/);
  });

  it('400 create_error_response envelope with an int code → InvalidRequest', () => {
    const { _status, body } = fixture('http_400_upstream_error_real.json');
    const err = parseNodeError(_status, JSON.stringify(body));
    expect(err).toBeInstanceOf(InvalidRequest);
    expect(err).toMatchObject({ providerCode: 400, type: 'invalid_request_error', message: 'Tool message must have either name or tool_call_id' });
  });
});

describe('redemption errors as routstr-core answers them', () => {
  // the answers come from routstr-core's taxonomy (fixtures/routstr/redemption_errors_constructed.json),
  // not from the kit's own table, so a wrong status, type or code in the kit fails here
  type Answer = { _status: number; _x_cashu_echo: boolean; body: { error: { message: string; type: string; code: RedemptionErrorCode }; request_id: string } };
  const answers = JSON.parse(readFileSync(new URL('redemption_errors_constructed.json', fixtures), 'utf8')) as Answer[];
  // what a buyer does next depends on the class: spent or consumed tokens are gone (ask the refund
  // route), a bad token is the buyer's fault, a mint problem is worth another mint or a retry
  const classOfType: Record<string, new (...a: never[]) => RoutstrNodeError> = {
    token_already_spent: TokenAlreadySpent,
    invalid_token: InvalidToken,
    cashu_error: TokenRedemptionFailed,
    mint_error: MintError,
    mint_unreachable: MintUnreachable,
    mint_rate_limited: MintRateLimited,
    token_consumed: TokenConsumed,
    api_error: NodeInternalError,
  };

  it('the kit knows exactly the codes routstr-core sends', () => {
    expect(answers.map((a) => a.body.error.code).sort()).toEqual(Object.keys(REDEMPTION_ERRORS).sort());
  });

  for (const a of answers) {
    const { code, type, message } = a.body.error;
    it(`${code}: the kit's node answers as routstr-core does, and a buyer reads it by code, by type, or both`, () => {
      expect(buildRedemptionErrorBody(code, message, a.body.request_id)).toEqual({ status: a._status, body: a.body });
      expect(NO_TOKEN_ECHO_CODES.includes(code)).toBe(!a._x_cashu_echo);
      const readings = [a.body, { error: { message, code } }, { error: { message, type } }].map((body) => parseNodeError(a._status, JSON.stringify(body)));
      for (const err of readings) {
        expect(err).toBeInstanceOf(classOfType[type]);
        expect(err.status).toBe(a._status);
        expect(err.message).toBe(message);
      }
      expect(readings[0]).toMatchObject({ providerCode: code, type, requestId: a.body.request_id });
    });
  }
});

describe('other node errors', () => {
  it('X-Cashu token below the gate → MinimumBalanceRequired with the amount', () => {
    const body = buildHttpExceptionBody(minimumBalanceDetail(455, 'gpt-4o-mini'), 'r');
    expect(Object.keys(body)).toEqual(['detail', 'request_id']);
    const err = parseNodeError(402, body);
    expect(err).toBeInstanceOf(MinimumBalanceRequired);
    expect(err.amountRequiredMsat).toBe(455);
  });

  it('HTTPException with an error dict is spread at top level, in FastAPI key order', () => {
    const detail = { error: { message: 'Key not found. Deposit first via /v1/wallet/create…', type: 'invalid_request_error', code: 'key_not_found' } };
    const body = buildHttpExceptionBody(detail, 'r');
    expect(serializeHttpExceptionBody(body)).toBe(
      '{"detail":{"error":{"message":"Key not found. Deposit first via /v1/wallet/create…","type":"invalid_request_error","code":"key_not_found"}},"error":{"message":"Key not found. Deposit first via /v1/wallet/create…","type":"invalid_request_error","code":"key_not_found"},"request_id":"r"}',
    );
    expect(parseNodeError(401, body)).toBeInstanceOf(KeyNotFound);
  });

  it('reads string details, plain text and invalid-key variants', () => {
    expect(parseNodeError(401, { detail: 'Unauthorized', request_id: 'x' })).toBeInstanceOf(InvalidApiKey);
    expect(parseNodeError(401, { detail: 'Key not found' })).toBeInstanceOf(KeyNotFound);
    expect(parseNodeError(400, { detail: { error: 'max_tokens must be an integer' } }).message).toBe('max_tokens must be an integer');
    expect(parseNodeError(401, { error: { message: 'Token proofs already spent', type: 'invalid_request_error', code: 'invalid_api_key' } })).toBeInstanceOf(TokenAlreadySpent);
    expect(parseNodeError(400, buildErrorBody(400, { message: "Model 'x' not found", type: 'invalid_request_error', code: 'invalid_model' }, 'r'))).toBeInstanceOf(InvalidModel);
    expect(parseNodeError(502, '<html>Bad gateway</html>')).toBeInstanceOf(NodeInternalError);
  });

  it('upstream failure on the X-Cashu path carries the refund token', () => {
    const err = parseNodeError(503, buildUpstreamRefundBody(503, 'cashuBrefund'));
    expect(err).toBeInstanceOf(UpstreamError);
    expect(err.refundToken).toBe('cashuBrefund');
    expect(err.providerCode).toBe(503);
  });

  it('serialises create_error_response bodies as Python json.dumps does', () => {
    const body = buildErrorBody(400, { message: "Model 'gpt-5' not found — sorry", type: 'invalid_request_error', code: 'invalid_model' }, 'r1');
    expect(serializeErrorBody(body)).toBe('{"error": {"message": "Model \'gpt-5\' not found \\u2014 sorry", "type": "invalid_request_error", "code": "invalid_model"}, "request_id": "r1"}');
    expect(buildErrorBody(429, { message: 'slow down', type: 'rate_limit' }, 'r').error['code']).toBe(429);
  });

  it('fuzz: any status and body give a RoutstrNodeError, never a throw', () => {
    fc.assert(
      fc.property(fc.integer({ min: 100, max: 599 }), fc.oneof(fc.anything(), fc.json(), fc.record({ detail: fc.anything(), error: fc.anything() })), (status, body) => {
        const err = parseNodeError(status, body);
        expect(err).toBeInstanceOf(RoutstrNodeError);
        expect(typeof err.code).toBe('string');
        expect(typeof err.message).toBe('string');
      }),
      { numRuns: 400 },
    );
  });
});
