// Response bodies and SSE chunks in each engine's own byte shape (key order matters to recorded-fixture tests):
// vLLM per shared/fixtures/engines/vllm/*, Ollama per shared/fixtures/engines/ollama/*. The llama.cpp flavour
// answers chat like vLLM (usage chunk included), as the devnet brief asks.
import { randomBytes, randomInt } from 'node:crypto';

export type EngineFlavour = 'llama.cpp' | 'vllm' | 'ollama';
export type ChatFinishReason = 'stop' | 'length' | 'tool_calls' | 'abort';

export interface ToolCallOut {
  id: string;
  name: string;
  arguments: string;
}

export interface Usage {
  promptTokens: number;
  completionTokens: number;
}

/** Chat completion id as each engine makes it (Ollama's are 0..998 and NOT unique). */
export function chatCompletionId(flavour: EngineFlavour): string {
  if (flavour === 'ollama') return `chatcmpl-${randomInt(999)}`;
  return `chatcmpl-${randomBytes(16).toString('hex')}`;
}

/** Tool call id as each engine makes it. */
export function toolCallId(flavour: EngineFlavour): string {
  if (flavour === 'ollama') return `call_${randomBytes(4).toString('hex')}`;
  return `chatcmpl-tool-${randomBytes(16).toString('hex')}`;
}

function vllmUsage(u: Usage, details: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {
    prompt_tokens: u.promptTokens,
    total_tokens: u.promptTokens + u.completionTokens,
    completion_tokens: u.completionTokens,
  };
  if (details) out['prompt_tokens_details'] = null;
  return out;
}

function ollamaUsage(u: Usage): Record<string, unknown> {
  return { prompt_tokens: u.promptTokens, completion_tokens: u.completionTokens, total_tokens: u.promptTokens + u.completionTokens };
}

export interface ChatCompletionInput {
  flavour: EngineFlavour;
  id: string;
  created: number;
  model: string;
  content: string | null;
  toolCalls: ToolCallOut[];
  finishReason: ChatFinishReason;
  usage: Usage;
  promptTokenIds?: number[] | undefined;
  tokenIds?: number[] | undefined;
}

/** A non-streaming chat.completion body. */
export function chatCompletionBody(c: ChatCompletionInput): Record<string, unknown> {
  if (c.flavour === 'ollama') {
    const message: Record<string, unknown> = { role: 'assistant', content: c.content ?? '' };
    if (c.toolCalls.length > 0) {
      message['tool_calls'] = c.toolCalls.map((t, index) => ({ id: t.id, index, type: 'function', function: { name: t.name, arguments: t.arguments } }));
    }
    return {
      id: c.id,
      object: 'chat.completion',
      created: c.created,
      model: c.model,
      system_fingerprint: 'fp_ollama',
      choices: [{ index: 0, message, finish_reason: c.finishReason }],
      usage: ollamaUsage(c.usage),
    };
  }
  const message: Record<string, unknown> = {
    role: 'assistant',
    content: c.content,
    refusal: null,
    annotations: null,
    audio: null,
    function_call: null,
  };
  if (c.toolCalls.length > 0) {
    message['tool_calls'] = c.toolCalls.map((t) => ({ id: t.id, type: 'function', function: { name: t.name, arguments: t.arguments } }));
  }
  message['reasoning'] = null;
  return {
    id: c.id,
    object: 'chat.completion',
    created: c.created,
    model: c.model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: c.finishReason, stop_reason: null, token_ids: c.tokenIds ?? null }],
    service_tier: null,
    system_fingerprint: null,
    usage: vllmUsage(c.usage, true),
    prompt_logprobs: null,
    prompt_token_ids: c.promptTokenIds ?? null,
    kv_transfer_params: null,
  };
}

/** Writes a chat.completion.chunk SSE stream in the flavour's shape. */
export class ChatChunkStream {
  private readonly flavour: EngineFlavour;
  private readonly head: Record<string, unknown>;
  private readonly write: (line: string) => void;
  private sentRole = false;

  constructor(flavour: EngineFlavour, id: string, created: number, model: string, write: (sse: string) => void) {
    this.flavour = flavour;
    this.head = { id, object: 'chat.completion.chunk', created, model };
    if (flavour === 'ollama') this.head['system_fingerprint'] = 'fp_ollama';
    this.write = write;
  }

  private chunk(choices: unknown[], extra?: Record<string, unknown>): void {
    this.write(`data: ${JSON.stringify({ ...this.head, choices, ...extra })}\n\n`);
  }

  private choice(delta: Record<string, unknown>, finishReason: ChatFinishReason | null, stopReason = false): Record<string, unknown> {
    if (this.flavour === 'ollama') return { index: 0, delta, finish_reason: finishReason };
    const c: Record<string, unknown> = { index: 0, delta, logprobs: null, finish_reason: finishReason };
    if (stopReason) c['stop_reason'] = null;
    return c;
  }

  /** vLLM opens with an empty assistant delta; Ollama puts the role on its first content chunk. */
  start(): void {
    if (this.flavour === 'ollama') return;
    this.sentRole = true;
    this.chunk([this.choice({ role: 'assistant', content: '' }, null)]);
  }

  content(delta: string): void {
    if (delta.length === 0) return;
    const d: Record<string, unknown> = this.sentRole ? { content: delta } : { role: 'assistant', content: delta };
    this.sentRole = true;
    this.chunk([this.choice(d, null)]);
  }

