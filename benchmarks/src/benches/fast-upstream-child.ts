// The fast upstream (fast-upstream.ts) in its own process, so its work never sits on the node's event loop.
// Usage: node fast-upstream-child.ts '{}'. Prints one JSON line `{ url, model, contextSize, promptTokens }` once
// listening; SIGTERM stops it.
import { startFastUpstream } from './fast-upstream.ts';

const upstream = await startFastUpstream();
const { stop, ...facts } = upstream;
process.stdout.write(`${JSON.stringify(facts)}\n`);
process.on('SIGTERM', () => {
  void stop().then(() => process.exit(0));
});
