// Issue 13 acceptance 6 for the MCP server: the real bin, reading its market through a relay that
// stalls the WebSocket handshake, then drops, then restarts, keeps serving and sees the market again.
// Before the fix the first handshake timeout raised an uncaught `ws` error and the process died.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFaultyRelay, type FaultyRelay } from '@routstr-kit/devnet';
import { startPricedDevnet, type PricedDevnet, type Price } from '@routstr-kit/devnet/priced-nodes';

const bin = fileURLToPath(new URL('./bin.ts', import.meta.url));
const PRICES: Price[] = [
  { prompt: 300_000_000, completion: 900_000_000 },
  { prompt: 200_000_000, completion: 800_000_000 },
  { prompt: 100_000_000, completion: 700_000_000 },
];

describe('the MCP server under relay faults (the real bin)', () => {
  let net: PricedDevnet;
  let proxy: FaultyRelay;
  let client: Client;
  let transport: StdioClientTransport;

  beforeAll(async () => {
    net = await startPricedDevnet();
    proxy = await startFaultyRelay(net.devnet.relayUrl);
  });
  afterAll(async () => {
    await client?.close();
    await proxy?.stop();
    await net?.stop();
  });

  it('mcp-relay-faults: a stalled handshake, a drop and a restart never stop the server; its book follows the market again each time', async () => {
    proxy.setFault('stall');
    transport = new StdioClientTransport({
      command: process.execPath,
      args: [bin, '--relay', proxy.url, '--provider-addresses', 'loopback', '--mint', net.devnet.mintUrl, '--wallet', join(net.tmp(), 'faults.db')],
      stderr: 'pipe',
    });
    let exitedEarly = false;
    transport.onclose = () => (exitedEarly = true);
    client = new Client({ name: 'relay-faults', version: '0' });
    await client.connect(transport);
    // a second stalled handshake means the first one timed out and the server lived on to retry
    await proxy.waitForConnections('stall', 2);
    expect((await client.listTools()).tools.map((t) => t.name)).toContain('get_market_price');

    const uri = `market://book/${encodeURIComponent(net.model)}`;
    const providers = async (): Promise<number> => {
      const read = await client.readResource({ uri });
      const text = read.contents[0] && 'text' in read.contents[0] ? read.contents[0].text : '{}';
      return ((JSON.parse(text) as { asks?: unknown[] }).asks ?? []).length;
    };
    /** Resolves when the book resource lists `count` providers (re-read on each update notification). */
    const bookHas = (count: number): Promise<void> =>
      new Promise((resolve, reject) => {
        const check = (): void => void providers().then((n) => (n >= count ? resolve() : undefined), reject);
        client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
          if (n.params.uri === uri) check();
        });
        check();
      });
    await client.subscribeResource({ uri });

    // handshakes pass again: the announcement (stored on the relay) reaches the server's book
    proxy.setFault('pass');
    await net.startTicker('after-stall', PRICES[0]!);
    await bookHas(1);

    proxy.drop();
    await net.startTicker('after-drop', PRICES[1]!);
    await bookHas(2);

    await proxy.restart();
    await net.startTicker('after-restart', PRICES[2]!);
    await bookHas(3);

    expect(exitedEarly).toBe(false);
    expect((await client.listTools()).tools.length).toBeGreaterThan(0);
  }, 120_000);
});
