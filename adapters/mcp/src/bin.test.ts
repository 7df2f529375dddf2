import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { priceForShape } from '@routstr-kit/core';
import { startPricedDevnet, type PricedDevnet, type Price } from '@routstr-kit/devnet/priced-nodes';

const bin = fileURLToPath(new URL('./bin.ts', import.meta.url));
const HIGH: Price = { prompt: 200_000_000, completion: 800_000_000 };

type Structured = Record<string, any>;
const structured = (r: unknown): Structured => (r as CallToolResult).structuredContent as Structured;

function exited(proc: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => (proc.exitCode !== null ? resolve(proc.exitCode) : proc.once('exit', (code) => resolve(code))));
}

describe('the real bin', () => {
  let net: PricedDevnet;
  let args: (name: string) => string[];

  beforeAll(async () => {
    net = await startPricedDevnet();
    const node = await net.startTicker('ticker', HIGH);
    await node.tick(HIGH);
    // the market has the node once a market of ours sees it
    await net.openMarket();
    args = (name) => ['--relay', net.devnet.relayUrl, '--provider-addresses', 'loopback', '--mint', net.devnet.mintUrl, '--wallet', join(net.tmp(), `${name}.db`), '--budget-per-request-sat', '50'];
  });
  afterAll(async () => {
    await net?.stop();
  });

  it('serves stdio: lists and calls tools', async () => {
    const transport = new StdioClientTransport({ command: process.execPath, args: [bin, ...args('stdio')], stderr: 'pipe' });
    let stderr = '';
    transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const client = new Client({ name: 'stdio-test', version: '0' });
    await client.connect(transport);
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toContain('run_when_cheaper');
    const price = structured(await client.callTool({ name: 'get_market_price', arguments: { model: net.model, input_tokens: 100, output_tokens: 10 } }));
    expect(price['price_msat']).toBe(priceForShape(HIGH, { inputTokens: 100, outputTokens: 10 }));
    const balance = structured(await client.callTool({ name: 'wallet_balance', arguments: {} }));
    expect(balance).toMatchObject({ balance_sat: 0, budget: { per_request_max_sat: 50, spent_sat: 0 } });
    const broke = await client.callTool({ name: 'chat_completion', arguments: { model: net.model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 } });
    expect(broke.isError).toBe(true);
    expect(stderr).toContain('routstr-kit mcp: serving on stdio');
    await client.close();
  });

  it('on stdio, writes only JSON-RPC to stdout and exits 0 when stdin ends', async () => {
    const proc = spawn(process.execPath, [bin, ...args('raw')], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    const answered = new Promise<void>((resolve) =>
      proc.stdout!.on('data', (d: Buffer) => {
        stdout += d.toString();
        if (stdout.includes('\n')) resolve();
      }),
    );
    proc.stdin!.write(`${JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '0' } } })}\n`);
    await answered;
    proc.stdin!.end();
    expect(await exited(proc)).toBe(0);
    const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as Structured);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ jsonrpc: '2.0', id: 1, result: { serverInfo: { name: 'routstr-kit' }, capabilities: { resources: { subscribe: true } } } });
  });

  it('reports a wallet that cannot open (mint unreachable) and exits 1', async () => {
    const proc = spawn(process.execPath, [bin, '--relay', net.devnet.relayUrl, '--mint', 'http://127.0.0.1:9', '--wallet', join(net.tmp(), 'x.db')], { stdio: ['pipe', 'pipe', 'pipe'] });
    let err = '';
    proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    expect(await exited(proc)).toBe(1);
    expect(err).toMatch(/could not start: the wallet at .*x\.db with mints http:\/\/127\.0\.0\.1:9 did not open/);
  });

  it('runs as `routstr-kit mcp` through the cli', async () => {
    const cli = fileURLToPath(new URL('../../../packages/cli/src/bin.ts', import.meta.url));
    const client = new Client({ name: 'cli-test', version: '0' });
    await client.connect(new StdioClientTransport({ command: process.execPath, args: [cli, 'mcp', ...args('cli')], stderr: 'pipe' }));
    const r = structured(await client.callTool({ name: 'get_order_book', arguments: { model: net.model } }));
    expect(r['asks'][0]['completion_msat_per_mtok']).toBe(HIGH.completion);
    await client.close();
  });

  it('serves Streamable HTTP on loopback, refusing foreign Host headers', async () => {
    const proc = spawn(process.execPath, [bin, ...args('http'), '--http', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    proc.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    const url = await new Promise<string>((resolve, reject) => {
      let err = '';
      proc.stderr!.on('data', (d: Buffer) => {
        err += d.toString();
        const m = /listening on (\S+)/.exec(err);
        if (m?.[1]) resolve(m[1]);
      });
      proc.once('exit', (code) => reject(new Error(`bin exited ${code}: ${err}`)));
    });
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/mcp$/);
    try {
      const client = new Client({ name: 'http-test', version: '0' });
      await client.connect(new StreamableHTTPClientTransport(new URL(url)));
      const { tools } = await client.listTools();
      expect(tools).toHaveLength(10);
      const models = structured(await client.callTool({ name: 'list_models', arguments: {} }));
      expect(models['models'][0]['model']).toBe(net.model);
      const order = structured(await client.callTool({ name: 'run_when_cheaper', arguments: { model: net.model, messages: [{ role: 'user', content: 'x' }], max_tokens: 2, max_price: 1, deadline: 60 } }));
      expect(order['state']).toBe('resting');
      expect(structured(await client.callTool({ name: 'cancel_order', arguments: { id: order['id'] } }))['state']).toBe('cancelled');
      // a second session gets its own server over the same wallet
      const second = new Client({ name: 'http-test-2', version: '0' });
      await second.connect(new StreamableHTTPClientTransport(new URL(url)));
      expect(structured(await second.callTool({ name: 'get_order', arguments: { id: order['id'] } }))['state']).toBe('cancelled');
      await second.close();
      await client.close();

      const port = Number(new URL(url).port);
      const status = await new Promise<number>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, path: '/mcp', method: 'POST', headers: { host: `evil.example:${port}`, 'content-type': 'application/json' } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end('{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}');
      });
      expect(status).toBe(403);
    } finally {
      proc.kill('SIGTERM');
      expect(await exited(proc)).toBe(0);
    }
    expect(stdout).toBe('');
  });

  it('refuses a bad configuration with a clear message and exit code 2', async () => {
    const proc = spawn(process.execPath, [bin, '--budget-per-request-sat', '-5'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    expect(await exited(proc)).toBe(2);
    expect(err).toContain('configuration error (invalid_config): invalid setting "budget.perRequestMaxSat" from flag --budget-per-request-sat: got "-5"; expected a positive whole number of sats');
  });

  it('acceptance 8: started with ROUTSTR_KIT_MODE=fast, the bin exits non-zero naming the setting and its source', async () => {
    const proc = spawn(process.execPath, [bin], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ROUTSTR_KIT_MODE: 'fast' } });
    let err = '';
    proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    expect(await exited(proc)).toBe(2);
    expect(err).toContain('invalid setting "mode" from environment variable ROUTSTR_KIT_MODE: got "fast"; expected one of xcashu, session');
  });
});
