// Two provider nodes of one provider (same key, one PostgreSQL: `database`):
// one announces and ticks, and a buyer pinning its tick (`X-Routstr-Quote`) is honoured by the other.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSecretKey } from 'nostr-tools';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEngine, startMint, startRelay, type RunningEngine, type RunningMint, type RunningRelay } from '@routstr-kit/devnet';
import { startPostgresCluster, type PostgresCluster } from '@routstr-kit/devnet/postgres';
import { startProvider, type RunningProvider } from '../src/start-provider.ts';

let mint: RunningMint;
let engine: RunningEngine;
let relay: RunningRelay;
let cluster: PostgresCluster;
const providers: RunningProvider[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  [mint, engine, relay, cluster] = await Promise.all([startMint(), startEngine(), startRelay(), startPostgresCluster()]);
}, 120_000);
afterAll(async () => {
  for (const p of providers) await p.stop();
  await Promise.all([engine?.stop(), mint?.stop(), relay?.stop(), cluster?.stop()]);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function node(nsec: string, database: string, processId: string): Promise<RunningProvider> {
  const dataDir = mkdtempSync(join(tmpdir(), 'provider-cluster-'));
  dirs.push(dataDir);
  const provider = await startProvider({
    engine: 'llama.cpp', upstream: engine.url, mints: [mint.url], relays: [relay.url], dataDir, nsec,
    publicUrl: 'http://provider.example', price: { prompt: 1_000_000, completion: 3_000_000 },
    tick: { intervalMs: 0, heartbeatS: 0 }, database, cluster: { processId, leaseS: 600 }, log: () => {},
  });
  providers.push(provider);
  return provider;
}

async function quoted(url: string, quoteId: string): Promise<{ status: number; code: string | undefined }> {
  const response = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-routstr-quote': quoteId },
    body: JSON.stringify({ model: engine.model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 }),
  });
  const body = (await response.json()) as { error?: { code?: string }; detail?: { error?: { code?: string } } };
  return { status: response.status, code: body.error?.code ?? body.detail?.error?.code };
}

describe('provider nodes on one database', () => {
  it("the follower honours the announcer's quote: a pinned tick passes the quote check (401 for want of payment), an unknown one is refused", { timeout: 60_000 }, async () => {
    const database = await cluster.newDatabase('provider_cluster');
    const nsec = Buffer.from(generateSecretKey()).toString('hex');
    const announcer = await node(nsec, database, 'first');
    const follower = await node(nsec, database, 'second');
    expect(announcer.pubkey).toBe(follower.pubkey);
    expect(announcer.marketMaker?.state().cluster?.leader).toBe(true);
    expect(follower.marketMaker?.state().cluster?.leader).toBe(false);
    expect(await follower.marketMaker!.publishTick()).toBeNull();

    const tick = (await announcer.marketMaker!.publishTick())!;
    expect(await quoted(follower.url, tick.id)).toEqual({ status: 401, code: undefined });
    expect(await quoted(follower.url, 'e'.repeat(64))).toEqual({ status: 400, code: 'quote_unknown' });
    expect(await quoted(announcer.url, tick.id)).toEqual({ status: 401, code: undefined });
  });
});
