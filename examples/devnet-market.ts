/**
 * A whole market on loopback for the examples: relay, mint, llama.cpp engine (a tiny model with
 * random weights: the text is gibberish, the tokens, prices and payments are real), one provider
 * node whose price the example can move, a market that sees it, and a funded buyer wallet.
 * Built on @routstr-kit/devnet's priced-nodes fixture (the one the tests use).
 */
import { startPricedDevnet, type Price } from '@routstr-kit/devnet/priced-nodes';

/** msat per million tokens. */
export const HIGH: Price = { prompt: 200_000_000, completion: 800_000_000 };
export const LOW: Price = { prompt: 50_000_000, completion: 200_000_000 };

/** Starts the devnet market and a wallet funded with `fundSat`. */
export async function startDevnetMarket(fundSat: number) {
  process.stderr.write('starting a devnet market (relay, mint, engine, provider node)…\n');
  const net = await startPricedDevnet();
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
