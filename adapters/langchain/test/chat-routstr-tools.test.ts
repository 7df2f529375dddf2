// ChatRoutstr's tool calling and structured output on each engine surface the market sells (llama.cpp, vLLM,
// Ollama), named after LangChain's standard ChatModelIntegrationTests checks they mirror (@langchain/standard-tests
// is not on this registry). Every paid call's receipt is checked against what left the wallet.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AIMessage, AIMessageChunk, HumanMessage, ToolMessage, type BaseMessage } from '@langchain/core/messages';
import { tool } from '@langchain/core/tools';
import { z } from 'zod';
import { z as z3 } from 'zod/v3';
import type { EcashWallet, Market } from '@routstr-kit/core';
import type { EngineFlavour } from '@routstr-kit/devnet';
import { startPricedDevnet, type PricedDevnet, type Price } from '@routstr-kit/devnet/priced-nodes';
import { ChatRoutstr } from '../src/index.ts';

const PRICE: Price = { prompt: 10_000_000, completion: 40_000_000 };

const weatherArgs = z.object({ city: z.enum(['Paris', 'Oslo']), days: z.number().int().optional() });
const weather = tool(async ({ city }) => `sunny in ${city}`, { name: 'weather', description: 'Weather of a city', schema: weatherArgs });
const timeArgs = z.object({ zone: z.string() });
const time = tool(async ({ zone }) => `noon in ${zone}`, { name: 'time', description: 'Time in a zone', schema: timeArgs });
const argsOf: Record<string, z.ZodType> = { weather: weatherArgs, time: timeArgs };

/** The schema of acceptance point 2: nested objects, arrays, enums, optional fields and a record. */
const report = z.object({
  title: z.string(),
  mood: z.enum(['good', 'bad']),
  place: z.object({ city: z.string(), coords: z.object({ lat: z.number(), lon: z.number() }) }),
  tags: z.array(z.string()),
  note: z.string().optional(),
  scores: z.record(z.string(), z.number()),
});

interface Receipt {
  costSat: number;
  cached: boolean;
}
const receiptOf = (m: BaseMessage): Receipt => (m.response_metadata as Record<string, unknown>)['routstr'] as Receipt;
const concatAll = (chunks: AIMessageChunk[]): AIMessageChunk => chunks.reduce((a, b) => a.concat(b));

