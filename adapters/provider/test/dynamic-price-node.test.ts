// Issue acceptance 4 through a whole provider node: load on a vLLM-flavoured engine raises the price a
// client sees in /v1/models; when the engine is idle again the price falls back to the floor.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEngine, startMint, type RunningEngine, type RunningMint } from '@routstr-kit/devnet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProvider, type RunningProvider } from '../src/start-provider.ts';

let mint: RunningMint;
let engine: RunningEngine;
let provider: RunningProvider;

async function advertisedCompletionSats(): Promise<number> {
  const body = (await (await fetch(`${provider.url}/v1/models`)).json()) as { data: { sats_pricing: { completion: number } }[] };
  return body.data[0]!.sats_pricing.completion;
}

beforeAll(async () => {
  mint = await startMint();
  engine = await startEngine({ flavour: 'vllm', maxConcurrency: 2 });
  provider = await startProvider({
    engine: 'vllm',
    upstream: engine.url,
    mints: [mint.url],
    dataDir: mkdtempSync(join(tmpdir(), 'dynamic-node-')),
    pricing: { mode: 'dynamic', electricityMsatPerKwh: 100_000, tokensPerSecond: 50, margin: 1_000, powerWatts: 300, measureThroughput: false },
    tick: { intervalMs: 0, heartbeatS: 0 },
    maxConcurrency: 2,
    queueSize: 8,
  });
});

afterAll(async () => {
  await provider?.stop();
  await engine?.stop();
  await mint?.stop();
});

describe('a dynamic-price provider node', () => {
  it('advertises a higher price in /v1/models under load and the floor when idle', async () => {
    const maker = provider.marketMaker!;
    expect(maker).toBeDefined();
    const floor = await advertisedCompletionSats();

    // Load the engine directly (requests a buyer's agent would send), beyond its two slots.
    const aborts = Array.from({ length: 5 }, () => new AbortController());
    const loads = aborts.map((a) =>
      fetch(`${engine.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: engine.model, messages: [{ role: 'user', content: 'load' }], max_tokens: 1500 }),
        signal: a.signal,
      }).then((r) => r.text()).catch(() => ''),
    );
    await new Promise<void>((resolve) => {
      const check = (s: { running: number; waiting: number }): void => {
        if (s.running >= 2 && s.waiting >= 1) {
          off();
          resolve();
        }
      };
      const off = engine.onStateChange(check);
      check(engine.state());
    });
    let loaded = floor;
    for (let i = 0; i < 30 && loaded <= floor; i++) {
      await maker.sampleNow();
      loaded = await advertisedCompletionSats();
    }
    expect(loaded).toBeGreaterThan(floor);

    for (const a of aborts) a.abort();
    await Promise.all(loads);
    await new Promise<void>((resolve) => {
      const check = (s: { running: number; waiting: number }): void => {
        if (s.running === 0 && s.waiting === 0) {
          off();
          resolve();
        }
      };
      const off = engine.onStateChange(check);
      check(engine.state());
    });
    let idle = loaded;
    for (let i = 0; i < 200 && idle > floor; i++) {
      await maker.sampleNow();
      idle = await advertisedCompletionSats();
    }
    expect(idle).toBe(floor);
  });
});
