// Measures the node's X-Cashu path at c1 (issue 16, acceptance 2): mint calls per request, counted
// at a timing proxy in front of the mint, and the node's time beyond the mint = median(X-Cashu
// latency − the request's mint time) − median(direct latency to the same upstream).
// The mint runs in its own process (test/e2e/mint-child.ts), the upstream is a canned
// OpenAI-compatible server in its own process (fixed usage, immediate answer), the node in this one.
// Usage: node adapters/provider/test/measure-xcashu-path.ts [requests=60]
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getEncodedToken, Wallet } from '@cashu/cashu-ts';
import { msatPerMtok } from '@routstr-kit/core';
import { startMintTimingProxy, takeMintCalls } from '../../../benchmarks/src/benches/mint-timing-proxy.ts';
import { createFixedPriceBoard } from '../src/index.ts';
import { startProvider } from '../src/start-provider.ts';

const REQUESTS = Number(process.argv[2] ?? 60);
const TOKEN_SAT = 8;
const MODEL = 'fast-model';
const UPSTREAM = `
import { createServer } from 'node:http';
const answer = JSON.stringify({ id: 'c1', object: 'chat.completion', created: 1, model: '${MODEL}',
  choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 10, completion_tokens: 2, total_tokens: 12 } });
const models = JSON.stringify({ object: 'list', data: [{ id: '${MODEL}', object: 'model', max_model_len: 4096 }] });
const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => { res.writeHead(200, { 'content-type': 'application/json' }); res.end(req.method === 'GET' ? models : answer); });
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => process.stdout.write(JSON.stringify({ url: 'http://127.0.0.1:' + server.address().port }) + '\\n'));
`;

function child(args: string[]): Promise<{ proc: ChildProcess; url: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    proc.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve({ proc, url: (JSON.parse(out.slice(0, nl)) as { url: string }).url });
    });
    proc.on('error', reject);
  });
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const log = (m: string): void => void process.stderr.write(`[measure] ${m}\n`);
const dir = mkdtempSync(join(tmpdir(), 'xcashu-path-'));
const mintChild = await child([fileURLToPath(new URL('../../../test/e2e/mint-child.ts', import.meta.url)), JSON.stringify({ dbPath: join(dir, 'mint.db') })]);
log(`mint ${mintChild.url}`);
const upstream = await child(['--input-type=module', '-e', UPSTREAM]);
log(`upstream ${upstream.url}`);
const proxy = await startMintTimingProxy(mintChild.url);
const provider = await startProvider({
  engine: 'vllm', upstream: upstream.url, mints: [proxy.url], dataDir: join(dir, 'node'), contextLength: 4096,
  board: createFixedPriceBoard([{ model: MODEL, prompt: msatPerMtok(5_000_000), completion: msatPerMtok(10_000_000) }]),
  maxConcurrency: 8, queueSize: 32, log: () => {},
});
log(`node ${provider.url}`);
try {
  // One-proof 8-sat tokens minted up front (straight at the mint), so no client wallet work is timed.
  const cashu = new Wallet(mintChild.url);
  await cashu.loadMint();
  const count = REQUESTS + 10;
  const quote = await cashu.createMintQuoteBolt11(count * TOKEN_SAT);
  const proofs = await cashu.mintProofsBolt11(count * TOKEN_SAT, quote, undefined, { type: 'random', denominations: Array<number>(count).fill(TOKEN_SAT) });
  const tokens = proofs.map((p) => getEncodedToken({ mint: proxy.url, proofs: [p], unit: 'sat' }));
  const body = JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 8 });
  const post = async (url: string, headers: Record<string, string>): Promise<number> => {
    const start = performance.now();
    const res = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
    await res.text();
    if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
    return performance.now() - start;
  };
  log(`${tokens.length} tokens`);
  for (let i = 0; i < 10; i++) {
    await post(upstream.url, {});
    await post(provider.url, { 'X-Cashu': tokens.pop()! });
  }
  await takeMintCalls(proxy.url);
  const direct: number[] = [];
  const lessMint: number[] = [];
  const mintMs: number[] = [];
  const callsPerRequest: number[] = [];
  const swapsPerRequest: number[] = [];
  for (let i = 0; i < REQUESTS; i++) {
    direct.push(await post(upstream.url, {}));
    const ms = await post(provider.url, { 'X-Cashu': tokens.pop()! });
    const calls = await takeMintCalls(proxy.url);
    const mint = calls.reduce((a, c) => a + (c.end - c.start), 0);
    mintMs.push(mint);
    lessMint.push(ms - mint);
    callsPerRequest.push(calls.length);
    swapsPerRequest.push(calls.filter((c) => c.path.endsWith('/swap')).length);
  }
  const wallet = provider.payee.wallet as unknown as { inventoryStats?: () => unknown };
  const out = {
    requests: REQUESTS,
    mintCallsPerRequest: { median: median(callsPerRequest), max: Math.max(...callsPerRequest), total: callsPerRequest.reduce((a, b) => a + b, 0) },
    swapsPerRequest: { median: median(swapsPerRequest), max: Math.max(...swapsPerRequest) },
    directMs: +median(direct).toFixed(2),
    mintMs: +median(mintMs).toFixed(2),
    nodeBeyondMintMs: +(median(lessMint) - median(direct)).toFixed(2),
    inventoryStats: typeof wallet.inventoryStats === 'function' ? wallet.inventoryStats() : 'n/a (no inventory)',
  };
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
} finally {
  await provider.stop();
  await proxy.stop();
  upstream.proc.kill('SIGTERM');
  mintChild.proc.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}
