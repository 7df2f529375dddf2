/** Stable codes for requests the engine refuses. */
export type EngineErrorCode = 'invalid_json' | 'invalid_request' | 'model_not_found' | 'context_length_exceeded' | 'not_found' | 'internal';

/** A request the engine refuses, with the HTTP status it answers. */
export class EngineRequestError extends Error {
  readonly code: EngineErrorCode;
  readonly status: number;
  constructor(code: EngineErrorCode, status: number, message: string) {
    super(message);
    this.name = 'EngineRequestError';
    this.code = code;
    this.status = status;
  }
}
