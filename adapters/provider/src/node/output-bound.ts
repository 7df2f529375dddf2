/**
 * What a paid request may make the engine generate, and the upstream body that holds the engine to
 * it. The gate (core `outputBound`) prices the LARGER of every field that bounds output
 * (`max_tokens`, `max_completion_tokens`, llama.cpp's `n_predict`) times the choices (`n`,
 * `best_of`), capped by the model's `max_completion_tokens`; the node then writes that one bound
 * into the request it forwards, so no engine — whichever field it honours — can be asked for
 * more than was paid for, and a request that set no bound gets the model's cap.
 */
import { OUTPUT_BOUND_FIELDS, OUTPUT_CHOICE_FIELDS, outputBound, type Model, type OutputBound } from '@routstr-kit/core';

/** Most choices (`n`, `best_of`) one request may ask for: each multiplies the output and the gate. */
export const MAX_CHOICES = 16;

/**
 * Why a body's output fields are refused (400 before anything is redeemed), or undefined when they
 * are fine: bound fields must be positive integers, choice fields integers in 1..MAX_CHOICES.
 */
export function invalidOutputFields(body: Record<string, unknown>): string | undefined {
  for (const field of OUTPUT_BOUND_FIELDS) {
    const v = body[field];
    if (v != null && !(typeof v === 'number' && Number.isSafeInteger(v) && v > 0)) return `'${field}' must be a positive integer`;
  }
  for (const field of OUTPUT_CHOICE_FIELDS) {
    const v = body[field];
    if (v != null && !(typeof v === 'number' && Number.isSafeInteger(v) && v >= 1 && v <= MAX_CHOICES)) return `'${field}' must be an integer from 1 to ${MAX_CHOICES}`;
  }
  return undefined;
}

/** Tokens the whole request may generate (all choices), or undefined when the model sets no cap. */
export function outputLimit(bound: OutputBound): number | undefined {
  return bound.perChoice === undefined ? undefined : bound.perChoice * bound.choices;
}

/**
 * The body to forward: the paid bound written into `max_tokens` (every engine reads it) and into
 * `max_completion_tokens` when the client used that field; `n_predict` (llama.cpp, which prefers
 * it over both) is dropped so it cannot override them.
 */
export function boundedUpstreamBody(body: Record<string, unknown>, model: Model): { body: Record<string, unknown>; bound: OutputBound } {
  const bound = outputBound(body, model);
  const out: Record<string, unknown> = { ...body };
  delete out['n_predict'];
  if (bound.perChoice !== undefined) {
    out['max_tokens'] = bound.perChoice;
    if (body['max_completion_tokens'] != null) out['max_completion_tokens'] = bound.perChoice;
  }
  return { body: out, bound };
}
