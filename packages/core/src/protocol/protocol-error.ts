import type { z } from 'zod';
import type { Msat } from '../money/index.ts';

/** Stable codes of ProtocolError. */
export type ProtocolErrorCode =
  | 'invalid_json'
  | 'invalid_type'
  | 'missing_field'
  | 'invalid_value'
  | 'wrong_kind'
  | 'invalid_signature'
  | 'missing_url'
  | 'invalid_token';

/** A wire shape that cannot be used: `.field` names where (dot path), `.code` says what. */
export class ProtocolError extends Error {
  readonly code: ProtocolErrorCode;
  readonly field: string;
  constructor(code: ProtocolErrorCode, field: string, message: string) {
    super(field ? `${field}: ${message}` : message);
    this.name = 'ProtocolError';
    this.code = code;
    this.field = field;
  }
}

/** Joins a zod issue path into a dot path (`data.0.pricing.prompt`). */
export function fieldPath(path: readonly PropertyKey[], prefix = ''): string {
  const parts = path.map((p) => String(p));
  return [prefix, ...parts].filter((p) => p !== '').join('.');
}

/** Turns the first zod issue into a ProtocolError naming the field. */
export function fromZodError(error: z.ZodError, prefix = ''): ProtocolError {
  const issue = error.issues[0];
  if (!issue) return new ProtocolError('invalid_value', prefix, 'invalid value');
  const field = fieldPath(issue.path, prefix);
  const missing = issue.code === 'invalid_type' && /received undefined/.test(issue.message);
  const code: ProtocolErrorCode = missing ? 'missing_field' : issue.code === 'invalid_type' ? 'invalid_type' : 'invalid_value';
  return new ProtocolError(code, field, issue.message);
}

/** Validates `input` with `schema`, throwing a ProtocolError (never a ZodError). */
export function parseWith<S extends z.ZodType>(schema: S, input: unknown, prefix = ''): z.output<S> {
  const result = schema.safeParse(input);
  if (!result.success) throw fromZodError(result.error, prefix);
  return result.data;
}

/** Parses JSON text, throwing ProtocolError('invalid_json') instead of SyntaxError. */
export function parseJsonText(text: string, field = ''): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new ProtocolError('invalid_json', field, `not JSON: ${(e as Error).message}`);
  }
}

/** A wire amount as Msat, or ProtocolError('invalid_value') naming the field (never InvalidAmount). */
export function wireMsat(value: number, field: string): Msat {
  if (!Number.isSafeInteger(value) || value < 0) throw new ProtocolError('invalid_value', field, `expected a non-negative integer msat amount, got ${String(value)}`);
  return value as Msat;
}
