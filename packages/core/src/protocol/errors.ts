/**
 * routstr-core's error bodies and its redemption taxonomy, as typed errors a client can act on.
 * Two envelopes coexist: FastAPI's `{"detail":…, ["error":…,] "request_id"}` and
 * `create_error_response`'s `{"error":{"message","type","code"[,"details"]},"request_id"}`.
 * Parsing follows the SDK's order: top-level `error`, `detail.error`, string `detail`,
 * then `detail.{type,code}`. It never throws: anything unreadable becomes a RoutstrNodeError.
 */
import { fastApiJson, pythonJsonDumps } from './python-json.ts';

/** Our stable codes for what a node said. */
export type NodeErrorCode =
  | 'insufficient_balance'
  | 'balance_limit_exceeded'
  | 'minimum_balance_required'
  | 'token_already_spent'
  | 'invalid_token'
  | 'token_redemption_failed'
  | 'mint_error'
  | 'mint_unreachable'
  | 'mint_rate_limited'
  | 'token_consumed'
  | 'invalid_api_key'
  | 'key_not_found'
  | 'key_expired'
  | 'invalid_model'
  | 'invalid_request'
  | 'upstream_error'
  | 'node_internal_error'
  | 'node_error';

/** Fields read from an error body. */
export interface NodeErrorFields {
  readonly status: number;
  readonly message: string;
  /** The node's `type` (e.g. `insufficient_quota`). */
  readonly type: string | undefined;
  /** The node's `code` (string, or the HTTP status as an int). */
  readonly providerCode: string | number | undefined;
  readonly requestId: string | undefined;
  readonly details: unknown;
  /** `error.refund_token` (upstream failure on the X-Cashu path). */
  readonly refundToken: string | undefined;
  /** `detail.amount_required_msat` (X-Cashu token below the gate). */
  readonly amountRequiredMsat: number | undefined;
  readonly body: unknown;
}

/** An error answer from a Routstr node. Subclasses name what a caller can do something about. */
export class RoutstrNodeError extends Error {
  readonly code: NodeErrorCode = 'node_error';
  readonly status: number;
  readonly type: string | undefined;
  readonly providerCode: string | number | undefined;
  readonly requestId: string | undefined;
  readonly details: unknown;
  readonly refundToken: string | undefined;
  readonly amountRequiredMsat: number | undefined;
  readonly body: unknown;
  constructor(fields: NodeErrorFields) {
    super(fields.message);
    this.name = new.target.name;
    this.status = fields.status;
    this.type = fields.type;
    this.providerCode = fields.providerCode;
    this.requestId = fields.requestId;
    this.details = fields.details;
    this.refundToken = fields.refundToken;
    this.amountRequiredMsat = fields.amountRequiredMsat;
    this.body = fields.body;
  }
}

export class InsufficientBalance extends RoutstrNodeError { override readonly code = 'insufficient_balance' as const; }
export class BalanceLimitExceeded extends RoutstrNodeError { override readonly code = 'balance_limit_exceeded' as const; }
/** The X-Cashu token's face value is below the gate; `amountRequiredMsat` says how much is needed. */
export class MinimumBalanceRequired extends RoutstrNodeError { override readonly code = 'minimum_balance_required' as const; }
export class TokenAlreadySpent extends RoutstrNodeError { override readonly code = 'token_already_spent' as const; }
export class InvalidToken extends RoutstrNodeError { override readonly code = 'invalid_token' as const; }
export class TokenRedemptionFailed extends RoutstrNodeError { override readonly code = 'token_redemption_failed' as const; }
/** Swap fees exceed the amount, or the cross-mint swap failed (try another mint). */
export class MintError extends RoutstrNodeError { override readonly code = 'mint_error' as const; }
export class MintUnreachable extends RoutstrNodeError { override readonly code = 'mint_unreachable' as const; }
export class MintRateLimited extends RoutstrNodeError { override readonly code = 'mint_rate_limited' as const; }
/** The node took the token but could not finish (500): ask for a refund, do not resend it. */
export class TokenConsumed extends RoutstrNodeError { override readonly code = 'token_consumed' as const; }
export class InvalidApiKey extends RoutstrNodeError { override readonly code = 'invalid_api_key' as const; }
export class KeyNotFound extends RoutstrNodeError { override readonly code = 'key_not_found' as const; }
export class KeyExpired extends RoutstrNodeError { override readonly code = 'key_expired' as const; }
export class InvalidModel extends RoutstrNodeError { override readonly code = 'invalid_model' as const; }
export class InvalidRequest extends RoutstrNodeError { override readonly code = 'invalid_request' as const; }
export class UpstreamError extends RoutstrNodeError { override readonly code = 'upstream_error' as const; }
export class NodeInternalError extends RoutstrNodeError { override readonly code = 'node_internal_error' as const; }

