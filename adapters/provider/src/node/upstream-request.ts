/**
 * The node's POST to its engine over node:http with a keep-alive agent. The global fetch (undici,
 * WHATWG streams) cost ~1 ms more per request than the engine's own answer time on loopback: on
 * a fast engine that was most of the node's overhead.
 */
import { Agent, request, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

/** Keep-alive connections to the engine, one pool per node server. */
export interface UpstreamAgents {
  readonly http: Agent;
  readonly https: HttpsAgent;
}

/** Pools of kept-alive connections (close them with `destroyUpstreamAgents`). */
export function upstreamAgents(): UpstreamAgents {
  return { http: new Agent({ keepAlive: true }), https: new HttpsAgent({ keepAlive: true }) };
}

/** Closes the pooled connections. */
export function destroyUpstreamAgents(agents: UpstreamAgents): void {
  agents.http.destroy();
  agents.https.destroy();
}

/** The engine's answer: status, content type, and its body as it arrives. */
export interface UpstreamResponse {
  readonly status: number;
  readonly contentType: string;
  readonly body: IncomingMessage;
}

/** POSTs `body` to `url`; rejects on a network error or when `signal` aborts before the answer starts. */
export function postUpstream(
  agents: UpstreamAgents, url: string, headers: Record<string, string>, body: string, signal: AbortSignal,
): Promise<UpstreamResponse> {
  const target = new URL(url);
  const https = target.protocol === 'https:';
  const send = https ? httpsRequest : request;
  return new Promise((resolve, reject) => {
    const req = send(target, {
      method: 'POST',
      agent: https ? agents.https : agents.http,
      headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
      signal,
    }, (res) => resolve({ status: res.statusCode ?? 502, contentType: String(res.headers['content-type'] ?? ''), body: res }));
    req.on('error', reject);
    req.end(body);
  });
}

/** Reads a whole body as text. */
export async function readText(body: AsyncIterable<Buffer>): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}
