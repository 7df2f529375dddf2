/**
 * Streamable HTTP: one McpServer per session, Host/Origin checked against loopback names
 * (DNS-rebinding protection). Bodies are read by the SDK's transport, which bounds them
 * (`maxRequestBodySize`, 413) and answers bad JSON with -32700; a session id this server does
 * not know gets 404, as the spec asks, so the client starts a new session.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { clip } from './bounded-echo.ts';
import type { McpContext } from './context.ts';
import { createMcpServer } from './server.ts';

/** Largest request body read, bytes (the SDK's default, named here so it is a decision). */
export const MAX_REQUEST_BODY_BYTES = 4 * 1024 * 1024;

export interface RunningHttp {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

function refuse(res: ServerResponse, status: number, code: number, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null }));
}

/** Serves MCP at `http://host:port/mcp`. */
export async function startHttpServer(ctx: McpContext, options: { port: number; host: string }): Promise<RunningHttp> {
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  let allowedHosts: string[] = [];
  const http: Server = createServer((req, res) => {
    void handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) refuse(res, 500, -32603, `internal error: ${clip(error instanceof Error ? error.message : String(error))}`);
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!allowedHosts.includes(req.headers.host ?? '')) return refuse(res, 403, -32000, `host ${clip(req.headers.host ?? '(none)')} is not allowed`);
    const origin = req.headers.origin;
    if (origin !== undefined && !allowedHosts.some((h) => origin === `http://${h}`)) return refuse(res, 403, -32000, `origin ${clip(origin)} is not allowed`);
    if (new URL(req.url ?? '/', 'http://x').pathname !== '/mcp') return refuse(res, 404, -32000, 'not found; the endpoint is /mcp');
    const sid = req.headers['mcp-session-id'];
    if (sid !== undefined) {
      const existing = typeof sid === 'string' ? sessions.get(sid) : undefined;
      if (!existing) return refuse(res, 404, -32001, 'Session not found; start a new session with an initialize request');
      return existing.handleRequest(req, res);
    }
    if (req.method !== 'POST') return refuse(res, 400, -32000, 'Bad Request: Mcp-Session-Id header is required; start with an initialize request');
    // A request without a session: only an initialize opens one. The SDK's transport reads the body
    // (bounded), answers bad JSON with -32700 and anything but initialize with 400.
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => void sessions.set(id, transport),
      maxRequestBodySize: MAX_REQUEST_BODY_BYTES,
    });
    const server = createMcpServer(ctx);
    transport.onclose = () => {
      if (transport.sessionId) sessions.delete(transport.sessionId);
      void server.close();
    };
    await server.connect(transport);
    await transport.handleRequest(req, res);
    if (transport.sessionId === undefined) await server.close();
  }

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(options.port, options.host, () => resolve());
  });
  const port = (http.address() as AddressInfo).port;
  const hostName = options.host.includes(':') ? `[${options.host}]` : options.host;
  allowedHosts = [`${hostName}:${port}`, `localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`];
  return {
    url: `http://${hostName}:${port}/mcp`,
    port,
    async close() {
      for (const t of sessions.values()) await t.close().catch(() => undefined);
      const closed = new Promise<void>((resolve) => http.close(() => resolve()));
      // SSE streams stay open until told otherwise
      http.closeAllConnections();
      await closed;
    },
  };
}
