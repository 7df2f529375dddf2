/**
 * A whole market on loopback for the examples: relay, mint, llama.cpp engine (a tiny model with
 * random weights: the text is gibberish, the tokens, prices and payments are real), one provider
 * node whose price the example can move, a market that sees it, and a funded buyer wallet.
 * Built on the end-to-end test fixture.
 */
import { startOrdersDevnet, type Price } from '../test/e2e/orders-devnet.ts';

/** msat per million tokens. */
export const HIGH: Price = { prompt: 200_000_000, completion: 800_000_000 };
export const LOW: Price = { prompt: 50_000_000, completion: 200_000_000 };

/** Starts the devnet market and a wallet funded with `fundSat`. */
export async function startDevnetMarket(fundSat: number) {
  process.stderr.write('starting a devnet market (relay, mint, engine, provider node)…\n');
  const net = await startOrdersDevnet();
  const node = await net.startTicker('example-node', HIGH);
  await node.tick(HIGH);
  const market = await net.openMarket();
  const { wallet } = await net.newWallet(fundSat);
  return {
    model: net.model,
    market,
    wallet,
    /** Moves the provider's price (a signed tick every buyer sees). */
    tick: (price: Price) => node.tick(price),
    stop: () => net.stop(),
  };
}
