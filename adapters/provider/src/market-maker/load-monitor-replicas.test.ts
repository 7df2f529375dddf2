// The load monitor over several engine replicas: each replica's vLLM /metrics and Ollama /api/ps are read
// from its own HTTP server on loopback (the captured fixtures, with the gauges a test sets) and combined.
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LoadMonitor } from './load-monitor.ts';
import type { NodeLoad } from './price-board.ts';

const fixtures = new URL('../../../../fixtures/engines/', import.meta.url);
const VLLM = readFileSync(new URL('vllm/metrics.prom', fixtures), 'utf8');
const OLLAMA = JSON.parse(readFileSync(new URL('ollama/api-ps.json', fixtures), 'utf8')) as { models: Record<string, unknown>[] };

interface Gauges { running: number; waiting: number; kv: number; generated: number }

/** The fixture's /metrics with its load gauges and generation counter replaced. */
function metrics(g: Gauges): string {
  return VLLM.replace(/^(vllm:num_requests_running\{[^}]*\}) .*$/m, `$1 ${g.running}`)
    .replace(/^(vllm:num_requests_waiting\{[^}]*\}) .*$/m, `$1 ${g.waiting}`)
    .replace(/^(vllm:kv_cache_usage_perc\{[^}]*\}) .*$/m, `$1 ${g.kv}`)
    .replace(/^(vllm:generation_tokens_total\{[^}]*\}) .*$/m, `$1 ${g.generated}`);
}

/** One engine replica: serves the gauges it is given and an Ollama /api/ps with one model of `vramShare`. */
async function replica(gauges: Gauges, vramShare: number): Promise<{ url: string; gauges: Gauges; server: Server }> {
  const model = { ...OLLAMA.models[0]!, size: 1000, size_vram: 1000 * vramShare };
  const server = createServer((req, res) => {
    if (req.url === '/metrics') return void res.writeHead(200, { 'content-type': 'text/plain' }).end(metrics(gauges));
    if (req.url === '/api/ps') return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ models: [model] }));
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, gauges, server };
}

const idleNode: NodeLoad = { capacity: 4, inFlight: 0, queued: 0, rejectedRecently: () => 0 };
const close = (s: Server): Promise<void> => new Promise((resolve) => {
  s.closeAllConnections();
  s.close(() => resolve());
});

describe('load monitor over two replicas', () => {
  let a: Awaited<ReturnType<typeof replica>>;
  let b: Awaited<ReturnType<typeof replica>>;
  beforeAll(async () => {
    a = await replica({ running: 2, waiting: 0, kv: 0.6, generated: 1000 }, 1);
    b = await replica({ running: 0, waiting: 0, kv: 0, generated: 500 }, 0.5);
  });
  afterAll(async () => {
    await close(a.server);
    await close(b.server);
  });

  it('sums running and waiting over the replicas, averages KV-cache use, sums throughput of the busy ones, keeps each reading', async () => {
    let now = 1_000_000;
    const monitor = new LoadMonitor({ load: idleNode, telemetry: { vllmMetricsUrls: [`${a.url}/metrics`, `${b.url}/metrics`] }, clock: () => now, log: () => {} });
    let r = await monitor.sample();
    expect(r.replicas!.map((x) => [x.url, x.vllm?.running])).toEqual([[`${a.url}/metrics`, 2], [`${b.url}/metrics`, 0]]);
    expect(r.vllm).toMatchObject({ running: 2, waiting: 0, kvCacheUsage: 0.3, generationTokensTotal: 1500 });
    // 2 busy of 4 slots; the KV-cache mean (0.3) is below it
    expect(r.utilisation).toMatchObject({ value: 0.5, parts: { slots: 0.5, kvCache: 0.3, queue: 0 } });

    // A second later both generate and both queue: 4 + 3 waiting on 4 slots; tokens/s is the two replicas' sum.
    Object.assign(a.gauges, { running: 2, waiting: 1, generated: 1100 });
    Object.assign(b.gauges, { running: 2, waiting: 2, kv: 0.2, generated: 550 });
    now += 1000;
    r = await monitor.sample();
    expect(r.utilisation.value).toBe(1 + 3 / 4);
    // only a replica busy at both readings counts: a's 100 tokens; b was idle at the first one
    expect(r.tokensPerSecond).toBe(100);
    Object.assign(a.gauges, { generated: 1300 });
    Object.assign(b.gauges, { generated: 600 });
    now += 1000;
    r = await monitor.sample();
    expect(r.tokensPerSecond).toBe(250);
  });

  it('leaves a replica that does not answer out of the sample and reports it once, by URL', async () => {
    const gone = await replica({ running: 5, waiting: 5, kv: 1, generated: 0 }, 1);
    await close(gone.server);
    const logged: string[] = [];
    const monitor = new LoadMonitor({ load: idleNode, telemetry: { vllmMetricsUrls: [`${a.url}/metrics`, `${gone.url}/metrics`] }, log: (m) => logged.push(m) });
    Object.assign(a.gauges, { running: 1, waiting: 0, kv: 0.1 });
    const first = await monitor.sample();
    await monitor.sample();
    expect(first.vllm).toMatchObject({ running: 1, waiting: 0, kvCacheUsage: 0.1 });
    expect(first.replicas![1]).toEqual({ url: `${gone.url}/metrics` });
    expect(first.errors).toEqual([expect.objectContaining({ source: 'vllm', url: `${gone.url}/metrics` })]);
    expect(logged).toHaveLength(1);
    expect(logged[0]).toContain(gone.url);
  });

  it('combines Ollama replicas: every loaded model, the GPU share over all their bytes', async () => {
    const monitor = new LoadMonitor({ load: idleNode, telemetry: { ollamaUrls: [a.url, b.url] }, log: () => {} });
    const r = await monitor.sample();
    expect(r.ollama!.loaded).toHaveLength(2);
    expect(r.ollama!.gpuFraction).toBe(0.75);
    expect(r.replicas!.map((x) => x.ollama?.gpuFraction)).toEqual([1, 0.5]);
  });
});
