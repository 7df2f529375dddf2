// Issue 13 points 12, 13 and 15 against the real bin: Streamable HTTP by the spec (404 for an
// unknown session, -32700 for bad JSON, bounded bodies), a server that cannot start exits, a bad
// stored order does not stop it, and the wallet folder it creates is private.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { request, type IncomingMessage } from 'node:http';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openWallet } from '@routstr-kit/core';
import { startPricedDevnet, type PricedDevnet, type Price } from '@routstr-kit/devnet/priced-nodes';
import { MAX_REQUEST_BODY_BYTES } from './http.ts';

const bin = fileURLToPath(new URL('./bin.ts', import.meta.url));
const HIGH: Price = { prompt: 200_000_000, completion: 800_000_000 };
const MiB = 1024 * 1024;
const INIT = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '0' } } };
const HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

function exited(proc: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => (proc.exitCode !== null ? resolve(proc.exitCode) : proc.once('exit', (code) => resolve(code))));
}

/** Spawns the bin; resolves with its stderr once it exits. */
function runToExit(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const proc = spawn(process.execPath, [bin, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return exited(proc).then((code) => ({ code, stderr }));
}

interface RawReply {
  status: number;
  body: string;
  /** Body bytes this client had written when the reply's headers arrived. */
  sentBeforeReply: number;
}

/**
 * POSTs to the server. `body` is written whole; `stream` writes that many bytes of padding in
 * 1 MiB chunks (with `declared` as Content-Length, or chunked) and stops writing as soon as a reply
 * arrives: a server that reads the whole body before answering never answers.
 */
function post(url: string, options: { body?: string; headers?: Record<string, string>; stream?: number; declared?: number }): Promise<RawReply> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    let sent = 0;
    let replied = false;
    const headers: Record<string, string | number> = { ...HEADERS, ...options.headers };
    if (options.declared !== undefined) headers['content-length'] = options.declared;
    const req = request({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers }, (res: IncomingMessage) => {
      replied = true;
      const sentBeforeReply = sent;
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body, sentBeforeReply });
        req.destroy();
      });
    });
    req.on('error', (e) => (replied ? undefined : reject(e)));
    if (options.body !== undefined) {
      req.end(options.body);
      return;
    }
    const chunk = Buffer.alloc(MiB, 0x20);
    const pump = (): void => {
      while (!replied && sent < (options.stream ?? 0)) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
    };
    pump();
  });
}

