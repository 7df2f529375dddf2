/**
 * routstr-core's `normalize_usage`: token usage from OpenAI, OpenRouter, litellm, Anthropic and
 * DeepSeek dialects onto one shape where `inputTokens` never includes cached tokens.
 */

/** Canonical usage. */
export interface NormalizedUsage {
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly cacheReadTokens: number;
  readonly cacheWriteTokens: number;
}

/** Python `parse_token_count`: ints, floats (truncated), numeric strings; anything else is 0. */
export function parseTokenCount(value: unknown): number {
  if (typeof value === 'boolean') return 0;
  if (typeof value === 'number') return Number.isFinite(value) ? Math.max(0, Math.trunc(value)) : 0;
  if (typeof value === 'bigint') return value > 0n ? Number(value) : 0;
  if (typeof value === 'string') {
    const text = value.trim().replace(/_/g, '');
    if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(text)) return 0;
    const n = Number(text);
    return Number.isFinite(n) ? Math.max(0, Math.trunc(n)) : 0;
  }
  return 0;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function firstCount(o: Record<string, unknown>, ...fields: string[]): number {
  for (const f of fields) {
    const v = parseTokenCount(o[f] ?? 0);
    if (v > 0) return v;
  }
  return 0;
}

/** Normalises a response's `usage` object; undefined when there is none (routstr-core then bills 0). */
export function normalizeUsage(usage: unknown): NormalizedUsage | undefined {
  if (!isObject(usage)) return undefined;
  const outputTokens = firstCount(usage, 'completion_tokens', 'output_tokens');
  let cacheRead = parseTokenCount(usage['cache_read_input_tokens'] ?? 0);
  let cacheWrite = parseTokenCount(usage['cache_creation_input_tokens'] ?? 0);
  const details = usage['prompt_tokens_details'];
  if (isObject(details)) {
    if (!cacheRead) cacheRead = parseTokenCount(details['cached_tokens'] ?? 0);
    if (!cacheWrite) cacheWrite = firstCount(details, 'cache_creation_tokens', 'cache_write_tokens');
  }
  if (!cacheRead) cacheRead = parseTokenCount(usage['prompt_cache_hit_tokens'] ?? 0);
  // prompt_tokens (OpenAI family) includes cached tokens; Anthropic's input_tokens does not
  const inputTokens =
    'prompt_tokens' in usage
      ? Math.max(0, parseTokenCount(usage['prompt_tokens'] ?? 0) - cacheRead - cacheWrite)
      : parseTokenCount(usage['input_tokens'] ?? 0);
  return { inputTokens, outputTokens, cacheReadTokens: cacheRead, cacheWriteTokens: cacheWrite };
}
