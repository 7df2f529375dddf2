/**
 * A canned OpenAI-compatible upstream for overhead figures: it answers `/v1/chat/completions` at once
 * with fixed usage, as JSON or as an SSE stream in vLLM's byte shape (an empty assistant delta, one
 * content chunk per output token, the finish chunk, the `choices: []` usage chunk when
 * `stream_options.include_usage` is set, `[DONE]`; see fixtures/engines/vllm/). The request's
 * `max_tokens` (or `max_completion_tokens`) is the number of content chunks, so a bench chooses the
 * output length per request. It also serves what a provider node reads from a vLLM upstream:
 * `/v1/models` (with `max_model_len`), `/health`, `/version`, `/load` and `/metrics`.
 * Answers are built once per shape and length and reused, so the upstream's own cost stays flat.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { spawnReady } from './child-ready.ts';

/** What the fast upstream serves. */
export interface FastUpstreamFacts {
  url: string;
  model: string;
  contextSize: number;
  /** prompt_tokens reported for every request. */
  promptTokens: number;
}

export interface FastUpstream extends FastUpstreamFacts {
  stop(): Promise<void>;
}

export const FAST_MODEL = 'fast-canned';
const CONTEXT = 8192;
const PROMPT_TOKENS = 12;
/** Output length when a request names none. */
const DEFAULT_TOKENS = 16;
/** Longest output a request may ask for: bounds each canned answer's size. */
const MAX_TOKENS = 4096;
/** Distinct canned answers kept (shape × length); beyond it answers are built per request. */
const CACHE_LIMIT = 64;
/** Largest request body read (a chat request in a bench is a few hundred bytes). */
const MAX_BODY = 1 << 20;
const CREATED = 1_763_887_044;
const ID = 'chatcmpl-fa57fa57fa57fa57fa57fa57fa57fa57';
/** One output token's text. */
const TOKEN = ' hi';

function usage(completion: number, details: boolean): Record<string, unknown> {
  const u: Record<string, unknown> = { prompt_tokens: PROMPT_TOKENS, total_tokens: PROMPT_TOKENS + completion, completion_tokens: completion };
  if (details) u['prompt_tokens_details'] = null;
  return u;
}

function jsonAnswer(n: number): string {
  const message = { role: 'assistant', content: TOKEN.repeat(n), refusal: null, annotations: null, audio: null, function_call: null, reasoning: null };
  return JSON.stringify({
    id: ID, object: 'chat.completion', created: CREATED, model: FAST_MODEL,
    choices: [{ index: 0, message, logprobs: null, finish_reason: 'length', stop_reason: null, token_ids: null }],
    service_tier: null, system_fingerprint: null, usage: usage(n, true), prompt_logprobs: null, prompt_token_ids: null, kv_transfer_params: null,
  });
}

function sseAnswer(n: number, includeUsage: boolean): string {
  const head = { id: ID, object: 'chat.completion.chunk', created: CREATED, model: FAST_MODEL };
  const chunk = (choices: unknown[], extra?: Record<string, unknown>): string => `data: ${JSON.stringify({ ...head, choices, ...extra })}\n\n`;
  const choice = (delta: Record<string, unknown>, finish: string | null): Record<string, unknown> => ({ index: 0, delta, logprobs: null, finish_reason: finish });
  const parts = [chunk([choice({ role: 'assistant', content: '' }, null)])];
  const content = chunk([choice({ content: TOKEN }, null)]);
  for (let i = 0; i < n; i++) parts.push(content);
  parts.push(chunk([{ ...choice({ content: '' }, 'length'), stop_reason: null }]));
  if (includeUsage) parts.push(chunk([], { usage: usage(n, false) }));
  parts.push('data: [DONE]\n\n');
  return parts.join('');
}

