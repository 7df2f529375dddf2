/**
 * Usage a provider cannot honestly report for a request: more output tokens than the request's
 * output bound (max_tokens / max_completion_tokens), or more prompt tokens than the request's
 * bytes could hold. Such usage is inflated: the charge is verified against the usage clamped to
 * the bounds, and the receipt's verdict is `overcharged`.
 */
import { outputBound, parseTokenCount, type NormalizedUsage } from '../../pricing/index.ts';

/** Most output and prompt tokens a request can honestly have used. */
export interface UsageBounds {
  /** The request's output bound plus a small allowance; undefined when the request sets none. */
  readonly outputTokens: number | undefined;
  readonly promptTokens: number;
}

/** Tokens one image may cost (OpenAI's largest tiling, generous). */
const TOKENS_PER_IMAGE = 1_600;
/** Chat-template tokens a request may add beyond its bytes (tool definitions render verbosely). */
const TEMPLATE_SLACK_TOKENS = 4_096;
/**
 * Output an honest engine may add past max_tokens: some finish a grammar-forced tool call or JSON
 * object after the limit (seen on llama.cpp-style engines: 49 tokens for max_tokens 40). Inflation
 * worth catching is far beyond it.
 */
const outputAllowance = (bound: number): number => Math.max(16, Math.ceil(bound / 4));

const allowed = (bound: number): number => bound + outputAllowance(bound);

/** The bounds of `body`: a token covers at least half a byte of its JSON, plus template and image allowances. */
export function usageBounds(body: Record<string, unknown>): UsageBounds {
  // the node reads the bound the same way (pricing's outputBound): the larger field wins, n multiplies it
  const out = outputBound(body, undefined);
  const text = JSON.stringify(body);
  const images = text.split('"image_url"').length - 1;
  return {
    outputTokens: out.perChoice !== undefined ? allowed(out.perChoice * out.choices) : undefined,
    promptTokens: 2 * Buffer.byteLength(text) + TEMPLATE_SLACK_TOKENS + images * TOKENS_PER_IMAGE,
  };
}

/** Whether `usage` goes past `bounds`. */
export function isInflated(usage: NormalizedUsage | undefined, bounds: UsageBounds): boolean {
  if (!usage) return false;
  if (bounds.outputTokens !== undefined && usage.outputTokens > bounds.outputTokens) return true;
  return usage.inputTokens > bounds.promptTokens;
}

/** `usage` (raw, as the node sent it) with its token counts clamped to `bounds`. */
export function clampUsage(usage: unknown, bounds: UsageBounds): unknown {
  if (typeof usage !== 'object' || usage === null) return usage;
  const u = { ...(usage as Record<string, unknown>) };
  const clamp = (key: string, max: number | undefined): void => {
    if (max !== undefined && u[key] !== undefined && parseTokenCount(u[key]) > max) u[key] = max;
  };
  clamp('completion_tokens', bounds.outputTokens);
  clamp('output_tokens', bounds.outputTokens);
  clamp('prompt_tokens', bounds.promptTokens);
  clamp('input_tokens', bounds.promptTokens);
  return u;
}
