// Regression: createRoutstrClient.chat took "the receipt after the ones that existed before the
// call", so concurrent calls could be handed each other's receipts. Each call now gets its own.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRoutstrClient, type Market } from '@routstr-kit/core';
import { startPricedDevnet, type PricedDevnet } from '@routstr-kit/devnet/priced-nodes';

describe('createRoutstrClient receipts', () => {
  let net: PricedDevnet;
  let market: Market;

  beforeAll(async () => {
    net = await startPricedDevnet();
    const node = await net.startTicker('ticker', { prompt: 50_000_000, completion: 200_000_000 });
    await node.tick({ prompt: 50_000_000, completion: 200_000_000 });
    market = await net.openMarket();
  });
  afterAll(async () => {
    market?.close();
    await net?.stop();
  });

  it('hands each of several concurrent calls the receipt of its own request', async () => {
    const { wallet } = await net.newWallet(300);
    const client = createRoutstrClient({ wallet, market, mode: 'xcashu' });
    const sizes = [1, 6, 3, 9, 2];
    const results = await Promise.all(
      sizes.map((max_tokens) => client.chat({ model: net.model, messages: [{ role: 'user', content: `count ${max_tokens}` }], max_tokens })),
    );
    for (const result of results) {
      const usage = result.completion['usage'] as { completion_tokens: number; prompt_tokens: number };
      expect(result.receipt.usage).toMatchObject({ outputTokens: usage.completion_tokens, inputTokens: usage.prompt_tokens });
    }
    expect(new Set(results.map((r) => r.receipt.requestId)).size).toBe(sizes.length);
    const streamed = client.chatStream({ model: net.model, messages: [{ role: 'user', content: 'stream' }], max_tokens: 4 });
    let last: Record<string, unknown> | undefined;
    for await (const chunk of streamed.chunks) last = chunk;
    const receipt = await streamed.receipt;
    expect(receipt.stream).toBe(true);
    expect(receipt.usage).toMatchObject({ outputTokens: (last?.['usage'] as { completion_tokens: number }).completion_tokens });
    await client.close();
  });
});
