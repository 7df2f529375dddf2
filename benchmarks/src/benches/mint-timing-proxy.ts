/**
 * A loopback HTTP proxy in front of a mint that times every request it forwards (from the request
 * arriving to the mint's answer fully sent back): the mint's own work as the node sees it, minus
 * the node→proxy hop. The bench reads and clears the records over `/__timings`.
 */
import { Agent, createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One forwarded mint request: path and performance.timeOrigin-based start/end (ms since epoch). */
export interface MintCall {
  path: string;
  start: number;
  end: number;
}

export interface MintTimingProxy {
  url: string;
  stop(): Promise<void>;
}

const TIMINGS_PATH = '/__timings';

async function readAll(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Starts the proxy in front of `mintUrl`; GET /__timings returns and clears the recorded calls. */
export async function startMintTimingProxy(mintUrl: string): Promise<MintTimingProxy> {
  const target = new URL(mintUrl);
  let calls: MintCall[] = [];
  // Idle sockets are dropped before the mint's own 5 s keep-alive timeout, so none is reused as it closes.
  const agent = new Agent({ keepAlive: true, timeout: 4_000 });
  const upstreamAt = { host: target.hostname, port: Number(target.port), agent };
  const server: Server = createServer((req, res) => {
    if (req.url === TIMINGS_PATH) {
      const body = JSON.stringify(calls);
      calls = [];
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(body);
      return;
    }
    const start = performance.timeOrigin + performance.now();
    void readAll(req).then((body) => {
      const headers = { ...req.headers, host: target.host };
      const upstream = httpRequest({ ...upstreamAt, method: req.method, path: req.url, headers }, (answer) => {
        void readAll(answer).then((payload) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          res.end(payload);
          calls.push({ path: (req.url ?? '').split('?')[0]!, start, end: performance.timeOrigin + performance.now() });
        });
      });
      upstream.on('error', () => {
        res.writeHead(502);
        res.end();
      });
      upstream.end(body);
    });
  });
  // Minting hundreds of outputs takes the devnet mint seconds: keep client connections open well past that.
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        agent.destroy();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Fetches and clears the calls a proxy recorded. */
export async function takeMintCalls(proxyUrl: string): Promise<MintCall[]> {
  return (await (await fetch(`${proxyUrl}${TIMINGS_PATH}`)).json()) as MintCall[];
}

/** Mint time of some calls added up (calls that overlap count twice: busy time, not wall time). */
export function busyMs(calls: readonly MintCall[]): number {
  return calls.reduce((a, c) => a + (c.end - c.start), 0);
}

/** Calls that lie wholly inside [start, end] (epoch ms): the ones on a request's path at c1. */
export function callsWithin(calls: readonly MintCall[], start: number, end: number): MintCall[] {
  return calls.filter((c) => c.start >= start && c.end <= end);
}

/** Adds each call to a per-path tally (`/v1/swap`, `/v1/melt`, `/v1/checkstate`…). */
export function tallyByPath(tally: Map<string, number>, calls: readonly MintCall[]): void {
  for (const c of calls) tally.set(c.path, (tally.get(c.path) ?? 0) + 1);
}

/** `/v1/swap 1.00, /v1/checkstate 0.02` per request, from a tally over `requests` requests. */
export function perRequestByPath(tally: ReadonlyMap<string, number>, requests: number): string {
  if (tally.size === 0) return 'none';
  return [...tally].sort((a, b) => b[1] - a[1]).map(([path, n]) => `${path} ${(n / Math.max(1, requests)).toFixed(2)}`).join(', ');
}
