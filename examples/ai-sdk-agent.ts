/**
 * An AI SDK agent that calls a tool in a loop, paying for each step on the Routstr market, and
 * prints what each step cost. Run: `pnpm exec node examples/ai-sdk-agent.ts`
 */
import { generateText, stepCountIs, tool } from 'ai';
import { z } from 'zod';
import { createRoutstr } from '@routstr-kit/ai-sdk';
import { startDevnetMarket } from './devnet-market.ts';

(globalThis as { AI_SDK_LOG_WARNINGS?: boolean }).AI_SDK_LOG_WARNINGS = false;

interface RoutstrReceipt {
  costSat: number;
  paidSat: number;
  changeSat: number;
  provider: { url: string };
  price: { prompt: number; completion: number };
}

const dev = await startDevnetMarket(1000);
// Against the real market: createRoutstr() reads ROUTSTR_KIT_WALLET, ROUTSTR_KIT_RELAYS, ROUTSTR_KIT_MINTS.
const routstr = createRoutstr({ wallet: dev.wallet, market: dev.market });
try {
  const start = dev.wallet.balance();
  const result = await generateText({
    model: routstr(dev.model),
    prompt: 'Look up the weather in Paris and Oslo, then summarise.',
    // room for a whole tool call: an engine stops at the bound, and a cut call is no call
    maxOutputTokens: 64,
    tools: {
      weather: tool({
        description: 'Current weather of a city',
        inputSchema: z.object({ city: z.enum(['Paris', 'Oslo']) }),
        execute: async ({ city }) => ({ city, sky: city === 'Paris' ? 'sunny' : 'snow' }),
      }),
    },
    // the model calls a tool after the question and answers after a tool result: ask for a second lookup, then the answer
    prepareStep: ({ stepNumber }) => (stepNumber === 1 ? { toolChoice: 'required' } : {}),
    stopWhen: stepCountIs(3),
    onStepFinish: (step) => {
      const r = (step.providerMetadata?.['routstr'] ?? {}) as unknown as RoutstrReceipt;
      const calls = step.toolCalls.map((c) => `${c.toolName}(${JSON.stringify(c.input)})`).join(', ') || `text: ${JSON.stringify(step.text.slice(0, 40))}`;
      console.log(`step ${step.stepNumber + 1}: ${calls}`);
      console.log(`  paid ${r.paidSat} sat, change ${r.changeSat} sat → cost ${r.costSat} sat at ${r.price.prompt}/${r.price.completion} msat/Mtok from ${r.provider.url}`);
    },
  });
  const total = result.steps.reduce((s, step) => s + ((step.providerMetadata?.['routstr'] as unknown as RoutstrReceipt | undefined)?.costSat ?? 0), 0);
  console.log(`${result.steps.length} steps, ${result.totalUsage.totalTokens} tokens, ${total} sat in receipts; the wallet went down by ${start - dev.wallet.balance()} sat`);
} finally {
  await routstr.close();
  await dev.stop();
}