type NodeErrorClass = new (fields: NodeErrorFields) => RoutstrNodeError;

/** routstr-core's redemption taxonomy: code → HTTP status and type. */
export const REDEMPTION_ERRORS = {
  cashu_token_already_spent: { status: 400, type: 'token_already_spent' },
  invalid_cashu_token: { status: 400, type: 'invalid_token' },
  cashu_token_zero_value: { status: 400, type: 'cashu_error' },
  cashu_token_redemption_failed: { status: 400, type: 'cashu_error' },
  cashu_token_swap_fees_exceed_amount: { status: 422, type: 'mint_error' },
  cashu_foreign_mint_swap_failed: { status: 422, type: 'mint_error' },
  cashu_source_mint_unreachable: { status: 503, type: 'mint_unreachable' },
  cashu_mint_unreachable: { status: 503, type: 'mint_unreachable' },
  cashu_mint_rate_limited: { status: 503, type: 'mint_rate_limited' },
  cashu_token_consumed: { status: 500, type: 'token_consumed' },
  internal_error: { status: 500, type: 'api_error' },
} as const satisfies Record<string, { status: number; type: string }>;

export type RedemptionErrorCode = keyof typeof REDEMPTION_ERRORS;

/** Codes for which routstr-core never echoes the original token back in `X-Cashu`. */
export const NO_TOKEN_ECHO_CODES: readonly string[] = ['cashu_token_already_spent', 'cashu_token_consumed', 'cashu_token_zero_value', 'internal_error'];

const BY_CODE: Record<string, NodeErrorClass> = {
  insufficient_balance: InsufficientBalance,
  balance_limit_exceeded: BalanceLimitExceeded,
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
  missing_api_key: InvalidApiKey,
  invalid_api_key: InvalidApiKey,
  unauthorized: InvalidApiKey,
  key_not_found: KeyNotFound,
  key_expired: KeyExpired,
  invalid_model: InvalidModel,
  invalid_json: InvalidRequest,
  upstream_request_failed: UpstreamError,
};

const BY_TYPE: Record<string, NodeErrorClass> = {
  insufficient_quota: InsufficientBalance,
  minimum_balance_required: MinimumBalanceRequired,
  token_already_spent: TokenAlreadySpent,
  invalid_token: InvalidToken,
  cashu_error: TokenRedemptionFailed,
  mint_error: MintError,
  mint_unreachable: MintUnreachable,
  mint_rate_limited: MintRateLimited,
  token_consumed: TokenConsumed,
  upstream_error: UpstreamError,
  api_error: NodeInternalError,
  invalid_request_error: InvalidRequest,
};

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

interface Extracted {
  message: string | undefined;
  type: string | undefined;
  code: string | number | undefined;
  details: unknown;
  refundToken: string | undefined;
  amountRequiredMsat: number | undefined;
}

function fromErrorObject(e: Record<string, unknown>): Extracted {
  const code = e['code'];
  return {
    message: str(e['message']),
    type: str(e['type']),
    code: typeof code === 'string' || (typeof code === 'number' && Number.isFinite(code)) ? code : undefined,
    details: e['details'],
    refundToken: str(e['refund_token']),
    amountRequiredMsat: undefined,
  };
}

function extract(body: unknown): Extracted {
  const empty: Extracted = { message: undefined, type: undefined, code: undefined, details: undefined, refundToken: undefined, amountRequiredMsat: undefined };
  if (!isObject(body)) return { ...empty, message: str(body) };
  if (isObject(body['error'])) return fromErrorObject(body['error']);
  const detail = body['detail'];
  if (isObject(detail)) {
    if (isObject(detail['error'])) return fromErrorObject(detail['error']);
    if (typeof detail['error'] === 'string') return { ...empty, message: detail['error'] };
    const amount = detail['amount_required_msat'];
    return {
      ...empty,
      message: str(detail['message']) ?? str(detail['reason']),
      type: str(detail['type']),
      code: str(detail['code']),
      details: detail,
      amountRequiredMsat: typeof amount === 'number' && Number.isSafeInteger(amount) ? amount : undefined,
    };
  }
  if (typeof detail === 'string') return { ...empty, message: detail };
  if (typeof body['error'] === 'string') return { ...empty, message: body['error'] };
  return empty;
}

