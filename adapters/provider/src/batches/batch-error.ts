/** Errors of the Batch API, each with the HTTP status and OpenAI-style `type`/`code` it answers with. */

export type BatchErrorCode =
  | 'invalid_api_key'
  | 'not_found'
  | 'invalid_file'
  | 'invalid_purpose'
  | 'invalid_endpoint'
  | 'invalid_completion_window'
  | 'invalid_metadata'
  | 'invalid_request'
  | 'batch_not_cancellable';

const STATUS: Record<BatchErrorCode, number> = {
  invalid_api_key: 401,
  not_found: 404,
  invalid_file: 400,
  invalid_purpose: 400,
  invalid_endpoint: 400,
  invalid_completion_window: 400,
  invalid_metadata: 400,
  invalid_request: 400,
  batch_not_cancellable: 409,
};

/** A refused Files/Batches request. */
export class BatchError extends Error {
  readonly code: BatchErrorCode;
  readonly status: number;
  readonly type: string;

  constructor(code: BatchErrorCode, message: string) {
    super(message);
    this.name = 'BatchError';
    this.code = code;
    this.status = STATUS[code];
    this.type = code === 'invalid_api_key' ? 'authentication_error' : 'invalid_request_error';
  }
}
