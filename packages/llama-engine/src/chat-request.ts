// Parses OpenAI chat/completions request bodies into what the engine needs; anything else in the body is ignored.
import { z } from 'zod';
import { EngineRequestError } from './engine-error.ts';
import type { PromptMessage } from './chat-prompt.ts';

const contentPart = z.looseObject({ type: z.string(), text: z.string().optional() });
const toolCall = z.looseObject({
  id: z.string().optional(),
  type: z.string().optional(),
  function: z.looseObject({ name: z.string(), arguments: z.string().optional() }),
});
const message = z.looseObject({
  role: z.string().min(1),
  content: z.union([z.string(), z.array(contentPart), z.null()]).optional(),
  tool_calls: z.array(toolCall).optional().nullable(),
  tool_call_id: z.string().optional().nullable(),
  name: z.string().optional().nullable(),
});
const functionTool = z.looseObject({
  type: z.literal('function'),
  function: z.looseObject({
    name: z.string().min(1),
    description: z.string().optional(),
    parameters: z.record(z.string(), z.unknown()).optional(),
  }),
});
const toolChoice = z.union([
  z.enum(['none', 'auto', 'required']),
  z.looseObject({ type: z.literal('function'), function: z.looseObject({ name: z.string() }) }),
]);
const responseFormat = z.union([
  z.looseObject({ type: z.literal('text') }),
  z.looseObject({ type: z.literal('json_object') }),
  z.looseObject({
    type: z.literal('json_schema'),
    json_schema: z.looseObject({ name: z.string().optional(), schema: z.record(z.string(), z.unknown()).optional() }),
  }),
]);
const positiveInt = z.number().int().positive();
const sampling = {
  model: z.string().optional(),
  max_tokens: positiveInt.nullable().optional(),
  max_completion_tokens: positiveInt.nullable().optional(),
  temperature: z.number().min(0).max(2).nullable().optional(),
  top_p: z.number().gt(0).max(1).nullable().optional(),
  top_k: z.number().int().nullable().optional(),
  seed: z.number().int().nullable().optional(),
  stop: z.union([z.string(), z.array(z.string())]).nullable().optional(),
  n: z.literal(1).nullable().optional(),
  stream: z.boolean().nullable().optional(),
  stream_options: z.looseObject({ include_usage: z.boolean().nullable().optional() }).nullable().optional(),
  // vLLM extension: echo prompt and output token ids (lets callers check usage against real tokens).
  return_token_ids: z.boolean().nullable().optional(),
};
const chatBody = z.looseObject({
  ...sampling,
  messages: z.array(message).min(1),
  tools: z.array(functionTool).nullable().optional(),
  tool_choice: toolChoice.nullable().optional(),
  parallel_tool_calls: z.boolean().nullable().optional(),
  response_format: responseFormat.nullable().optional(),
});
const completionBody = z.looseObject({ ...sampling, prompt: z.string() });

export interface SamplingParams {
  model: string | undefined;
  maxTokens: number | undefined;
  temperature: number | undefined;
  topP: number | undefined;
  topK: number | undefined;
  seed: number | undefined;
  stop: string[];
  stream: boolean;
  includeUsage: boolean;
  returnTokenIds: boolean;
}

export interface ToolDefinition {
  name: string;
  description?: string;
  parameters?: Record<string, unknown>;
}

/**
 * What the output must look like: free text, JSON for a schema, a call to one named tool, a call (or with
 * `parallel`, a list of calls) of any tool, or the model's choice between text and such calls.
 */
export type OutputConstraint =
  | { kind: 'text' }
  | { kind: 'json_object' }
  | { kind: 'json_schema'; schema: Record<string, unknown> }
  | { kind: 'tool_call'; tool: ToolDefinition }
  | { kind: 'any_tool_call'; tools: ToolDefinition[]; parallel: boolean }
  | { kind: 'text_or_tool_call'; tools: ToolDefinition[]; parallel: boolean };