describe.each<EngineFlavour>(['llama.cpp', 'vllm', 'ollama'])('ChatRoutstr on a %s engine', (flavour) => {
  let net: PricedDevnet;
  let market: Market;
  let wallet: EcashWallet;
  let chat: ChatRoutstr;
  let receipts: Receipt[];
  let funded: number;
  const spent = (): number => funded - ((wallet.balance() + wallet.incomingBalance()) + wallet.feesPaid());
  /** Keeps each paid answer's receipt so the test can check the wallet against their sum. */
  const paid = <T extends BaseMessage>(m: T): T => {
    receipts.push(receiptOf(m));
    return m;
  };

  beforeAll(async () => {
    net = await startPricedDevnet({ flavour });
    const node = await net.startTicker('ticker', PRICE);
    await node.tick(PRICE);
    market = await net.openMarket();
    ({ wallet } = await net.newWallet(400));
    funded = (wallet.balance() + wallet.incomingBalance()) + wallet.feesPaid();
    // room for a whole tool call: an engine stops at the bound, and usage past it is flagged as inflated
    chat = new ChatRoutstr({ model: net.model, maxTokens: 256, wallet, market });
    receipts = [];
  });
  afterAll(async () => {
    await chat?.close();
    await net?.stop();
  });

  it('testToolCalling: bindTools without tool_choice returns a tool call whose args validate', async () => {
    const msg = paid(await chat.bindTools([weather]).invoke('What is the weather in Paris?', { seed: 3 }));
    expect(msg).toBeInstanceOf(AIMessage);
    expect(msg.tool_calls).toHaveLength(1);
    const call = msg.tool_calls![0]!;
    expect(call.name).toBe('weather');
    expect(call.id).toBeTruthy();
    expect(call.type).toBe('tool_call');
    expect(() => weatherArgs.parse(call.args)).not.toThrow();
    expect(msg.response_metadata['finish_reason']).toBe('tool_calls');
  });

  it('testModelCanUseToolUseAIMessage: after the ToolMessage the model answers in text', async () => {
    const bound = chat.bindTools([weather]);
    const ask = new HumanMessage('What is the weather in Paris?');
    const call = paid(await bound.invoke([ask], { seed: 3 }));
    const toolCall = call.tool_calls![0]!;
    const result = await weather.invoke(toolCall);
    expect(result).toBeInstanceOf(ToolMessage);
    const answer = paid(await bound.invoke([ask, call, result], { seed: 3 }));
    expect(answer.tool_calls ?? []).toEqual([]);
    expect(answer.text.length).toBeGreaterThan(0);
  });

  it('testBindToolsWithOpenAIFormattedTools / testInvokeMoreComplexTools: an OpenAI-format tool with a nested schema is called validly', async () => {
    const complex = z.object({ order: z.object({ items: z.array(z.object({ sku: z.string(), qty: z.number().int() })), rush: z.boolean().optional() }), channel: z.enum(['web', 'shop']) });
    const bound = chat.bindTools([{ type: 'function', function: { name: 'place_order', description: 'Place an order', parameters: z.toJSONSchema(complex) } }]);
    const msg = paid(await bound.invoke('Order two apples', { seed: 8 }));
    expect(msg.tool_calls?.[0]?.name).toBe('place_order');
    expect(() => complex.parse(msg.tool_calls![0]!.args)).not.toThrow();
  });

  it('testStructuredFewShotExamples: after a worked tool example, a new question gets a valid tool call', async () => {
    const history = [
      new HumanMessage('Weather in Oslo?'),
      new AIMessage({ content: '', tool_calls: [{ name: 'weather', args: { city: 'Oslo' }, id: 'abc123', type: 'tool_call' }] }),
      new ToolMessage('snow in Oslo', 'abc123', 'weather'),
      new AIMessage('It snows in Oslo.'),
      new HumanMessage('And in Paris?'),
    ];
    const msg = paid(await chat.bindTools([weather]).invoke(history, { seed: 9 }));
    expect(() => weatherArgs.parse(msg.tool_calls?.[0]?.args)).not.toThrow();
  });

  it('testStreamTools: streamed tool-call chunks concatenate to the same call as invoke (same seed)', async () => {
    const bound = chat.bindTools([weather, time]);
    const whole = paid(await bound.invoke('Weather in Oslo?', { seed: 11 }));
    const chunks: AIMessageChunk[] = [];
    for await (const c of await bound.stream('Weather in Oslo?', { seed: 11 })) chunks.push(c);
    const all = paid(concatAll(chunks));
    expect(chunks.filter((c) => (c.tool_call_chunks ?? []).length > 0).length).toBeGreaterThanOrEqual(flavour === 'ollama' ? 1 : 2);
    expect(all.tool_calls?.map((c) => ({ name: c.name, args: c.args }))).toEqual(whole.tool_calls?.map((c) => ({ name: c.name, args: c.args })));
    for (const c of all.tool_calls ?? []) expect(() => argsOf[c.name]!.parse(c.args)).not.toThrow();
  });

  it('testParallelToolCalling: with parallel_tool_calls one answer may hold two calls, each valid', async () => {
    const bound = chat.bindTools([weather, time], { parallel_tool_calls: true });
    const counts: number[] = [];
    for (const seed of [0, 1, 4]) {
      const msg = paid(await bound.invoke('Weather in Paris, and the time there?', { seed }));
      for (const c of msg.tool_calls ?? []) expect(() => argsOf[c.name]!.parse(c.args)).not.toThrow();
      expect(new Set(msg.tool_calls?.map((c) => c.id)).size).toBe(msg.tool_calls?.length);
      counts.push(msg.tool_calls?.length ?? 0);
    }
    expect(Math.min(...counts)).toBeGreaterThanOrEqual(1);
    expect(Math.max(...counts)).toBeGreaterThanOrEqual(2);
  });

  it('testWithStructuredOutput: nested objects, arrays, enums, optional fields and a record, parsed', async () => {
    const out = await chat.withConfig({ seed: 5 }).withStructuredOutput(report, { includeRaw: true }).invoke('Report on Paris');
    paid(out.raw);
    expect(report.parse(out.parsed)).toEqual(out.parsed);
    expect(['good', 'bad']).toContain(out.parsed.mood);
    expect(typeof out.parsed.place.coords.lat).toBe('number');
  });

  it('testWithStructuredOutput streamed: the last streamed value is the parsed object', async () => {
    const structured = chat.withConfig({ seed: 6 }).withStructuredOutput(report, { includeRaw: true });
    // a RunnableMap streams its keys separately: the raw message in chunks, the parsed value once complete
    const raw: AIMessageChunk[] = [];
    let parsed: z.infer<typeof report> | undefined;
    for await (const v of await structured.stream('Report on Oslo')) {
      if (v.raw) raw.push(v.raw as AIMessageChunk);
      if (v.parsed) parsed = v.parsed;
    }
    paid(concatAll(raw));
    expect(parsed).toBeDefined();
    expect(report.parse(parsed)).toEqual(parsed);
  });

  it('testWithStructuredOutput with a zod v3 schema and with a JSON Schema', async () => {
    const v3 = z3.object({ kind: z3.enum(['a', 'b']), counts: z3.record(z3.number()), extra: z3.array(z3.boolean()).optional() });
    const a = await chat.withConfig({ seed: 2 }).withStructuredOutput(v3, { includeRaw: true }).invoke('v3 please');
    paid(a.raw);
    expect(v3.parse(a.parsed)).toEqual(a.parsed);
    const json = { title: 'pick', type: 'object', properties: { n: { type: 'integer' }, ok: { type: 'boolean' } }, required: ['n', 'ok'], additionalProperties: false };
    const b = await chat.withConfig({ seed: 2 }).withStructuredOutput(json, { includeRaw: true }).invoke('json please');
    paid(b.raw);
    expect(Number.isInteger(b.parsed['n'])).toBe(true);
    expect(typeof b.parsed['ok']).toBe('boolean');
  });

  it('the wallet spent exactly the sum of the receipts of these calls', () => {
    expect(receipts.every((r) => r.costSat > 0 && r.cached === false)).toBe(true);
    expect(spent()).toBe(receipts.reduce((s, r) => s + r.costSat, 0));
  });
});