describe('Streamable HTTP by the spec, and startup failures (the real bin)', () => {
  let net: PricedDevnet;
  let args: (name: string) => string[];
  let proc: ChildProcess;
  let url: string;

  beforeAll(async () => {
    net = await startPricedDevnet();
    const node = await net.startTicker('ticker', HIGH);
    await node.tick(HIGH);
    await net.openMarket();
    args = (name) => ['--relay', net.devnet.relayUrl, '--provider-addresses', 'loopback', '--mint', net.devnet.mintUrl, '--wallet', join(net.tmp(), `${name}.db`)];
    proc = spawn(process.execPath, [bin, ...args('http'), '--http', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    url = await new Promise<string>((resolve, reject) => {
      let err = '';
      proc.stderr!.on('data', (d: Buffer) => {
        err += d.toString();
        const m = /listening on (\S+)/.exec(err);
        if (m?.[1]) resolve(m[1]);
      });
      proc.once('exit', (code) => reject(new Error(`bin exited ${code}: ${err}`)));
    });
  });
  afterAll(async () => {
    if (proc && proc.exitCode === null) {
      proc.kill('SIGTERM');
      await exited(proc);
    }
    await net?.stop();
  });

  /** The server still serves a whole session after whatever came before. */
  async function stillServes(): Promise<void> {
    const client = new Client({ name: 'after', version: '0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(url)));
    const r = (await client.callTool({ name: 'list_models', arguments: {} })) as CallToolResult;
    expect((r.structuredContent as { models: Array<{ model: string }> }).models[0]?.model).toBe(net.model);
    await client.close();
  }

  it('an unknown session id gets 404 (the client then starts a new session), no session id gets 400', async () => {
    const unknown = await post(url, { body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }), headers: { 'mcp-session-id': 'no-such-session', 'mcp-protocol-version': '2025-06-18' } });
    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.body)).toMatchObject({ jsonrpc: '2.0', error: { code: -32001 }, id: null });
    const none = await post(url, { body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }) });
    expect(none.status).toBe(400);
    // a session that ended is unknown too
    const client = new Client({ name: 'ended', version: '0' });
    const transport = new StreamableHTTPClientTransport(new URL(url));
    await client.connect(transport);
    const sid = transport.sessionId!;
    await transport.terminateSession();
    await client.close();
    const ended = await post(url, { body: JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'tools/list' }), headers: { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' } });
    expect(ended.status).toBe(404);
  });

  it('invalid JSON is -32700 (parse error)', async () => {
    for (const body of ['{"jsonrpc":"2.0","id":1,"method":', 'not json at all']) {
      const r = await post(url, { body });
      expect(r.status).toBe(400);
      expect(JSON.parse(r.body)).toMatchObject({ jsonrpc: '2.0', error: { code: -32700 } });
    }
    const client = new Client({ name: 'parse', version: '0' });
    const transport = new StreamableHTTPClientTransport(new URL(url));
    await client.connect(transport);
    const inSession = await post(url, { body: '{"jsonrpc":', headers: { 'mcp-session-id': transport.sessionId!, 'mcp-protocol-version': '2025-06-18' } });
    expect(inSession.status).toBe(400);
    expect(JSON.parse(inSession.body)).toMatchObject({ error: { code: -32700 } });
    await client.close();
  });

  it('request bodies are limited: a 64 MiB POST is refused with 413 before it is read', async () => {
    expect(MAX_REQUEST_BODY_BYTES).toBe(4 * MiB);
    // declared up front: refused without reading a byte of it
    const declared = await post(url, { stream: 64 * MiB, declared: 64 * MiB });
    expect(declared.status).toBe(413);
    expect(declared.sentBeforeReply).toBeLessThan(64 * MiB);
    // chunked, no length: the read stops just past the limit
    const chunked = await post(url, { stream: 64 * MiB });
    expect(chunked.status).toBe(413);
    expect(chunked.sentBeforeReply).toBeLessThan(64 * MiB);
    // within a session too
    const client = new Client({ name: 'big', version: '0' });
    const transport = new StreamableHTTPClientTransport(new URL(url));
    await client.connect(transport);
    const inSession = await post(url, { stream: 64 * MiB, headers: { 'mcp-session-id': transport.sessionId!, 'mcp-protocol-version': '2025-06-18' } });
    expect(inSession.status).toBe(413);
    expect(inSession.sentBeforeReply).toBeLessThan(64 * MiB);
    await client.close();
    await stillServes();
  });

  it('a body under the limit still initializes', async () => {
    const r = await post(url, { body: JSON.stringify({ ...INIT, params: { ...INIT.params, clientInfo: { name: 'raw', version: '0', title: 't'.repeat(MiB) } } }) });
    expect(r.status).toBe(200);
    expect(r.body).toContain('"serverInfo"');
  });

  it('could not start (HTTP port taken): says so and exits 1 with wallet and relays closed', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const { code, stderr } = await runToExit([...args('busy'), '--http', String(port)]);
      expect(code).toBe(1);
      expect(stderr).toMatch(/could not start: HTTP on 127\.0\.0\.1:\d+: .*EADDRINUSE/);
    } finally {
      blocker.close();
    }
  });

  it('could not start (the orders in the wallet are damaged): exits 1 instead of hanging on its relay connection', async () => {
    const path = join(net.tmp(), 'damaged.db');
    (await openWallet({ path, mints: [net.devnet.mintUrl] })).close();
    const raw = new DatabaseSync(path);
    raw.exec('DROP TABLE IF EXISTS orders_limit; CREATE TABLE orders_limit (id TEXT)');
    raw.close();
    const { code, stderr } = await runToExit(['--relay', net.devnet.relayUrl, '--mint', net.devnet.mintUrl, '--wallet', path]);
    expect(code).toBe(1);
    expect(stderr).toMatch(/could not start: .*no such column: state/);
  });

  it('the wallet folder it creates is 0700, wallet.db 0600 (the default path under HOME)', async () => {
    const home = join(net.tmp(), 'home');
    const proc = spawn(process.execPath, [bin, '--relay', net.devnet.relayUrl, '--mint', net.devnet.mintUrl], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HOME: home, ROUTSTR_KIT_WALLET: '' } });
    // stdin is closed: the server opens its wallet, serves stdio until the end of input, and exits 0
    expect(await exited(proc)).toBe(0);
    const mode = (p: string): string => (statSync(p).mode & 0o777).toString(8);
    expect(mode(home)).toBe('700');
    expect(mode(join(home, '.routstr-kit'))).toBe('700');
    expect(mode(join(home, '.routstr-kit', 'wallet.db'))).toBe('600');
  });

  it('a stored order with a bad deadline does not stop the server: it starts, reports the order, serves', async () => {
    const path = join(net.tmp(), 'bad-row.db');
    const wallet = await openWallet({ path, mints: [net.devnet.mintUrl] });
    wallet.close();
    // the orders' own table as a server creates it, holding what the old server stored for `deadline: 10000000000000`
    const raw = new DatabaseSync(path);
    raw.exec(`CREATE TABLE IF NOT EXISTS orders_limit (
      id TEXT PRIMARY KEY, state TEXT NOT NULL, request TEXT NOT NULL, max_price TEXT NOT NULL, shape TEXT NOT NULL, deadline INTEGER NOT NULL,
      fill TEXT, fill_request_id TEXT, result TEXT, error TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL)`);
    raw
      .prepare(`INSERT INTO orders_limit (id, state, request, max_price, shape, deadline, created_at, updated_at) VALUES ('lo_bad', 'resting', ?, '1', '{"inputTokens":1,"outputTokens":2}', ?, 1, 1)`)
      .run(JSON.stringify({ model: net.model, messages: [] }), Date.now() + 10_000_000_000_000 * 1000);
    raw.close();
    const server = spawn(process.execPath, [bin, '--relay', net.devnet.relayUrl, '--mint', net.devnet.mintUrl, '--wallet', path, '--http', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    const listening = new Promise<string>((resolve, reject) => {
      server.stderr!.on('data', (d: Buffer) => {
        stderr += d.toString();
        const m = /listening on (\S+)/.exec(stderr);
        if (m?.[1]) resolve(m[1]);
      });
      server.once('exit', (code) => reject(new Error(`bin exited ${code}: ${stderr}`)));
    });
    try {
      const at = await listening;
      expect(stderr).toContain('order lo_bad in the wallet cannot be read (deadline is out of range); left as stored, not resumed');
      const client = new Client({ name: 'bad-row', version: '0' });
      await client.connect(new StreamableHTTPClientTransport(new URL(at)));
      const r = (await client.callTool({ name: 'get_order', arguments: { id: 'lo_bad' } })) as CallToolResult;
      expect(r.isError).toBe(true);
      expect((r.content[0] as { text: string }).text).toMatch(/unreadable_order/);
      await client.close();
    } finally {
      server.kill('SIGTERM');
      expect(await exited(server)).toBe(0);
    }
  });
});
