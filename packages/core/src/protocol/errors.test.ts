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

describe('redemption taxonomy', () => {
  const expected: Record<RedemptionErrorCode, new (...a: never[]) => RoutstrNodeError> = {
    cashu_token_already_spent: TokenAlreadySpent,
    invalid_cashu_token: InvalidToken,
    cashu_token_zero_value: TokenRedemptionFailed,
    cashu_token_redemption_failed: TokenRedemptionFailed,
    cashu_token_swap_fees_exceed_amount: MintError,
    cashu_foreign_mint_swap_failed: MintError,
    cashu_source_mint_unreachable: MintUnreachable,
    cashu_mint_unreachable: MintUnreachable,
    cashu_mint_rate_limited: MintRateLimited,
    cashu_token_consumed: TokenConsumed,
    internal_error: NodeInternalError,
  };
  for (const code of Object.keys(REDEMPTION_ERRORS) as RedemptionErrorCode[]) {
    it(`${code}: built body parses back to the right class`, () => {
      const { status, body } = buildRedemptionErrorBody(code, 'boom', 'req-1');
      const err = parseNodeError(status, body);
      expect(err).toBeInstanceOf(expected[code]);
      expect(err.providerCode).toBe(code);
      expect(err.type).toBe(REDEMPTION_ERRORS[code].type);
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
