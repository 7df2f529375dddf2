import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEngine, type RunningEngine } from './index.ts';

// Key shapes copied from shared/fixtures/engines (constructed from vLLM / Ollama source; see its README.md).
const FIXTURE = {
  vllmChat: JSON.parse(
    '{"id":"chatcmpl-9c2b7e0f6a5d4b3c8e1f2a3b4c5d6e7f","object":"chat.completion","created":1763887031,"model":"Qwen/Qwen2.5-7B-Instruct","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today?","refusal":null,"annotations":null,"audio":null,"function_call":null,"reasoning":null},"logprobs":null,"finish_reason":"stop","stop_reason":null,"token_ids":null}],"service_tier":null,"system_fingerprint":null,"usage":{"prompt_tokens":21,"total_tokens":31,"completion_tokens":10,"prompt_tokens_details":null},"prompt_logprobs":null,"prompt_token_ids":null,"kv_transfer_params":null}',
  ),
  vllmUsageChunk: JSON.parse(
    '{"id":"chatcmpl-5e8d0a1b2c3d4e5f6a7b8c9d0e1f2a3b","object":"chat.completion.chunk","created":1763887044,"model":"Qwen/Qwen2.5-7B-Instruct","choices":[],"usage":{"prompt_tokens":21,"total_tokens":24,"completion_tokens":3}}',
  ),
  vllmModels: JSON.parse(
    '{"object":"list","data":[{"id":"Qwen/Qwen2.5-7B-Instruct","object":"model","created":1763887012,"owned_by":"vllm","root":"Qwen/Qwen2.5-7B-Instruct","parent":null,"max_model_len":32768,"permission":[{"id":"modelperm-4f0c1e2a9b7d4c1e8a3b5d6f7e8a9b0c","object":"model_permission","created":1763887012,"allow_create_engine":false,"allow_sampling":true,"allow_logprobs":true,"allow_search_indices":false,"allow_view":true,"allow_fine_tuning":false,"organization":"*","group":null,"is_blocking":false}]}]}',
  ),
  ollamaTags: JSON.parse(
    '{"models":[{"name":"llama3.2:latest","model":"llama3.2:latest","modified_at":"2026-11-20T17:37:44.706015396Z","size":2019393189,"digest":"a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72","details":{"parent_model":"","format":"gguf","family":"llama","families":["llama"],"parameter_size":"3.2B","quantization_level":"Q4_K_M"},"capabilities":["completion","tools"]}]}',
  ),
  ollamaPs: JSON.parse(
    '{"models":[{"name":"qwen2.5:7b","model":"qwen2.5:7b","size":6004268032,"digest":"845dbda0ea48ed749caafd9e6037047aa19acfcfd82e704d7ca97d631a0b697e","details":{"parent_model":"","format":"gguf","family":"qwen2","families":["qwen2"],"parameter_size":"7.6B","quantization_level":"Q4_K_M"},"expires_at":"2026-11-23T09:17:31.83753Z","size_vram":6004268032,"context_length":4096}]}',
  ),
  ollamaStream: [
    '{"id":"chatcmpl-88","object":"chat.completion.chunk","created":1763887110,"model":"qwen2.5:7b","system_fingerprint":"fp_ollama","choices":[{"index":0,"delta":{"role":"assistant","content":"Hello"},"finish_reason":null}]}',
    '{"id":"chatcmpl-88","object":"chat.completion.chunk","created":1763887110,"model":"qwen2.5:7b","system_fingerprint":"fp_ollama","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}',
    '{"id":"chatcmpl-88","object":"chat.completion.chunk","created":1763887110,"model":"qwen2.5:7b","system_fingerprint":"fp_ollama","choices":[],"usage":{"prompt_tokens":30,"completion_tokens":3,"total_tokens":33}}',
  ].map((l) => JSON.parse(l)),
};

/** Every object's keys in order, recursively (arrays: their first element): a value-free shape to compare. */
function keyShape(v: unknown): unknown {
  if (Array.isArray(v)) return v.length > 0 ? [keyShape(v[0])] : [];
  if (v && typeof v === 'object') return Object.entries(v).map(([k, x]) => [k, keyShape(x)]);
  return null;
}

