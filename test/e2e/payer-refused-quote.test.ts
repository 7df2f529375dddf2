// Regression: a node that refuses a quote (quote_unknown / quote_expired) used to get the request
// again without the quote, billed at its current price, even when that price was above the buyer's
// maxPrice. The payer now retries without the quote only within the limit.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AllProvidersFailed, createRoutstrClient, type Market } from '@routstr-kit/core';
import { startPricedDevnet, tickIntoBook, type PricedDevnet, type Price, type TickerNode } from '@routstr-kit/devnet/priced-nodes';

const HIGH: Price = { prompt: 200_000_000, completion: 800_000_000 };
const LOW: Price = { prompt: 50_000_000, completion: 200_000_000 };
const LIMIT = { prompt: 100_000_000, completion: 400_000_000 };

describe('a refused quote', () => {
  let net: PricedDevnet;
  let node: TickerNode;
  let market: Market;

  const bookAt = (price: Price, options: { billAfter?: Price; remember?: boolean }): Promise<string> => tickIntoBook(node, market, net.model, price, options);

  beforeAll(async () => {
    net = await startPricedDevnet();
    node = await net.startTicker('ticker', HIGH);
    market = await net.openMarket();
  });
  afterAll(async () => {
    market?.close();
    await net?.stop();
  });

  it('is not retried at a current price above maxPrice: nothing is charged', async () => {
    const { wallet } = await net.newWallet(200);
    const client = createRoutstrClient({ wallet, market, mode: 'xcashu', maxPrice: LIMIT });
    // The book shows LOW (within the limit) from a tick the node does not honour; the node bills HIGH.
    await bookAt(LOW, { billAfter: HIGH, remember: false });
    const heldBefore = net.providerHeldSat();
    const failure = await client.chat({ model: net.model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(AllProvidersFailed);
    const attempts = (failure as AllProvidersFailed).attempts;
    expect(attempts[0]).toMatchObject({ status: 400, message: expect.stringMatching(/quote/i) });
    expect(attempts.map((a) => a.code)).toContain('price_above_limit');
    await client.close();
    expect(net.providerHeldSat()).toBe(heldBefore);
    expect(wallet.balance() + wallet.feesPaid()).toBe(200);
  });

  it('is retried at the current price when that is within maxPrice', async () => {
    const { wallet } = await net.newWallet(200);
    const client = createRoutstrClient({ wallet, market, mode: 'xcashu', maxPrice: LIMIT });
    await bookAt(LOW, { billAfter: LOW, remember: false });
    const result = await client.chat({ model: net.model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 });
    expect(result.receipt.attempts[0]).toMatchObject({ status: 400, message: expect.stringMatching(/quote/i) });
    expect(result.receipt.price.quoteId).toBeUndefined();
    await client.close();
  });
});
