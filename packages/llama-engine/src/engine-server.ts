// An OpenAI-compatible HTTP server over a GGUF model that looks like llama.cpp, vLLM or Ollama from outside.
//
// Behaviour worth knowing:
// - usage is real: prompt_tokens = tokens of the rendered chat prompt (all evaluated, no prefix cache),
//   completion_tokens = tokens sampled, including a final EOS when one is sampled (as vLLM counts).
// - The tiny model's weights make EOS unlikely unless a grammar forces it, so text runs to max_tokens
//   (default DEFAULT_MAX_TOKENS) or a stop string.
// - tool_choice "required" / a named function and response_format json_schema / json_object are grammar-enforced;
//   their output may use the rest of the context whatever max_tokens says, so the JSON is always complete.
// - tool_choice "auto" (or absent) with tools behaves like a tool-calling model: when the last message is the user's
//   it calls a tool; after a `tool` message it answers in text; otherwise the grammar lets it choose (text, or a
//   <tool_call> it then parses). parallel_tool_calls: true lets it write a list of calls. See tool-calls.ts.
// - Schema keywords GBNF cannot express (pattern, minimum, …) are dropped; strings/arrays get default bounds.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { stat } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { LlamaGrammar } from 'node-llama-cpp';
import { renderChatPrompt, type PromptMessage } from './chat-prompt.ts';
import { parseChatRequest, parseCompletionRequest, type ChatRequest, type SamplingParams } from './chat-request.ts';
import { createJsonObjectGrammar, createJsonSchemaGrammar } from './structured-output.ts';
import { argumentDeltas, CHOICE_BIAS, createTextOrToolCallGrammar, createToolCallGrammar, parseChosenCalls, parseForcedCalls, startsToolCall, type ParsedToolCall } from './tool-calls.ts';
import { InferenceCore, type EngineState, type GenerationResult } from './inference-core.ts';
import { EngineRequestError } from './engine-error.ts';
import {
  ChatChunkStream,
  TextChunkStream,
  chatCompletionBody,
  chatCompletionId,
  errorBody,
  modelListBody,
  textCompletionBody,
  toolCallId,
  type ChatFinishReason,
  type EngineFlavour,
  type ToolCallOut,
} from './openai-shapes.ts';
import { VllmMetrics } from './vllm-metrics.ts';
import { ollamaPsBody, ollamaTagsBody, ollamaVersionBody, type OllamaModelInfo } from './ollama-api.ts';

export interface EngineOptions {
  flavour?: EngineFlavour;
  host?: string;
  port?: number;
  /** GGUF file to serve. */
  modelPath: string;
  /** Served model id; default the file's name without `.gguf` (with `:latest` for ollama). */
  modelName?: string;
  /** Requests generated at once (context sequences); more wait in a FIFO queue. Default 2. */
  maxConcurrency?: number;
  /** Tokens per sequence (prompt + output). Default 2048. */
  contextSize?: number;
  /** Default sampling seed when a request sends none (default: random per request). */
  seed?: number;
  /** Ollama flavour: how long /api/ps lists the model after the last request. Default 5 minutes. */
  keepAliveMs?: number;
}

export interface RunningEngine {
  /** Base URL without /v1, e.g. http://127.0.0.1:1234. */
  url: string;
  flavour: EngineFlavour;
  model: string;
  /** Tokens per sequence. */
  contextSize: number;
  state(): EngineState;
  onStateChange(listener: (s: EngineState) => void): () => void;
  stop(): Promise<void>;
  /** Tokens in `text` as the engine tokenizes rendered prompts (special tokens like `<s>` parsed). */
  countTokens(text: string): number;
  /** Token ids of `text`, tokenized as countTokens does. */
  tokenize(text: string): number[];
  /** The exact prompt text a chat request's messages (and tools) render to. */
  renderPrompt(messages: readonly PromptMessage[], tools?: readonly unknown[]): string;
}

/** Output tokens when a text request sets no max_tokens. */
export const DEFAULT_MAX_TOKENS = 256;
const MAX_BODY_BYTES = 4 * 1024 * 1024;
const VLLM_VERSION = '0.12.0';

function defaultModelName(flavour: EngineFlavour, modelPath: string): string {
  const name = basename(modelPath).replace(/\.gguf$/i, '');
  return flavour === 'ollama' ? `${name}:latest` : name;
}

