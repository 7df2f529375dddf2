/**
 * The node's POST to an engine replica over node:http with a keep-alive agent. The global fetch
 * (undici, WHATWG streams) cost ~1 ms more per request than the engine's own answer time on
 * loopback: on a fast engine that was most of the node's overhead.
 *
 * `postToReplica` picks the least-loaded replica (ReplicaPool), counts the request in flight on it
 * until its answer ends, and retries on another replica only a request that never reached the
 * engine: the connection was refused (or could not be made), or a kept-alive connection the engine
 * had already closed was reset before any answer (Node's documented `reusedSocket` race). Nothing
 * is retried once the engine may have started on it; nothing has been billed by then.
 */
import { Agent, request, type ClientRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Replica, ReplicaPool } from './replica-pool.ts';

/** Keep-alive connections to the engine replicas, one pool per node server. */
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

/** The request reached no replica serving the model (none configured, or each one refused the connection). */
export class NoReplica extends Error {
  readonly code = 'no_replica';
  constructor(model: string, cause?: unknown) {
    super(`no engine replica could take a request for ${model}`, cause === undefined ? {} : { cause });
    this.name = 'NoReplica';
  }
}

/** Errors that mean the connection was never made: the engine saw nothing. */
const NOT_CONNECTED = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EADDRNOTAVAIL']);

interface Sent {
  readonly response?: UpstreamResponse;
  readonly error?: unknown;
  /** The error came before the engine could have seen the request. */
  readonly unsent?: boolean;
}

/**
 * POSTs `body` to `path` (like `/v1/chat/completions`) on the least-loaded replica serving `model`;
 * see the module doc for retries. A 5xx answer (before any byte of its body is read) or a reset
 * connection takes that replica out of rotation; the answer or error is still the caller's.
 * Rejects on a network error, with NoReplica when no replica serves the model, or when `signal` aborts.
 */
export async function postToReplica(
  pool: ReplicaPool, agents: UpstreamAgents, model: string, path: string, headers: Record<string, string>, body: string, signal: AbortSignal,
): Promise<UpstreamResponse> {
  let tried: Replica[] | undefined;
  let staleRetried = false;
  for (;;) {
    const replica = pool.pick(model, tried);
    if (!replica) throw new NoReplica(model);
    const sent = await post(agents, replica, path, headers, body, signal);
    if (sent.response) {
      if (sent.response.status >= 500) pool.markFailed(replica, `answered ${sent.response.status}`);
      return sent.response;
    }
    const code = (sent.error as NodeJS.ErrnoException | undefined)?.code;
    if (signal.aborted) throw sent.error;
    if (sent.unsent && code === 'ECONNRESET' && !staleRetried) {
      // A kept-alive socket the engine had closed: says nothing about the engine; once, on any replica (this one too).
      staleRetried = true;
      continue;
    }
    pool.markFailed(replica, `${code ?? 'error'}: ${(sent.error as Error | undefined)?.message ?? ''}`);
    if (!sent.unsent) throw sent.error;
    (tried ??= []).push(replica);
  }
}

/** One POST to one replica; counts it in flight there until the answer ends. Never rejects. */
function post(agents: UpstreamAgents, replica: Replica, path: string, headers: Record<string, string>, body: string, signal: AbortSignal): Promise<Sent> {
  replica.inFlight++;
  replica.sent++;
  let ended = false;
  const end = (): void => {
    if (ended) return;
    ended = true;
    replica.inFlight--;
  };
  return new Promise((resolve) => {
    let req: ClientRequest;
    const options = {
      method: 'POST',
      host: replica.hostname,
      port: replica.port,
      path: replica.basePath + path,
      agent: replica.https ? agents.https : agents.http,
      headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
      signal,
    };
    const onResponse = (res: IncomingMessage): void => {
      res.once('close', end);
      resolve({ response: { status: res.statusCode ?? 502, contentType: String(res.headers['content-type'] ?? ''), body: res } });
    };
    try {
      req = replica.https ? httpsRequest(options, onResponse) : request(options, onResponse);
    } catch (error) {
      end();
      return resolve({ error, unsent: false });
    }
    req.once('error', (error: NodeJS.ErrnoException) => {
      end();
      const code = error.code ?? '';
      resolve({ error, unsent: NOT_CONNECTED.has(code) || (code === 'ECONNRESET' && req.reusedSocket) });
    });
    req.end(body);
  });
}

/** Reads a whole body as text. */
export async function readText(body: AsyncIterable<Buffer>): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}
