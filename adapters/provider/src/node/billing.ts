/**
 * What a served request costs: routstr-core's formula (`costFromResponse`) on the engine's usage,
 * priced by the Model we advertised (or the quoted one). When the engine reports no usage we
 * count tokens ourselves — characters ÷ 3, the same heuristic routstr-core's gate uses for
 * prompts (`estimatePromptTokens`), rounded up for output — and bill that, clamped to
 * [1 msat, gate]: never free, never above what the client was asked to cover.
 */
import { costFromResponse, estimatePromptTokens, normalizeUsage, type CostResult, type Model } from '@routstr-kit/core';

/** Tokens we counted ourselves for a request whose engine sent no usage. */
export interface CountedTokens {
  promptTokens: number;
  completionTokens: number;
}

/** Prompt tokens of a request body by the chars ÷ 3 heuristic (chat messages, or a completions prompt). */
export function countPromptTokens(body: Record<string, unknown>): number {
  if (Array.isArray(body['messages'])) return estimatePromptTokens(body['messages']);
  const prompt = body['prompt'] ?? body['input'];
  const texts = Array.isArray(prompt) ? prompt : [prompt];
  let chars = 0;
  for (const t of texts) if (typeof t === 'string') chars += [...t].length;
  return Math.floor(chars / 3);
}

/** Output tokens of generated text by the same heuristic, rounded up (any text costs at least one token). */
export function countCompletionTokens(chars: number): number {
  return Math.ceil(chars / 3);
}

/** The generated text of a non-streamed answer (chat or completions). */
export function generatedChars(response: unknown): number {
  if (typeof response !== 'object' || response === null) return 0;
  const choices = (response as Record<string, unknown>)['choices'];
  if (!Array.isArray(choices)) return 0;
  let chars = 0;
  for (const c of choices) chars += choiceChars(c);
  return chars;
}

/** Characters a choice (or a streamed delta) carries. */
export function choiceChars(choice: unknown): number {
  if (typeof choice !== 'object' || choice === null) return 0;
  const c = choice as Record<string, unknown>;
  const message = (c['message'] ?? c['delta']) as Record<string, unknown> | undefined;
  let chars = 0;
  if (typeof c['text'] === 'string') chars += [...c['text']].length;
  if (message && typeof message['content'] === 'string') chars += [...message['content']].length;
  if (message && Array.isArray(message['tool_calls'])) chars += JSON.stringify(message['tool_calls']).length;
  return chars;
}

/** The bill for a request. */
export interface Bill {
  readonly cost: CostResult;
  /** True when the tokens were counted by the node (no usage from the engine). */
  readonly counted: boolean;
}

/**
 * Bills `usage` at `model`'s sats pricing by routstr-core's formula. Without usage, bills the
 * counted tokens clamped to [1, gate] msats: never free, never above what the client was asked to cover.
 */
export function bill(model: Model, gateMsat: number, usage: unknown, counted: CountedTokens): Bill {
  const pricing = model.sats_pricing ?? model.pricing;
  if (normalizeUsage(usage) !== undefined) return { cost: costFromResponse({ usage }, pricing, { maxCostMsat: gateMsat }), counted: false };
  const synthetic = { prompt_tokens: counted.promptTokens, completion_tokens: counted.completionTokens, total_tokens: counted.promptTokens + counted.completionTokens };
  const raw = costFromResponse({ usage: synthetic }, pricing, { maxCostMsat: gateMsat });
  const total = Math.min(gateMsat, Math.max(1, raw.total_msats));
  if (total === raw.total_msats) return { cost: raw, counted: true };
  const output = Math.min(raw.output_msats, total);
  return { cost: { ...raw, total_msats: total, output_msats: output, input_msats: total - output }, counted: true };
}
