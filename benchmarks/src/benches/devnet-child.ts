// The engine and the mint of a bench, in their own process: their work (inference, signing) then
// runs beside the node's event loop instead of on it, as it would on a real deployment.
// Usage: node devnet-child.ts '<json: { flavour, maxConcurrency, engine? }>' (engine: false = the mint alone)
// Prints one JSON line `{ engineUrl, model, contextSize, mintUrl, proxyUrl }` once ready; SIGTERM stops it.
import { startEngine, startMint, type EngineFlavour } from '@routstr-kit/devnet';
import { startMintTimingProxy } from './mint-timing-proxy.ts';

const args = JSON.parse(process.argv[2] ?? '{}') as { flavour?: EngineFlavour; maxConcurrency?: number; engine?: boolean };
const [engine, mint] = await Promise.all([
  args.engine === false ? undefined : startEngine({ flavour: args.flavour ?? 'vllm', maxConcurrency: args.maxConcurrency ?? 2 }),
  startMint(),
]);
const proxy = await startMintTimingProxy(mint.url);
const engineFacts = engine ? { engineUrl: engine.url, model: engine.model, contextSize: engine.contextSize } : {};
process.stdout.write(`${JSON.stringify({ ...engineFacts, mintUrl: mint.url, proxyUrl: proxy.url })}\n`);
process.on('SIGTERM', () => {
  void Promise.all([proxy.stop(), engine?.stop(), mint.stop()]).then(() => process.exit(0));
});