const METRICS = [
  '# TYPE vllm:num_requests_running gauge',
  `vllm:num_requests_running{engine="0",model_name="${FAST_MODEL}"} 0.0`,
  '# TYPE vllm:num_requests_waiting gauge',
  `vllm:num_requests_waiting{engine="0",model_name="${FAST_MODEL}"} 0.0`,
  '# TYPE vllm:kv_cache_usage_perc gauge',
  `vllm:kv_cache_usage_perc{engine="0",model_name="${FAST_MODEL}"} 0.0`,
  '',
].join('\n');

async function readBody(req: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function sendJson(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function error(res: ServerResponse, status: number, message: string): void {
  sendJson(res, status, JSON.stringify({ object: 'error', message, type: 'BadRequestError', param: null, code: status }));
}

/** The output length a request asks for: `max_completion_tokens` or `max_tokens`, within 1…MAX_TOKENS. */
function outputLength(body: Record<string, unknown>): number | undefined {
  const asked = body['max_completion_tokens'] ?? body['max_tokens'];
  if (asked === undefined || asked === null) return DEFAULT_TOKENS;
  return typeof asked === 'number' && Number.isSafeInteger(asked) && asked >= 1 && asked <= MAX_TOKENS ? asked : undefined;
}

/** Starts the fast upstream on loopback; resolves once it listens. */
export async function startFastUpstream(options: { port?: number } = {}): Promise<FastUpstream> {
  const answers = new Map<string, string>();
  const canned = (key: string, build: () => string): string => {
    const hit = answers.get(key);
    if (hit !== undefined) return hit;
    const built = build();
    if (answers.size < CACHE_LIMIT) answers.set(key, built);
    return built;
  };
  const models = JSON.stringify({ object: 'list', data: [{ id: FAST_MODEL, object: 'model', created: CREATED, owned_by: 'vllm', root: FAST_MODEL, parent: null, max_model_len: CONTEXT, permission: [] }] });

  const chat = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const text = await readBody(req);
    if (text === undefined) return error(res, 413, 'request body too large');
    let body: unknown;
    try {
      body = JSON.parse(text) as unknown;
    } catch {
      return error(res, 400, 'request body is not JSON');
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return error(res, 400, 'request body is not a JSON object');
    const request = body as Record<string, unknown>;
    if (request['model'] !== FAST_MODEL) return error(res, 404, `The model \`${String(request['model'])}\` does not exist.`);
    const n = outputLength(request);
    if (n === undefined) return error(res, 400, `max_tokens must be an integer in 1…${MAX_TOKENS}`);
    if (request['stream'] !== true) return sendJson(res, 200, canned(`json:${n}`, () => jsonAnswer(n)));
    const options = request['stream_options'];
    const includeUsage = typeof options === 'object' && options !== null && (options as Record<string, unknown>)['include_usage'] === true;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' });
    res.end(canned(`sse:${n}:${includeUsage}`, () => sseAnswer(n, includeUsage)));
  };

  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const method = req.method ?? 'GET';
    if (method === 'POST' && path === '/v1/chat/completions') {
      chat(req, res).catch(() => {
        if (!res.headersSent) error(res, 500, 'internal error');
        else res.end();
      });
      return;
    }
    if (method === 'GET' && path === '/v1/models') return sendJson(res, 200, models);
    if (method === 'GET' && path === '/health') return void res.writeHead(200, { 'content-length': 0 }).end();
    if (method === 'GET' && path === '/version') return sendJson(res, 200, '{"version":"0.12.0"}');
    if (method === 'GET' && path === '/load') return sendJson(res, 200, '{"server_load":0}');
    if (method === 'GET' && path === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
      return void res.end(METRICS);
    }
    error(res, 404, `${method} ${path} not found`);
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    model: FAST_MODEL,
    contextSize: CONTEXT,
    promptTokens: PROMPT_TOKENS,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

const child = fileURLToPath(new URL('./fast-upstream-child.ts', import.meta.url));

/** Starts the fast upstream in its own child process (its work off the node's event loop). */
export function spawnFastUpstream(): Promise<FastUpstream> {
  return spawnReady<FastUpstreamFacts>(child, {});
}
