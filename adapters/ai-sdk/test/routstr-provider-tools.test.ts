// createRoutstr's agent loops and structured output on each engine surface the market sells (llama.cpp, vLLM,
// Ollama): a 3-step loop over two tools that ends in text, generateObject/streamObject with nested and record
// schemas, and every step's providerMetadata.routstr (receipt and usage) adding up to what the wallet spent.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateObject, generateText, stepCountIs, streamObject, streamText, tool } from 'ai';
import { z } from 'zod';
import type { EcashWallet } from '@routstr-kit/core';
import type { EngineFlavour } from '@routstr-kit/devnet';
import { startPricedDevnet, type PricedDevnet, type Price } from '@routstr-kit/devnet/priced-nodes';
import { createRoutstr, type RoutstrProvider } from '../src/index.ts';

(globalThis as { AI_SDK_LOG_WARNINGS?: boolean }).AI_SDK_LOG_WARNINGS = false;

const PRICE: Price = { prompt: 10_000_000, completion: 40_000_000 };

/** The schema of the LangChain acceptance point 2: nested objects, arrays, enums, optional fields and a record. */
const report = z.object({
  title: z.string(),
  mood: z.enum(['good', 'bad']),
  place: z.object({ city: z.string(), coords: z.object({ lat: z.number(), lon: z.number() }) }),
  tags: z.array(z.string()),
  note: z.string().optional(),
  scores: z.record(z.string(), z.number()),
});

interface RoutstrMeta {
  costSat: number;
  usage: { inputTokens?: number; outputTokens?: number } | null;
}
const meta = (m: unknown): RoutstrMeta => (m as { routstr: RoutstrMeta }).routstr;

describe.each<EngineFlavour>(['llama.cpp', 'vllm', 'ollama'])('createRoutstr on a %s engine', (flavour) => {
  let net: PricedDevnet;
  let wallet: EcashWallet;
  let routstr: RoutstrProvider;
  let model: string;
  let funded: number;
  const costs: number[] = [];
  const spent = (): number => funded - ((wallet.balance() + wallet.incomingBalance()) + wallet.feesPaid());

  beforeAll(async () => {
    net = await startPricedDevnet({ flavour });
    model = net.model;
    const node = await net.startTicker('ticker', PRICE);
    await node.tick(PRICE);
    const market = await net.openMarket();
    ({ wallet } = await net.newWallet(300));
    funded = (wallet.balance() + wallet.incomingBalance()) + wallet.feesPaid();
    routstr = createRoutstr({ wallet, market });
  });
  afterAll(async () => {
    await routstr?.close();
    await net?.stop();
  });

  it('a 3-step agent loop with two tools ends in text; each step carries its receipt and usage', async () => {
    const ran: string[] = [];
    const r = await generateText({
      model: routstr(model),
      prompt: 'What is the weather in Paris, and the time there?',
      maxOutputTokens: 64, // a tool call needs room: an engine stops at the bound, and usage past it is flagged as inflated
      seed: 4,
      tools: {
        weather: tool({ description: 'Weather of a city', inputSchema: z.object({ city: z.enum(['Paris', 'Oslo']) }), execute: async ({ city }) => (ran.push('weather'), `sunny in ${city}`) }),
        time: tool({ description: 'Time in a zone', inputSchema: z.object({ zone: z.string() }), execute: async ({ zone }) => (ran.push('time'), `noon in ${zone}`) }),
      },
      // the model calls a tool after the user's turn and answers after a tool's; step 2 asks for the other tool
      prepareStep: ({ stepNumber }) => (stepNumber === 1 ? { toolChoice: { type: 'tool', toolName: 'time' } } : {}),
      stopWhen: stepCountIs(3),
    });
    expect(r.steps).toHaveLength(3);
    expect(r.steps[0]!.toolCalls).toHaveLength(1);
    expect(r.steps[1]!.toolCalls.map((c) => c.toolName)).toEqual(['time']);
    expect(r.steps[2]!.toolCalls).toEqual([]);
    expect(r.text.length).toBeGreaterThan(0);
    expect(ran).toHaveLength(2);
    for (const step of r.steps) {
      const m = meta(step.providerMetadata);
      expect(m.costSat).toBeGreaterThan(0);
      expect(m.usage?.inputTokens).toBe(step.usage.inputTokens);
      expect(m.usage?.outputTokens).toBe(step.usage.outputTokens);
      costs.push(m.costSat);
    }
    expect(spent()).toBe(costs.reduce((a, b) => a + b, 0));
  });

  it('a streamed agent loop: tool calls arrive as stream parts and the last step is text', async () => {
    const st = streamText({
      model: routstr(model),
      prompt: 'Weather in Oslo?',
      maxOutputTokens: 64,
      seed: 2,
      tools: { weather: tool({ description: 'Weather of a city', inputSchema: z.object({ city: z.enum(['Paris', 'Oslo']) }), execute: async ({ city }) => `snow in ${city}` }) },
      stopWhen: stepCountIs(2),
    });
    const kinds = new Set<string>();
    for await (const part of st.fullStream) kinds.add(part.type);
    expect(kinds.has('tool-call')).toBe(true);
    expect(kinds.has('tool-result')).toBe(true);
    const steps = await st.steps;
    expect(steps).toHaveLength(2);
    expect((await st.text).length).toBeGreaterThan(0);
    for (const step of steps) costs.push(meta(step.providerMetadata).costSat);
    expect(spent()).toBe(costs.reduce((a, b) => a + b, 0));
  });

  it('generateObject and streamObject with nested, enum, optional and record fields validate', async () => {
    const g = await generateObject({ model: routstr(model), schema: report, prompt: 'Report on Paris', seed: 5 });
    expect(report.parse(g.object)).toEqual(g.object);
    costs.push(meta(g.providerMetadata).costSat);
    const s = streamObject({ model: routstr(model), schema: report, prompt: 'Report on Oslo', seed: 6 });
    let partials = 0;
    for await (const _ of s.partialObjectStream) partials++;
    expect(partials).toBeGreaterThan(1);
    const object = await s.object;
    expect(report.parse(object)).toEqual(object);
    costs.push(meta(await s.providerMetadata).costSat);
    expect(spent()).toBe(costs.reduce((a, b) => a + b, 0));
  });
});