export interface ChatRequest extends SamplingParams {
  messages: PromptMessage[];
  /** Tool definitions as sent, rendered into the prompt. */
  tools: unknown[];
  output: OutputConstraint;
}

export interface CompletionRequest extends SamplingParams {
  prompt: string;
}

function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
    throw new EngineRequestError('invalid_request', 400, `${where}${issue?.message ?? 'invalid request body'}`);
  }
  return parsed.data;
}

function samplingParams(b: z.infer<typeof completionBody> | z.infer<typeof chatBody>): SamplingParams {
  const stop = b.stop == null ? [] : (typeof b.stop === 'string' ? [b.stop] : b.stop).filter((s) => s.length > 0);
  return {
    model: b.model,
    maxTokens: b.max_completion_tokens ?? b.max_tokens ?? undefined,
    temperature: b.temperature ?? undefined,
    topP: b.top_p ?? undefined,
    topK: b.top_k ?? undefined,
    seed: b.seed ?? undefined,
    stop,
    stream: b.stream === true,
    includeUsage: b.stream === true && b.stream_options?.include_usage === true,
    returnTokenIds: b.return_token_ids === true,
  };
}

function messageText(m: z.infer<typeof message>): string {
  let text = typeof m.content === 'string' ? m.content : (m.content ?? []).map((p) => p.text ?? '').join('');
  if (m.tool_calls && m.tool_calls.length > 0) {
    text += JSON.stringify(m.tool_calls.map((c) => ({ name: c.function.name, arguments: c.function.arguments ?? '{}' })));
  }
  return text;
}

function responseFormatOutput(rf: z.infer<typeof responseFormat> | null | undefined): OutputConstraint {
  if (rf?.type === 'json_object') return { kind: 'json_object' };
  if (rf?.type === 'json_schema') {
    const schema = (rf as { json_schema: { schema?: Record<string, unknown> } }).json_schema.schema;
    return schema ? { kind: 'json_schema', schema } : { kind: 'json_object' };
  }
  return { kind: 'text' };
}

/** Parses a /v1/chat/completions body; throws EngineRequestError (400) when it is malformed. */
export function parseChatRequest(body: unknown): ChatRequest {
  const b = parseBody(chatBody, body);
  const tools: ToolDefinition[] = (b.tools ?? []).map((t) => ({
    name: t.function.name,
    ...(t.function.description !== undefined ? { description: t.function.description } : {}),
    ...(t.function.parameters !== undefined ? { parameters: t.function.parameters } : {}),
  }));
  const parallel = b.parallel_tool_calls === true;
  const choice = b.tool_choice;
  const lastRole = b.messages[b.messages.length - 1]?.role;
  let output: OutputConstraint = { kind: 'text' };
  if (choice !== undefined && choice !== null && choice !== 'none' && choice !== 'auto') {
    if (tools.length === 0) throw new EngineRequestError('invalid_request', 400, 'tool_choice requires tools');
    if (choice === 'required') output = { kind: 'any_tool_call', tools, parallel };
    else {
      const tool = tools.find((t) => t.name === choice.function.name);
      if (!tool) throw new EngineRequestError('invalid_request', 400, `tool_choice names unknown function '${choice.function.name}'`);
      output = { kind: 'tool_call', tool };
    }
  } else if (choice !== 'none' && tools.length > 0 && lastRole === 'user') {
    // A tool-calling model asked something with tools at hand calls one: random weights would not choose sensibly.
    output = { kind: 'any_tool_call', tools, parallel };
  } else if (choice !== 'none' && tools.length > 0 && lastRole !== 'tool') {
    output = { kind: 'text_or_tool_call', tools, parallel };
  } else output = responseFormatOutput(b.response_format);
  return {
    ...samplingParams(b),
    messages: b.messages.map((m) => ({ role: m.role, content: messageText(m) })),
    tools: b.tools ?? [],
    output,
  };
}

/** Parses a /v1/completions body (a single string prompt). */
export function parseCompletionRequest(body: unknown): CompletionRequest {
  const b = parseBody(completionBody, body);
  return { ...samplingParams(b), prompt: b.prompt };
}