function classify(status: number, x: Extracted): NodeErrorClass {
  const message = x.message ?? '';
  if (typeof x.code === 'string' && x.code === 'invalid_api_key' && /proofs? (are |is )?already spent/i.test(message)) return TokenAlreadySpent;
  if (typeof x.code === 'string' && BY_CODE[x.code]) return BY_CODE[x.code] as NodeErrorClass;
  if (x.type && x.type !== 'invalid_request_error' && BY_TYPE[x.type]) return BY_TYPE[x.type] as NodeErrorClass;
  if (status === 401 && /key not found/i.test(message)) return KeyNotFound;
  if (status === 401) return InvalidApiKey;
  if (status === 402) return InsufficientBalance;
  if (x.type && BY_TYPE[x.type]) return BY_TYPE[x.type] as NodeErrorClass;
  if (status >= 500) return NodeInternalError;
  if (status >= 400 && status < 500) return InvalidRequest;
  return RoutstrNodeError;
}

/** Reads a node's error answer (parsed JSON, raw text or anything) into a typed error; never throws. */
export function parseNodeError(status: number, body: unknown): RoutstrNodeError {
  let parsed = body;
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body) as unknown;
    } catch {
      parsed = body;
    }
  }
  const x = extract(parsed);
  const requestId = isObject(parsed) ? str(parsed['request_id']) : undefined;
  const Class = classify(status, x);
  return new Class({
    status,
    message: x.message ?? `HTTP ${status}`,
    type: x.type,
    providerCode: x.code,
    requestId,
    details: x.details,
    refundToken: x.refundToken,
    amountRequiredMsat: x.amountRequiredMsat,
    body: parsed,
  });
}

/** What `create_error_response` puts in `error`. */
export interface ErrorObjectInput {
  readonly message: string;
  readonly type: string;
  /** Defaults to the HTTP status, as routstr-core does. */
  readonly code?: string | number;
  readonly details?: Record<string, unknown>;
}

/** `create_error_response` body: `{"error":{message,type,code[,details]},"request_id"}`. */
export function buildErrorBody(status: number, error: ErrorObjectInput, requestId: string): { error: Record<string, unknown>; request_id: string } {
  const obj: Record<string, unknown> = { message: error.message, type: error.type, code: error.code ?? status };
  if (error.details !== undefined) obj['details'] = error.details;
  return { error: obj, request_id: requestId };
}

/** The bytes `create_error_response` sends (Python `json.dumps` defaults: spaces, ASCII escapes). */
export function serializeErrorBody(body: unknown): string {
  return pythonJsonDumps(body, { compact: false, ensureAscii: true });
}

/** A redemption failure body with routstr-core's status and type for `code`. */
export function buildRedemptionErrorBody(code: RedemptionErrorCode, message: string, requestId: string): { status: number; body: { error: Record<string, unknown>; request_id: string } } {
  const { status, type } = REDEMPTION_ERRORS[code];
  return { status, body: buildErrorBody(status, { message, type, code }, requestId) };
}

/** X-Cashu upstream failure body (full refund): no request_id, `refund_token` inside `error`. */
export function buildUpstreamRefundBody(status: number, refundToken: string, message = 'Error forwarding request to upstream'): { error: Record<string, unknown> } {
  return { error: { message, type: 'upstream_error', code: status, refund_token: refundToken } };
}

/** FastAPI HTTPException body: `{"detail":d, ...d if it has "error", "request_id"}`. */
export function buildHttpExceptionBody(detail: unknown, requestId: string): Record<string, unknown> {
  const content: Record<string, unknown> = isObject(detail) && 'error' in detail ? { detail, ...detail } : { detail };
  content['request_id'] = requestId;
  return content;
}

/** The X-Cashu 402 detail for a token below the gate. */
export function minimumBalanceDetail(amountRequiredMsat: number, model: string): Record<string, unknown> {
  return { reason: 'Insufficient balance', amount_required_msat: amountRequiredMsat, model, type: 'minimum_balance_required' };
}

/** The bytes FastAPI sends for an HTTPException body (compact, raw UTF-8). */
export function serializeHttpExceptionBody(body: unknown): string {
  return fastApiJson(body);
}