/** A small JSON Schema check for the keywords the tests use. Returns the violations. */
function violations(schema: Record<string, any>, value: unknown, path = '$'): string[] {
  const out: string[] = [];
  if (schema['enum'] && !schema['enum'].includes(value)) out.push(`${path}: not in enum`);
  const type = schema['type'];
  if (type === 'string' && typeof value !== 'string') out.push(`${path}: not a string`);
  if (type === 'integer' && !Number.isInteger(value)) out.push(`${path}: not an integer`);
  if (type === 'number' && (typeof value !== 'number' || !Number.isFinite(value))) out.push(`${path}: not a number`);
  if (type === 'boolean' && typeof value !== 'boolean') out.push(`${path}: not a boolean`);
  if (typeof value === 'string' && typeof schema['maxLength'] === 'number' && [...value].length > schema['maxLength']) out.push(`${path}: too long`);
  if (type === 'array') {
    if (!Array.isArray(value)) return [...out, `${path}: not an array`];
    if (typeof schema['maxItems'] === 'number' && value.length > schema['maxItems']) out.push(`${path}: too many items`);
    value.forEach((x, i) => out.push(...violations(schema['items'] ?? {}, x, `${path}[${i}]`)));
  }
  if (type === 'object') {
    if (!value || typeof value !== 'object' || Array.isArray(value)) return [...out, `${path}: not an object`];
    const obj = value as Record<string, unknown>;
    for (const key of schema['required'] ?? []) if (!(key in obj)) out.push(`${path}.${key}: missing`);
    for (const [key, sub] of Object.entries(schema['properties'] ?? {})) {
      if (key in obj) out.push(...violations(sub as Record<string, any>, obj[key], `${path}.${key}`));
    }
    if (schema['additionalProperties'] === false) {
      for (const key of Object.keys(obj)) if (!(key in (schema['properties'] ?? {}))) out.push(`${path}.${key}: not allowed`);
    }
  }
  return out;
}