  /**
   * Ollama sends each call whole in one chunk; vLLM (and llama.cpp's server) open each call with its id and name,
   * then send the arguments as string deltas to append.
   */
  toolCalls(calls: ToolCallOut[], argumentDeltas: (args: string) => string[]): void {
    if (this.flavour === 'ollama') {
      const toolCalls = calls.map((t, index) => ({ id: t.id, index, type: 'function', function: { name: t.name, arguments: t.arguments } }));
      const d: Record<string, unknown> = this.sentRole ? { tool_calls: toolCalls } : { role: 'assistant', content: '', tool_calls: toolCalls };
      this.sentRole = true;
      this.chunk([this.choice(d, null)]);
      return;
    }
    for (const [index, t] of calls.entries()) {
      this.chunk([this.choice({ tool_calls: [{ id: t.id, type: 'function', index, function: { name: t.name } }] }, null)]);
      for (const args of argumentDeltas(t.arguments)) this.chunk([this.choice({ tool_calls: [{ index, function: { arguments: args } }] }, null)]);
    }
    this.sentRole = true;
  }

  /** Finish chunk, then (when asked) the `choices: []` usage chunk, then `[DONE]`. */
  finish(reason: ChatFinishReason, usage: Usage, includeUsage: boolean): void {
    const delta = this.flavour === 'ollama' ? {} : { content: '' };
    this.chunk([this.choice(delta, reason, true)]);
    if (includeUsage) this.chunk([], { usage: this.flavour === 'ollama' ? ollamaUsage(usage) : vllmUsage(usage, false) });
    this.write('data: [DONE]\n\n');
  }
}

export interface TextCompletionInput {
  flavour: EngineFlavour;
  id: string;
  created: number;
  model: string;
  text: string;
  finishReason: ChatFinishReason;
  usage: Usage;
}

/** A non-streaming text_completion body (/v1/completions). */
export function textCompletionBody(c: TextCompletionInput): Record<string, unknown> {
  const choice =
    c.flavour === 'ollama'
      ? { text: c.text, index: 0, finish_reason: c.finishReason }
      : { index: 0, text: c.text, logprobs: null, finish_reason: c.finishReason, stop_reason: null };
  return {
    id: c.id,
    object: 'text_completion',
    created: c.created,
    model: c.model,
    ...(c.flavour === 'ollama' ? { system_fingerprint: 'fp_ollama' } : {}),
    choices: [choice],
    usage: c.flavour === 'ollama' ? ollamaUsage(c.usage) : vllmUsage(c.usage, true),
  };
}

/** Writes a text_completion SSE stream (/v1/completions with stream: true). */
export class TextChunkStream {
  private readonly flavour: EngineFlavour;
  private readonly head: Record<string, unknown>;
  private readonly write: (sse: string) => void;

  constructor(flavour: EngineFlavour, id: string, created: number, model: string, write: (sse: string) => void) {
    this.flavour = flavour;
    this.head = { id, object: 'text_completion', created, model };
    if (flavour === 'ollama') this.head['system_fingerprint'] = 'fp_ollama';
    this.write = write;
  }

  private chunk(choices: unknown[], extra?: Record<string, unknown>): void {
    this.write(`data: ${JSON.stringify({ ...this.head, choices, ...extra })}\n\n`);
  }

  private choice(text: string, finishReason: ChatFinishReason | null): Record<string, unknown> {
    if (this.flavour === 'ollama') return { text, index: 0, finish_reason: finishReason };
    return { index: 0, text, logprobs: null, finish_reason: finishReason, stop_reason: null };
  }

  text(delta: string): void {
    if (delta.length > 0) this.chunk([this.choice(delta, null)]);
  }

  /** Finish chunk, optional `choices: []` usage chunk, `[DONE]`. */
  finish(reason: ChatFinishReason, usage: Usage, includeUsage: boolean): void {
    this.chunk([this.choice('', reason)]);
    if (includeUsage) this.chunk([], { usage: this.flavour === 'ollama' ? ollamaUsage(usage) : vllmUsage(usage, false) });
    this.write('data: [DONE]\n\n');
  }
}

export interface ModelCardInput {
  flavour: EngineFlavour;
  model: string;
  created: number;
  maxModelLen: number;
}

/** GET /v1/models in the flavour's shape. */
export function modelListBody(m: ModelCardInput): Record<string, unknown> {
  if (m.flavour === 'vllm') {
    return {
      object: 'list',
      data: [
        {
          id: m.model,
          object: 'model',
          created: m.created,
          owned_by: 'vllm',
          root: m.model,
          parent: null,
          max_model_len: m.maxModelLen,
          permission: [
            {
              id: `modelperm-${randomBytes(16).toString('hex')}`,
              object: 'model_permission',
              created: m.created,
              allow_create_engine: false,
              allow_sampling: true,
              allow_logprobs: true,
              allow_search_indices: false,
              allow_view: true,
              allow_fine_tuning: false,
              organization: '*',
              group: null,
              is_blocking: false,
            },
          ],
        },
      ],
    };
  }
  const ownedBy = m.flavour === 'ollama' ? 'library' : 'llamacpp';
  return { object: 'list', data: [{ id: m.model, object: 'model', created: m.created, owned_by: ownedBy }] };
}

/** An OpenAI-style error body in the flavour's shape. */
export function errorBody(flavour: EngineFlavour, status: number, message: string, code: string): Record<string, unknown> {
  if (flavour === 'vllm') return { error: { message, type: status === 404 ? 'NotFoundError' : 'BadRequestError', param: null, code: status } };
  if (flavour === 'ollama') return { error: { message, type: status >= 500 ? 'api_error' : 'invalid_request_error', param: null, code: null } };
  return { error: { code: status, message, type: code === 'not_found' || code === 'model_not_found' ? 'not_found_error' : 'invalid_request_error' } };
}
