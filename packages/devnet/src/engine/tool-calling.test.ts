// The engine as a tool-calling model, on each surface (llama.cpp, vLLM, Ollama): tools with tool_choice auto or
// absent make it call a tool after a user message and answer in text after a tool message; parallel_tool_calls
// lets one answer hold several calls; streamed tool-call deltas concatenate to the non-streamed call (same seed).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { startEngine, type RunningEngine } from './index.ts';
import type { EngineFlavour } from './index.ts';

const weatherArgs = z.strictObject({ city: z.enum(['Paris', 'Oslo']), days: z.number().int(), note: z.string().optional() });
const timeArgs = z.strictObject({ zone: z.string() });
const argsByName: Record<string, z.ZodType> = { weather: weatherArgs, time: timeArgs };
const tools = [
  { type: 'function', function: { name: 'weather', description: 'Weather of a city', parameters: z.toJSONSchema(weatherArgs) } },
  { type: 'function', function: { name: 'time', description: 'Time in a zone', parameters: z.toJSONSchema(timeArgs) } },
];
const ask = [{ role: 'user', content: 'Weather in Paris?' }];

interface Call {
  id?: string;
  name: string;
  arguments: string;
}

async function chat(engine: RunningEngine, body: Record<string, unknown>): Promise<any> {
  const res = await fetch(`${engine.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: engine.model, ...body }) });
  expect(res.status).toBe(200);
  return res.json();
}

/** Streams a chat and folds its tool-call deltas by index, as OpenAI clients do. */
async function streamCalls(engine: RunningEngine, body: Record<string, unknown>): Promise<{ calls: Call[]; deltas: number; finish: string; content: string }> {
  const res = await fetch(`${engine.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: engine.model, ...body, stream: true }) });
  const text = await res.text();
  const chunks = text.split('\n\n').filter((b) => b.startsWith('data: {')).map((b) => JSON.parse(b.slice(6)));
  const calls: Call[] = [];
  let deltas = 0;
  let finish = '';
  let content = '';
  for (const c of chunks) {
    const choice = c.choices[0];
    if (!choice) continue;
    if (choice.finish_reason) finish = choice.finish_reason;
    content += choice.delta.content ?? '';
    for (const d of choice.delta.tool_calls ?? []) {
      deltas++;
      const call = (calls[d.index] ??= { name: '', arguments: '' });
      if (d.id) call.id = d.id;
      call.name += d.function?.name ?? '';
      call.arguments += d.function?.arguments ?? '';
    }
  }
  return { calls, deltas, finish, content };
}

const messageCalls = (body: any): Call[] => (body.choices[0].message.tool_calls ?? []).map((c: any) => ({ id: c.id, name: c.function.name, arguments: c.function.arguments }));

function expectValid(call: Call): void {
  const schema = argsByName[call.name];
  expect(schema, `unknown tool ${call.name}`).toBeDefined();
  expect(() => schema!.parse(JSON.parse(call.arguments))).not.toThrow();
}