/** sha256 of a file, streamed: a GGUF can be many GB. */
async function fileSha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new EngineRequestError('invalid_request', 413, 'request body too large');
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new EngineRequestError('invalid_json', 400, 'request body is not valid JSON');
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Starts an engine on loopback; resolves once it is listening with the model loaded. */
export async function startEngine(options: EngineOptions): Promise<RunningEngine> {
  const flavour = options.flavour ?? 'llama.cpp';
  const modelPath = options.modelPath;
  const modelName = options.modelName ?? defaultModelName(flavour, modelPath);
  const maxConcurrency = options.maxConcurrency ?? 2;
  const keepAliveMs = options.keepAliveMs ?? 5 * 60_000;
  const core = await InferenceCore.load({ modelPath, maxConcurrency, contextSize: options.contextSize ?? 2048 });
  const created = Math.floor(Date.now() / 1000);
  const metrics = new VllmMetrics(modelName);
  const fileStat = await stat(modelPath);
  const modelInfo: OllamaModelInfo = {
    name: modelName,
    sizeBytes: fileStat.size,
    digest: await fileSha256(modelPath),
    modifiedAt: fileStat.mtime,
    parameterCount: core.model.fileInsights.totalParameters,
    family: 'llama',
    quantizationLevel: 'F32',
    contextLength: core.contextSize,
  };
  let lastFinishedAt: number | undefined;
  core.onFinished(() => {
    lastFinishedAt = Date.now();
  });
  const grammars = new Map<string, Promise<LlamaGrammar>>();
  const grammarFor = (key: string, make: () => Promise<LlamaGrammar>): Promise<LlamaGrammar> => {
    let g = grammars.get(key);
    if (!g) {
      if (grammars.size > 64) grammars.clear();
      g = make();
      grammars.set(key, g);
      g.catch(() => grammars.delete(key));
    }
    return g;
  };

  const checkModel = (requested: string | undefined): void => {
    if (flavour === 'llama.cpp' || requested === undefined) return;
    const ok = requested === modelName || (flavour === 'ollama' && `${requested}:latest` === modelName);
    if (!ok) {
      const message = flavour === 'ollama' ? `model "${requested}" not found, try pulling it first` : `The model \`${requested}\` does not exist.`;
      throw new EngineRequestError('model_not_found', 404, message);
    }
  };

  const sampling = (p: SamplingParams) => ({
    temperature: p.temperature ?? (flavour === 'ollama' ? 0.8 : 1),
    topP: p.topP,
    topK: p.topK !== undefined && p.topK > 0 ? p.topK : undefined,
    seed: p.seed ?? options.seed,
  });

  /** Aborts generation when the client goes away before the response is complete. */
  const abortOnDisconnect = (res: ServerResponse): AbortController => {
    const controller = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) controller.abort(new Error('client disconnected'));
    });
    return controller;
  };

  const recordMetrics = (r: GenerationResult, promptTokens: number): void => {
    metrics.observe(r, promptTokens, r.finishReason);
  };
  core.onFinished(recordMetrics);

  async function handleChat(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chat: ChatRequest = parseChatRequest(await readJson(req));
    checkModel(chat.model);
    const prompt = renderChatPrompt(chat.messages, chat.tools);
    const promptTokens = core.tokenize(prompt);
    const out = chat.output;
    let grammar: LlamaGrammar | undefined;
    if (out.kind === 'json_object') grammar = await grammarFor('json_object', () => createJsonObjectGrammar(core.llama));
    else if (out.kind === 'json_schema') grammar = await grammarFor(JSON.stringify(out.schema), () => createJsonSchemaGrammar(core.llama, out.schema));
    else if (out.kind === 'tool_call') {
      const schema = out.tool.parameters ?? { type: 'object', properties: {} };
      grammar = await grammarFor(JSON.stringify(schema), () => createJsonSchemaGrammar(core.llama, schema));
    } else if (out.kind === 'any_tool_call') {
      grammar = await grammarFor(JSON.stringify(['calls', out.parallel, out.tools]), () => createToolCallGrammar(core.llama, out.tools, out.parallel));
    } else if (out.kind === 'text_or_tool_call') {
      grammar = await grammarFor(JSON.stringify(['text|calls', out.parallel, out.tools]), () => createTextOrToolCallGrammar(core.llama, out.tools, out.parallel));
    }
    const controller = abortOnDisconnect(res);
    const id = chatCompletionId(flavour);
    const createdAt = Math.floor(Date.now() / 1000);
    const streamOut = chat.stream
      ? new ChatChunkStream(flavour, id, createdAt, modelName, (s) => {
          if (!res.writableEnded) res.write(s);
        })
      : undefined;
    const forcedCall = out.kind === 'tool_call' || out.kind === 'any_tool_call';
    const mayCall = out.kind === 'text_or_tool_call';
    if (streamOut) {
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' });
      streamOut.start();
    }
    // Text streams as it is sampled; a call is sent once its JSON is complete (only then is it known to be valid).
    let streamed = '';
    const onText = streamOut && !forcedCall
      ? (d: string): void => {
          streamed += d;
          if (!mayCall || !startsToolCall(streamed)) streamOut.content(d);
        }
      : undefined;
    let result: GenerationResult;
    try {
      result = await core.generate({
        promptTokens,
        // Structured output may use the whole context: the grammar bounds it, and a cut-off JSON would be invalid.
        maxTokens: grammar && !mayCall ? Number.POSITIVE_INFINITY : (chat.maxTokens ?? DEFAULT_MAX_TOKENS),
        beyondMaxTokens: mayCall ? startsToolCall : undefined,
        firstTokenBias: mayCall ? CHOICE_BIAS : undefined,
        ...sampling(chat),
        stop: grammar ? [] : chat.stop,
        grammar,
        signal: controller.signal,
        onText,
      });
    } catch (err) {
      if (controller.signal.aborted) return;
      if (streamOut) {
        const e = err instanceof EngineRequestError ? err : new EngineRequestError('internal', 500, String(err));
        res.end(`data: ${JSON.stringify(errorBody(flavour, e.status, e.message, e.code))}\n\ndata: [DONE]\n\n`);
        return;
      }
      throw err;
    }
    if (result.finishReason === 'abort') return;
    let calls: ParsedToolCall[] | undefined;
    if (forcedCall && result.finishReason === 'stop') {
      calls = out.kind === 'tool_call' ? [{ name: out.tool.name, arguments: JSON.stringify(JSON.parse(result.text)) }] : parseForcedCalls(result.text);
    } else if (mayCall && result.finishReason === 'stop') calls = parseChosenCalls(result.text);
    const toolCalls: ToolCallOut[] = (calls ?? []).map((c) => ({ id: toolCallId(flavour), ...c }));
    let content: string | null = result.text;
    let finishReason: ChatFinishReason = result.finishReason;
    if (toolCalls.length > 0) {
      content = flavour === 'ollama' ? '' : null;
      finishReason = 'tool_calls';
    }
    const usage = { promptTokens: promptTokens.length, completionTokens: result.tokens.length };
    if (streamOut) {
      if (toolCalls.length > 0) streamOut.toolCalls(toolCalls, argumentDeltas);
      else if (forcedCall || (mayCall && startsToolCall(result.text))) streamOut.content(result.text);
      streamOut.finish(finishReason, usage, chat.includeUsage);
      res.end();
      return;
    }
    sendJson(
      res,
      200,
      chatCompletionBody({
        flavour,
        id,
        created: createdAt,
        model: modelName,
        content,
        toolCalls,
        finishReason,
        usage,
        promptTokenIds: chat.returnTokenIds ? promptTokens : undefined,
        tokenIds: chat.returnTokenIds ? result.tokens : undefined,
      }),
    );
  }

  async function handleCompletion(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = parseCompletionRequest(await readJson(req));
    checkModel(body.model);
    // Raw completions get BOS like llama.cpp/vLLM add it; the prompt text itself is not parsed for special tokens.
    const bos = core.model.tokens.bos;
    const promptTokens = [...(bos !== null ? [bos] : []), ...core.model.tokenize(body.prompt, false)];
    const controller = abortOnDisconnect(res);
    const id = chatCompletionId(flavour).replace('chatcmpl-', 'cmpl-');
    const createdAt = Math.floor(Date.now() / 1000);
    const streamOut = body.stream
      ? new TextChunkStream(flavour, id, createdAt, modelName, (s) => {
          if (!res.writableEnded) res.write(s);
        })
      : undefined;
    if (streamOut) res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' });
    let result: GenerationResult;
    try {
      result = await core.generate({
        promptTokens,
        maxTokens: body.maxTokens ?? 16,
        ...sampling(body),
        stop: body.stop,
        signal: controller.signal,
        onText: streamOut ? (d) => streamOut.text(d) : undefined,
      });
    } catch (err) {
      if (controller.signal.aborted) return;
      if (streamOut) {
        const e = err instanceof EngineRequestError ? err : new EngineRequestError('internal', 500, String(err));
        res.end(`data: ${JSON.stringify(errorBody(flavour, e.status, e.message, e.code))}\n\ndata: [DONE]\n\n`);
        return;
      }
      throw err;
    }
    if (result.finishReason === 'abort') return;
    const usage = { promptTokens: promptTokens.length, completionTokens: result.tokens.length };
    if (streamOut) {
      streamOut.finish(result.finishReason, usage, body.includeUsage);
      res.end();
      return;
    }
    sendJson(
      res,
      200,
      textCompletionBody({ flavour, id, created: createdAt, model: modelName, text: result.text, finishReason: result.finishReason, usage }),
    );
  }

  const ollamaExpiresAt = (): Date | undefined => {
    const s = core.state();
    if (s.running + s.waiting > 0) return new Date(Date.now() + keepAliveMs);
    if (lastFinishedAt !== undefined && lastFinishedAt + keepAliveMs > Date.now()) return new Date(lastFinishedAt + keepAliveMs);
    return undefined;
  };

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const method = req.method ?? 'GET';
    if (method === 'POST' && path === '/v1/chat/completions') return handleChat(req, res);
    if (method === 'POST' && path === '/v1/completions') return handleCompletion(req, res);
    if (method === 'GET' && path === '/v1/models') {
      return sendJson(res, 200, modelListBody({ flavour, model: modelName, created, maxModelLen: core.contextSize }));
    }
    if (flavour === 'vllm' && method === 'GET') {
      if (path === '/metrics') {
        const s = core.state();
        const text = metrics.render({
          ...s,
          kvCacheUsage: core.kvCacheUsage(),
          numGpuBlocks: Math.floor((core.contextSize * maxConcurrency) / 16),
        });
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
        res.end(text);
        return;
      }
      if (path === '/load') {
        const s = core.state();
        return sendJson(res, 200, { server_load: s.running + s.waiting });
      }
      if (path === '/version') return sendJson(res, 200, { version: VLLM_VERSION });
      if (path === '/health') {
        res.writeHead(200, { 'content-length': 0 });
        res.end();
        return;
      }
    }
    if (flavour === 'ollama' && method === 'GET') {
      if (path === '/api/tags') return sendJson(res, 200, ollamaTagsBody(modelInfo));
      if (path === '/api/ps') return sendJson(res, 200, ollamaPsBody(modelInfo, ollamaExpiresAt()));
      if (path === '/api/version') return sendJson(res, 200, ollamaVersionBody());
      if (path === '/') {
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
        res.end('Ollama is running');
        return;
      }
    }
    if (flavour === 'llama.cpp' && method === 'GET' && path === '/health') return sendJson(res, 200, { status: 'ok' });
    throw new EngineRequestError('not_found', 404, `${method} ${path} not found`);
  }

  const server = createServer((req, res) => {
    route(req, res).catch((err: unknown) => {
      const e = err instanceof EngineRequestError ? err : new EngineRequestError('internal', 500, err instanceof Error ? err.message : String(err));
      if (res.headersSent) {
        res.end();
        return;
      }
      sendJson(res, e.status, errorBody(flavour, e.status, e.message, e.code));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  return {
    url: `http://${host}:${address.port}`,
    flavour,
    model: modelName,
    contextSize: core.contextSize,
    state: () => core.state(),
    onStateChange: (listener) => core.onStateChange(listener),
    countTokens: (text) => core.tokenize(text).length,
    tokenize: (text) => [...core.tokenize(text)],
    renderPrompt: (messages, tools) => renderChatPrompt(messages, tools),
    stop: async () => {
      // Dropping connections aborts their generations; wait for them to leave their sequences before freeing the context.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      await new Promise<void>((resolve) => {
        const idle = (s: EngineState): boolean => s.running === 0 && s.waiting === 0;
        if (idle(core.state())) return resolve();
        const off = core.onStateChange((s) => {
          if (idle(s)) {
            off();
            resolve();
          }
        });
      });
      await core.dispose();
    },
  };
}