async function post(engine: RunningEngine, body: unknown, signal?: AbortSignal): Promise<Response> {
  return fetch(`${engine.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    ...(signal ? { signal } : {}),
  });
}

/** Parses an SSE body into its data payloads (the `[DONE]` sentinel kept as a string). */
function sseData(text: string): unknown[] {
  expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
  return text
    .split('\n\n')
    .filter((block) => block.length > 0)
    .map((block) => {
      expect(block.startsWith('data: ')).toBe(true);
      const data = block.slice('data: '.length);
      return data === '[DONE]' ? data : JSON.parse(data);
    });
}

/** Resolves once the engine's state satisfies `predicate` (checked on every state change). */
function stateReaches(engine: RunningEngine, predicate: (s: ReturnType<RunningEngine['state']>) => boolean): Promise<void> {
  return new Promise((resolve) => {
    if (predicate(engine.state())) return resolve();
    const off = engine.onStateChange((s) => {
      if (predicate(s)) {
        off();
        resolve();
      }
    });
  });
}

const messages = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'hello world, is this the test?' },
];

describe('engine, llama.cpp flavour', () => {
  let engine: RunningEngine;
  beforeAll(async () => {
    engine = await startEngine({ contextSize: 1024 });
  });
  afterAll(() => engine?.stop());

  it('reports the same real token usage streaming and not, equal to the tokenizer counts', async () => {
    const request = { model: engine.model, messages, max_tokens: 12, seed: 7, temperature: 0.9 };
    const res = await post(engine, { ...request, return_token_ids: true });
    expect(res.status).toBe(200);
    const body = (await res.json()) as any;
    const choice = body.choices[0];
    const expectedPrompt = engine.tokenize(engine.renderPrompt(messages));
    expect(body.prompt_token_ids).toEqual(expectedPrompt);
    expect(body.usage.prompt_tokens).toBe(expectedPrompt.length);
    expect(body.usage.prompt_tokens).toBe(engine.countTokens(engine.renderPrompt(messages)));
    expect(choice.token_ids).toHaveLength(body.usage.completion_tokens);
    expect(body.usage.completion_tokens).toBe(12);
    expect(choice.finish_reason).toBe('length');
    expect(body.usage.total_tokens).toBe(body.usage.prompt_tokens + body.usage.completion_tokens);

    const streamed = await post(engine, { ...request, stream: true, stream_options: { include_usage: true } });
    expect(streamed.headers.get('content-type')).toContain('text/event-stream');
    const events = sseData(await streamed.text());
    const chunks = events.slice(0, -1) as any[];
    const usageChunk = chunks.at(-1);
    expect(keyShape(usageChunk)).toEqual(keyShape(FIXTURE.vllmUsageChunk));
    expect(usageChunk.usage).toEqual({
      prompt_tokens: body.usage.prompt_tokens,
      total_tokens: body.usage.total_tokens,
      completion_tokens: body.usage.completion_tokens,
    });
    expect(usageChunk.id).toMatch(/^chatcmpl-[0-9a-f]{32}$/);
    const text = chunks.flatMap((c) => c.choices.map((ch: any) => ch.delta.content ?? '')).join('');
    expect(text).toBe(choice.message.content);
  });

  it('honours stop strings and truncates the content before them', async () => {
    const first = (await (await post(engine, { messages, max_tokens: 12, seed: 11 })).json()) as any;
    const content: string = first.choices[0].message.content;
    // A stop string from the middle of the text, free of U+FFFD (half a UTF-8 character may render as one mid-stream).
    const at = Array.from({ length: content.length }, (_, i) => i).find((i) => i >= 2 && i + 2 <= content.length && !content.slice(i, i + 2).includes('\uFFFD'));
    expect(at).toBeDefined();
    const stop = content.slice(at!, at! + 2);
    const cut = (await (await post(engine, { messages, max_tokens: 12, seed: 11, stop: [stop] })).json()) as any;
    expect(cut.choices[0].finish_reason).toBe('stop');
    expect(cut.choices[0].message.content).toBe(content.slice(0, content.indexOf(stop)));
    expect(cut.usage.completion_tokens).toBeLessThan(12);
  });

  it('forces a named tool call whose arguments validate against the function schema', async () => {
    const parameters = {
      type: 'object',
      properties: {
        city: { type: 'string', maxLength: 10 },
        days: { type: 'integer' },
        units: { type: 'string', enum: ['celsius', 'fahrenheit'] },
        tags: { type: 'array', items: { type: 'string' } },
      },
      required: ['city', 'days', 'units'],
    };
    const tools = [
      { type: 'function', function: { name: 'get_weather', parameters } },
      { type: 'function', function: { name: 'noop', parameters: { type: 'object', properties: {} } } },
    ];
    const res = await post(engine, { messages, tools, tool_choice: { type: 'function', function: { name: 'get_weather' } }, seed: 3 });
    const body = (await res.json()) as any;
    const choice = body.choices[0];
    expect(choice.finish_reason).toBe('tool_calls');
    expect(choice.message.tool_calls).toHaveLength(1);
    const call = choice.message.tool_calls[0];
    expect(call.type).toBe('function');
    expect(call.function.name).toBe('get_weather');
    expect(violations(parameters, JSON.parse(call.function.arguments))).toEqual([]);
    expect(body.usage.prompt_tokens).toBe(engine.countTokens(engine.renderPrompt(messages, tools)));
  });

  it('forces some tool call with tool_choice "required", streamed as tool_calls deltas (name, then argument pieces)', async () => {
    const tools = [
      { type: 'function', function: { name: 'add', parameters: { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } }, required: ['a', 'b'] } } },
      { type: 'function', function: { name: 'flag', parameters: { type: 'object', properties: { on: { type: 'boolean' } }, required: ['on'] } } },
    ];
    const res = await post(engine, { messages, tools, tool_choice: 'required', seed: 5, stream: true, stream_options: { include_usage: true } });
    const chunks = sseData(await res.text()).slice(0, -1) as any[];
    const deltas = chunks.flatMap((c) => c.choices.flatMap((ch: any) => ch.delta.tool_calls ?? []));
    expect(deltas.every((d: any) => d.index === 0)).toBe(true);
    const call = { name: deltas[0].function.name as string, arguments: deltas.map((d: any) => d.function.arguments ?? '').join('') };
    const tool = tools.find((t) => t.function.name === call.name);
    expect(tool).toBeDefined();
    expect(violations(tool!.function.parameters, JSON.parse(call.arguments))).toEqual([]);
    expect(chunks.find((c) => c.choices[0]?.finish_reason)?.choices[0].finish_reason).toBe('tool_calls');
  });

  it('returns JSON valid against response_format json_schema, for several schemas, and for json_object', async () => {
    const schemas: Record<string, any>[] = [
      { type: 'object', properties: { name: { type: 'string' }, age: { type: 'integer' }, ok: { type: 'boolean' } }, required: ['name', 'age', 'ok'], additionalProperties: false },
      { type: 'object', properties: { items: { type: 'array', items: { type: 'object', properties: { id: { type: 'integer' }, label: { type: 'string', enum: ['a', 'b'] } }, required: ['id', 'label'] } } }, required: ['items'] },
      { type: 'array', items: { type: 'number' }, maxItems: 2 },
    ];
    for (const [i, schema] of schemas.entries()) {
      const body = (await (await post(engine, { messages, response_format: { type: 'json_schema', json_schema: { name: `s${i}`, schema } }, seed: i })).json()) as any;
      expect(body.choices[0].finish_reason).toBe('stop');
      expect(violations(schema, JSON.parse(body.choices[0].message.content))).toEqual([]);
    }
    // a record (z.record(z.string(), z.number())): bounded free keys, values of the value schema
    const record = { type: 'object', propertyNames: { type: 'string' }, additionalProperties: { type: 'integer' } };
    const sizes = new Set<number>();
    for (const seed of [1, 2, 3, 4]) {
      const body = (await (await post(engine, { messages, response_format: { type: 'json_schema', json_schema: { name: 'r', schema: record } }, seed })).json()) as any;
      const value = JSON.parse(body.choices[0].message.content) as Record<string, unknown>;
      expect(Object.values(value).every((v) => Number.isInteger(v))).toBe(true);
      expect(Object.keys(value).every((k) => k.length >= 1 && k.length <= 16)).toBe(true);
      sizes.add(Object.keys(value).length);
    }
    expect(Math.max(...sizes)).toBeGreaterThan(0);
    const obj = (await (await post(engine, { messages, response_format: { type: 'json_object' }, seed: 9 })).json()) as any;
    const parsed = JSON.parse(obj.choices[0].message.content);
    expect(typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)).toBe(true);
  });

  it('serves /v1/completions with BOS + prompt tokens, streaming and not, with equal usage', async () => {
    const request = { prompt: 'the world is', max_tokens: 5, seed: 2 };
    const complete = (extra: object) =>
      fetch(`${engine.url}/v1/completions`, { method: 'POST', body: JSON.stringify({ ...request, ...extra }) });
    const body = (await (await complete({})).json()) as any;
    expect(body.object).toBe('text_completion');
    expect(body.usage).toMatchObject({ prompt_tokens: engine.countTokens('<s>the world is'), completion_tokens: 5 });
    const chunks = sseData(await (await complete({ stream: true, stream_options: { include_usage: true } })).text()).slice(0, -1) as any[];
    expect(chunks.at(-1).usage).toEqual({ prompt_tokens: body.usage.prompt_tokens, total_tokens: body.usage.total_tokens, completion_tokens: 5 });
    expect(chunks.flatMap((c) => c.choices.map((ch: any) => ch.text)).join('')).toBe(body.choices[0].text);
  });

  it('answers malformed bodies with a 400 OpenAI-style error', async () => {
    const res = await post(engine, { messages: 'nope' });
    expect(res.status).toBe(400);
    const body = (await res.json()) as any;
    expect(typeof body.error.message).toBe('string');
    expect(body.error.type).toBe('invalid_request_error');
    const bad = await fetch(`${engine.url}/v1/chat/completions`, { method: 'POST', body: '{not json' });
    expect(bad.status).toBe(400);
  });
});

describe('engine, vllm flavour', () => {
  let engine: RunningEngine;
  beforeAll(async () => {
    engine = await startEngine({ flavour: 'vllm', maxConcurrency: 2, contextSize: 2048 });
  });
  afterAll(() => engine?.stop());

  const metric = (text: string, name: string): number => {
    const line = text.split('\n').find((l) => l.startsWith(`${name}{`));
    if (!line) throw new Error(`no ${name}`);
    return Number(line.slice(line.lastIndexOf(' ') + 1));
  };

  it('shapes /v1/models and chat completions like vLLM', async () => {
    const models = await (await fetch(`${engine.url}/v1/models`)).json();
    expect(keyShape(models)).toEqual(keyShape(FIXTURE.vllmModels));
    const chat = await (await post(engine, { model: 'tiny-llama', messages, max_tokens: 3 })).json();
    expect(keyShape(chat)).toEqual(keyShape(FIXTURE.vllmChat));
    const wrong = await post(engine, { model: 'other', messages, max_tokens: 3 });
    expect(wrong.status).toBe(404);
  });

  it('exposes real running/waiting/token metrics while requests are in flight, and frees slots on disconnect', async () => {
    const before = await (await fetch(`${engine.url}/metrics`)).text();
    expect(metric(before, 'vllm:num_requests_running')).toBe(0);
    const controller = new AbortController();
    const long = { messages, max_tokens: 1900, seed: 1 };
    const inflight = [1, 2, 3].map(() => post(engine, long, controller.signal).then((r) => r.text()).catch(() => 'aborted'));
    await stateReaches(engine, (s) => s.running >= 2 && s.waiting >= 1);
    // Poll /metrics until it shows the load (the state above says it holds; 1900-token generations take a while).
    let text = '';
    for (;;) {
      text = await (await fetch(`${engine.url}/metrics`)).text();
      const loaded = metric(text, 'vllm:num_requests_running') >= 2 && metric(text, 'vllm:num_requests_waiting') >= 1;
      // A slot counts as running from the moment it is taken; its KV cells fill once the prompt is evaluated.
      if (loaded && metric(text, 'vllm:kv_cache_usage_perc') > 0) break;
    }
    expect(metric(text, 'vllm:num_requests_running')).toBe(2);
    expect(metric(text, 'vllm:num_requests_waiting')).toBe(1);
    expect(metric(text, 'vllm:kv_cache_usage_perc')).toBeGreaterThan(0);
    expect(metric(text, 'vllm:prompt_tokens_total')).toBeGreaterThan(metric(before, 'vllm:prompt_tokens_total'));
    const load = (await (await fetch(`${engine.url}/load`)).json()) as any;
    expect(load.server_load).toBeGreaterThanOrEqual(2);

    controller.abort();
    await Promise.all(inflight);
    await stateReaches(engine, (s) => s.running === 0 && s.waiting === 0);
    const after = await (await fetch(`${engine.url}/metrics`)).text();
    expect(metric(after, 'vllm:num_requests_running')).toBe(0);
    // Aborted before finishing: far fewer than the 2 × 1900 tokens asked for by the running pair.
    expect(metric(after, 'vllm:generation_tokens_total') - metric(before, 'vllm:generation_tokens_total')).toBeLessThan(2 * 1900);
    expect(engine.state().generationTokensTotal).toBe(metric(after, 'vllm:generation_tokens_total'));
    expect((await fetch(`${engine.url}/health`)).status).toBe(200);
    expect(await (await fetch(`${engine.url}/version`)).json()).toHaveProperty('version');
  });
});

describe('engine, ollama flavour', () => {
  let engine: RunningEngine;
  beforeAll(async () => {
    engine = await startEngine({ flavour: 'ollama', contextSize: 1024 });
  });
  afterAll(() => engine?.stop());

  it('serves /api/version, /api/tags and an idle-then-loaded /api/ps in Ollama shapes', async () => {
    expect(keyShape(await (await fetch(`${engine.url}/api/version`)).json())).toEqual(keyShape({ version: '0.33.0' }));
    const tags = (await (await fetch(`${engine.url}/api/tags`)).json()) as any;
    expect(keyShape(tags)).toEqual(keyShape(FIXTURE.ollamaTags));
    expect(tags.models[0].name).toBe('tiny-llama:latest');
    expect(await (await fetch(`${engine.url}/api/ps`)).json()).toEqual({ models: [] });

    const res = await post(engine, { model: 'tiny-llama', messages, max_tokens: 4, stream: true, stream_options: { include_usage: true } });
    const chunks = sseData(await res.text()).slice(0, -1) as any[];
    expect(keyShape(chunks[0])).toEqual(keyShape(FIXTURE.ollamaStream[0]));
    expect(keyShape(chunks.at(-2))).toEqual(keyShape(FIXTURE.ollamaStream[1]));
    expect(keyShape(chunks.at(-1))).toEqual(keyShape(FIXTURE.ollamaStream[2]));
    expect(chunks[0].id).toMatch(/^chatcmpl-\d{1,3}$/);
    expect(chunks[0].system_fingerprint).toBe('fp_ollama');
    expect(chunks.at(-1).usage.completion_tokens).toBe(4);

    const ps = (await (await fetch(`${engine.url}/api/ps`)).json()) as any;
    expect(keyShape(ps)).toEqual(keyShape(FIXTURE.ollamaPs));
    expect(Date.parse(ps.models[0].expires_at)).toBeGreaterThan(Date.now());
  });
});
