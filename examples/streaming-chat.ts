/**
 * Streaming chat in the terminal with a live cost counter: each reply streams as the provider
 * generates it, with a running estimate at the market price, then the exact cost from the
 * receipt. The conversation is scripted so the example ends by itself.
 * Run: `pnpm exec node examples/streaming-chat.ts`
 */
import { streamText, type ModelMessage } from 'ai';
import { createRoutstr } from '@routstr-kit/ai-sdk';
import { startDevnetMarket } from './devnet-market.ts';

(globalThis as { AI_SDK_LOG_WARNINGS?: boolean }).AI_SDK_LOG_WARNINGS = false;

const turns = ['Hello! Who are you?', 'What can you do for me?', 'Thanks, goodbye.'];
const tty = process.stdout.isTTY === true;

const dev = await startDevnetMarket(500);
const routstr = createRoutstr({ wallet: dev.wallet, market: dev.market });
const messages: ModelMessage[] = [];
let sessionSat = 0;

try {
  for (const turn of turns) {
    console.log(`you: ${turn}`);
    messages.push({ role: 'user', content: turn });
    const ask = dev.market.bestAsk(dev.model);
    const result = streamText({ model: routstr(dev.model), messages, maxOutputTokens: 16 });
    process.stdout.write('bot: ');
    let reply = '';
    let tokens = 0;
    for await (const delta of result.textStream) {
      reply += delta;
      tokens += 1;
      if (tty) {
        // live counter at the end of the line: redraw it after each token
        const estimateMsat = Math.ceil((tokens * (ask?.completion ?? 0)) / 1_000_000);
        process.stdout.write(`\x1b[K${delta}\x1b7  \x1b[2m[${sessionSat} sat + ≈${estimateMsat} msat]\x1b[0m\x1b8`);
      } else process.stdout.write(delta);
    }
    const r = (await result.providerMetadata)?.['routstr'] as { costSat: number; paidSat: number; changeSat: number } | undefined;
    const usage = await result.usage;
    sessionSat += r?.costSat ?? 0;
    process.stdout.write(`${tty ? '\x1b[K' : ''}\n     ⤷ ${usage.inputTokens}+${usage.outputTokens} tokens, paid ${r?.paidSat} sat, change ${r?.changeSat} sat → ${r?.costSat} sat · session ${sessionSat} sat\n`);
    messages.push({ role: 'assistant', content: reply });
  }
} finally {
  await routstr.close();
  await dev.stop();
}