describe.each<EngineFlavour>(['llama.cpp', 'vllm', 'ollama'])('%s engine as a tool-calling model', (flavour) => {
  let engine: RunningEngine;
  beforeAll(async () => {
    engine = await startEngine({ flavour, contextSize: 1024, maxConcurrency: 1 });
  });
  afterAll(() => engine?.stop());

  it('calls a tool when tools are sent without tool_choice and the user spoke last; the arguments validate', async () => {
    for (const extra of [{}, { tool_choice: 'auto' }]) {
      const body = await chat(engine, { messages: ask, tools, seed: 1, ...extra });
      expect(body.choices[0].finish_reason).toBe('tool_calls');
      const calls = messageCalls(body);
      expect(calls).toHaveLength(1);
      expectValid(calls[0]!);
      expect(body.choices[0].message.content).toBe(flavour === 'ollama' ? '' : null);
    }
  });

  it('streams the same call as tool-call deltas that concatenate to it (same seed, same call)', async () => {
    const whole = messageCalls(await chat(engine, { messages: ask, tools, seed: 7 }))[0]!;
    const streamed = await streamCalls(engine, { messages: ask, tools, seed: 7 });
    expect(streamed.finish).toBe('tool_calls');
    expect(streamed.content).toBe('');
    expect(streamed.calls).toHaveLength(1);
    expect({ name: streamed.calls[0]!.name, arguments: streamed.calls[0]!.arguments }).toEqual({ name: whole.name, arguments: whole.arguments });
    expect(streamed.calls[0]!.id).toBeTruthy();
    // Ollama sends a call whole in one chunk; vLLM and llama.cpp send the name, then argument pieces
    if (flavour === 'ollama') expect(streamed.deltas).toBe(1);
    // one argument piece per top-level key (tool-calls.test.ts in the llama-engine checks the split itself)
    else expect(streamed.deltas).toBe(1 + Math.max(1, Object.keys(JSON.parse(whole.arguments) as object).length));
  });

  it('answers in text after a tool message, streamed and not', async () => {
    const call = messageCalls(await chat(engine, { messages: ask, tools, seed: 1 }))[0]!;
    const followUp = [
      ...ask,
      { role: 'assistant', content: null, tool_calls: [{ id: call.id, type: 'function', function: { name: call.name, arguments: call.arguments } }] },
      { role: 'tool', tool_call_id: call.id, content: 'sunny' },
    ];
    const body = await chat(engine, { messages: followUp, tools, seed: 1, max_tokens: 5 });
    expect(body.choices[0].finish_reason).toBe('length');
    expect(body.choices[0].message.tool_calls).toBeUndefined();
    expect(body.choices[0].message.content.length).toBeGreaterThan(0);
    const streamed = await streamCalls(engine, { messages: followUp, tools, seed: 1, max_tokens: 5 });
    expect(streamed.calls).toEqual([]);
    expect(streamed.content).toBe(body.choices[0].message.content);
  });

  it('with parallel_tool_calls one answer may hold several calls, each valid', async () => {
    const counts: number[] = [];
    for (const seed of [0, 1, 2]) {
      const body = await chat(engine, { messages: ask, tools, seed, parallel_tool_calls: true });
      const calls = messageCalls(body);
      for (const c of calls) expectValid(c);
      expect(new Set(calls.map((c) => c.id)).size).toBe(calls.length);
      counts.push(calls.length);
    }
    expect(Math.max(...counts)).toBeGreaterThanOrEqual(2);
    const streamed = await streamCalls(engine, { messages: ask, tools, seed: counts.findIndex((n) => n >= 2), parallel_tool_calls: true });
    expect(streamed.calls.length).toBeGreaterThanOrEqual(2);
    for (const c of streamed.calls) expectValid(c);
  });

  it('tool_choice "required" with parallel_tool_calls forces a list of calls, even after a tool message', async () => {
    const followUp = [...ask, { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'time', arguments: '{"zone":"UTC"}' } }] }, { role: 'tool', tool_call_id: 'c1', content: 'noon' }];
    const body = await chat(engine, { messages: followUp, tools, tool_choice: 'required', parallel_tool_calls: true, seed: 1 });
    const calls = messageCalls(body);
    expect(calls.length).toBeGreaterThanOrEqual(1);
    calls.forEach(expectValid);
  });

  it('tool_choice "none" answers in text with tools present', async () => {
    const body = await chat(engine, { messages: ask, tools, tool_choice: 'none', seed: 1, max_tokens: 3 });
    expect(body.choices[0].message.tool_calls).toBeUndefined();
    expect(body.choices[0].finish_reason).toBe('length');
  });

  it('lets the model choose when the user did not speak last: text or valid calls, by seed, streamed alike', async () => {
    const messages = [{ role: 'system', content: 'You may call tools.' }];
    let texts = 0;
    let called = 0;
    for (const seed of [0, 1, 2, 3, 4, 5]) {
      const body = await chat(engine, { messages, tools, seed, max_tokens: 4 });
      const calls = messageCalls(body);
      if (calls.length > 0) {
        called++;
        calls.forEach(expectValid);
        expect(body.choices[0].finish_reason).toBe('tool_calls');
      } else {
        texts++;
        expect(body.choices[0].message.content.length).toBeGreaterThan(0);
        expect(body.choices[0].message.content.startsWith('<')).toBe(false);
      }
      const streamed = await streamCalls(engine, { messages, tools, seed, max_tokens: 4 });
      expect(streamed.calls.map((c) => ({ name: c.name, arguments: c.arguments }))).toEqual(calls.map((c) => ({ name: c.name, arguments: c.arguments })));
      if (calls.length === 0) expect(streamed.content).toBe(body.choices[0].message.content);
    }
    expect(texts).toBeGreaterThan(0);
    expect(called).toBeGreaterThan(0);
  });
});
