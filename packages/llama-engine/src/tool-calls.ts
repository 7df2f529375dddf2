// Tool calls as the tiny model writes them. A forced call is bare JSON (`{"name": …, "arguments": {…}}`, or a list of
// them when parallel calls are allowed); when the model may choose, it either writes text (not starting with `<`)
// or wraps that JSON in <tool_call>…</tool_call> as Hermes-style open models do, and the engine parses it back out.
import type { Llama, LlamaGrammar } from 'node-llama-cpp';
import { createJsonSchemaGrammarText, DEFAULT_MAX_ITEMS } from './structured-output.ts';
import type { ToolDefinition } from './chat-request.ts';

export const TOOL_CALL_OPEN = '<tool_call>';
export const TOOL_CALL_CLOSE = '</tool_call>';

/** A parsed call: the tool's name and its arguments as a JSON string. */
export interface ParsedToolCall {
  name: string;
  arguments: string;
}

/** Schema of one call of any of `tools`: the model picks the name and fills that tool's parameters. */
export function toolCallSchema(tools: readonly ToolDefinition[]): Record<string, unknown> {
  return {
    anyOf: tools.map((t) => ({
      type: 'object',
      properties: { name: { const: t.name }, arguments: t.parameters ?? { type: 'object', properties: {} } },
    })),
  };
}

/** Schema of what the model writes for a call: one call, or 1..DEFAULT_MAX_ITEMS calls when parallel calls are allowed. */
export function toolCallsSchema(tools: readonly ToolDefinition[], parallel: boolean): Record<string, unknown> {
  const one = toolCallSchema(tools);
  return parallel ? { type: 'array', items: one, minItems: 1, maxItems: DEFAULT_MAX_ITEMS } : one;
}

/** Grammar that forces a call (or list of calls) of the given tools. */
export async function createToolCallGrammar(llama: Llama, tools: readonly ToolDefinition[], parallel: boolean): Promise<LlamaGrammar> {
  return llama.createGrammar({ grammar: await createJsonSchemaGrammarText(llama, toolCallsSchema(tools, parallel)) });
}

/**
 * Grammar for `tool_choice: "auto"` where the model decides: text that does not start with `<`, or
 * `<tool_call>` + a call (or list of calls) + `</tool_call>`.
 */
export async function createTextOrToolCallGrammar(llama: Llama, tools: readonly ToolDefinition[], parallel: boolean): Promise<LlamaGrammar> {
  const calls = (await createJsonSchemaGrammarText(llama, toolCallsSchema(tools, parallel))).replace(/^root ::=/m, 'tool-call-json ::=');
  const grammar = `root ::= "${TOOL_CALL_OPEN}" tool-call-json "${TOOL_CALL_CLOSE}" | free-text
free-text ::= [^<\\x00] [^\\x00]*
${calls}`;
  return llama.createGrammar({ grammar });
}

/**
 * Logit bias on the first token of a text-or-call answer. The tiny model's weights favour word pieces over single
 * characters such as `<` by about ten logits, so unbiased it would never open a call; with this either branch
 * happens, depending on the seed (measured: about 2 calls in 3 on a short prompt).
 */
export const CHOICE_BIAS = { text: '<', logit: 10 } as const;

/** True once `text` is known to be the tool-call branch of a text-or-call answer. */
export function startsToolCall(text: string): boolean {
  return text.startsWith('<');
}

/** The calls in a completed forced-call output (bare JSON, one call or a list). */
export function parseForcedCalls(text: string): ParsedToolCall[] {
  const parsed = JSON.parse(text) as unknown;
  const list = Array.isArray(parsed) ? parsed : [parsed];
  return list.map((c) => {
    const call = c as { name: string; arguments?: unknown };
    return { name: call.name, arguments: JSON.stringify(call.arguments ?? {}) };
  });
}

/** The calls in a text-or-call answer, or undefined when the model answered in text (or the call was cut short). */
export function parseChosenCalls(text: string): ParsedToolCall[] | undefined {
  if (!text.startsWith(TOOL_CALL_OPEN) || !text.endsWith(TOOL_CALL_CLOSE)) return undefined;
  return parseForcedCalls(text.slice(TOOL_CALL_OPEN.length, text.length - TOOL_CALL_CLOSE.length));
}

/**
 * The argument string split where vLLM's and llama.cpp's tool parsers would send successive deltas: after each
 * top-level `,` (so a client sees several argument chunks that concatenate to the whole).
 */
export function argumentDeltas(args: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let inString = false;
  let start = 0;
  for (let i = 0; i < args.length; i++) {
    const ch = args[i];
    if (inString) {
      if (ch === '\\') i++;
      else if (ch === '"') inString = false;
      continue;
    }
    if (ch === '"') inString = true;
    else if (ch === '{' || ch === '[') depth++;
    else if (ch === '}' || ch === ']') depth--;
    else if (ch === ',' && depth === 1) {
      out.push(args.slice(start, i + 1));
      start = i + 1;
    }
  }
  out.push(args.slice(start));
  return out.filter((d) => d.length > 0);
}
