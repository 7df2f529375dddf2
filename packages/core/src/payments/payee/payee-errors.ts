/**
 * Why the payee refused a payment, carrying the HTTP status and the body routstr-core sends for
 * it, so an HTTP layer answers byte-compatible errors without knowing the taxonomy.
 */
import {
  REDEMPTION_ERRORS,
  buildErrorBody,
  buildHttpExceptionBody,
  minimumBalanceDetail,
  type RedemptionErrorCode,
} from '../../protocol/index.ts';

/** Which of routstr-core's two envelopes the body uses. */
type Envelope =
  | { kind: 'error'; type: string; code: string | number }
  | { kind: 'detail-error'; type: string; code: string }
  | { kind: 'detail'; detail: unknown };

/** A refused payment; `code` is stable, `status` and `body()` are what routstr-core answers. */
export class PayeeError extends Error {
  readonly code: string;
  readonly status: number;
  private readonly envelope: Envelope;
  constructor(code: string, status: number, message: string, envelope: Envelope, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PayeeError';
    this.code = code;
    this.status = status;
    this.envelope = envelope;
  }

  /** The JSON body to send, with the request id. */
  body(requestId: string): Record<string, unknown> {
    const e = this.envelope;
    if (e.kind === 'error') return buildErrorBody(this.status, { message: this.message, type: e.type, code: e.code }, requestId);
    if (e.kind === 'detail-error') return buildHttpExceptionBody({ error: { message: this.message, type: e.type, code: e.code } }, requestId);
    return buildHttpExceptionBody(e.detail, requestId);
  }
}

/** A redemption failure with routstr-core's status and type for `code` (create_error_response envelope). */
export function redemptionError(code: RedemptionErrorCode, message: string, cause?: unknown): PayeeError {
  const { status, type } = REDEMPTION_ERRORS[code];
  return new PayeeError(code, status, message, { kind: 'error', type, code }, { cause });
}

/** X-Cashu token below the gate: 402 with the `minimum_balance_required` detail. */
export function minimumBalanceError(requiredMsat: number, model: string): PayeeError {
  return new PayeeError('minimum_balance_required', 402, 'Insufficient balance', { kind: 'detail', detail: minimumBalanceDetail(requiredMsat, model) });
}

/** Bearer reservation refused: 402 insufficient_quota / insufficient_balance. */
export function insufficientBalanceError(requiredMsat: number, availableMsat: number, reservedMsat: number): PayeeError {
  return new PayeeError(
    'insufficient_balance',
    402,
    `Insufficient balance: ${requiredMsat} mSats required. ${availableMsat} available. (reserved: ${reservedMsat})`,
    { kind: 'detail-error', type: 'insufficient_quota', code: 'insufficient_balance' },
  );
}

/** An unknown sk- key (401 key_not_found on balance routes, invalid_api_key on the proxy). */
export function keyNotFoundError(): PayeeError {
  return new PayeeError('key_not_found', 401, 'Key not found. Deposit first via /v1/wallet/create or send a Cashu token as the bearer.', {
    kind: 'detail-error', type: 'invalid_request_error', code: 'key_not_found',
  });
}

/** A refund that cannot be made now (plain-string detail, 400, as routstr-core). */
export function refundRefused(message: string, status = 400): PayeeError {
  return new PayeeError('refund_refused', status, message, { kind: 'detail', detail: message });
}

/** Anything else the caller got wrong (invalid_request_error envelope). */
export function invalidRequestError(code: string, message: string, status = 400): PayeeError {
  return new PayeeError(code, status, message, { kind: 'error', type: 'invalid_request_error', code });
}
