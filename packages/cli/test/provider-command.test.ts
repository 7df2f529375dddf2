import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { SimplePool, useWebSocketImplementation } from 'nostr-tools/pool';
import { generateSecretKey, getPublicKey } from 'nostr-tools';

import { parseAnnouncement } from '@routstr-kit/core';
import { ensureTinyModel, startMint, startRelay, type RunningMint, type RunningRelay } from '@routstr-kit/devnet';
import { providerOptions, ProviderConfigError, resolveSettings } from '../src/provider-command.ts';

useWebSocketImplementation(WebSocket);
const bin = fileURLToPath(new URL('../src/bin.ts', import.meta.url));

describe('provider configuration', () => {
  const base = ['--engine', 'vllm', '--upstream', 'http://127.0.0.1:9', '--mint', 'http://127.0.0.1:8'];

  it('reads fixed and dynamic prices, telemetry for the engine kind, and secrets from the environment only', () => {
    const fixed = providerOptions(resolveSettings([...base, '--price', 'fixed:1000,2000'], {}), { ROUTSTR_KIT_ADMIN_TOKEN: 'adm', ROUTSTR_KIT_NSEC: 'a'.repeat(64) });
    expect(fixed).toMatchObject({ engine: 'vllm', price: { prompt: 1000, completion: 2000 }, adminToken: 'adm', nsec: 'a'.repeat(64) });
    expect(fixed.telemetry).toEqual({ vllmMetricsUrl: 'http://127.0.0.1:9/metrics' });
    const dynamic = providerOptions(
      resolveSettings([...base, '--price', 'dynamic', '--electricity', '100000', '--tokens-per-second', '50', '--margin', '1000', '--power', '300', '--nvidia-smi'], {}),
      {},
    );
    expect(dynamic.pricing).toEqual({ mode: 'dynamic', electricityMsatPerKwh: 100000, tokensPerSecond: 50, margin: 1000, powerWatts: 300 });
    expect(dynamic.telemetry).toMatchObject({ nvidiaSmi: 'nvidia-smi' });
  });

  it('layers file < environment < flags', () => {
    const dir = mkdtempSync(join(tmpdir(), 'provider-config-'));
    const file = join(dir, 'provider.json');
    writeFileSync(file, JSON.stringify({ engine: 'ollama', upstream: 'http://127.0.0.1:7', mint: ['http://file-mint'], name: 'from-file', price: 'fixed:1,2' }));
    const settings = resolveSettings(['--config', file, '--name', 'from-flag'], { ROUTSTR_KIT_MINT: 'http://env-mint-a,http://env-mint-b' });
    const options = providerOptions(settings, {});
    expect(options).toMatchObject({ engine: 'ollama', name: 'from-flag', mints: ['http://env-mint-a', 'http://env-mint-b'], price: { prompt: 1, completion: 2 } });
    expect(options.telemetry).toEqual({ ollamaUrl: 'http://127.0.0.1:7' });
  });

  it('refuses incomplete or malformed settings with a clear error', () => {
    const cases: [string[], RegExp][] = [
      [['--upstream', 'http://x', '--mint', 'http://m'], /--engine must be one of/],
      [['--engine', 'vllm', '--mint', 'http://m'], /exactly one of --upstream/],
      [['--engine', 'vllm', '--upstream', 'http://x', '--model', 'a.gguf', '--mint', 'http://m'], /exactly one of --upstream/],
      [['--engine', 'vllm', '--upstream', 'http://x'], /at least one --mint/],
      [[...base, '--price', 'fixed:1.5,2'], /--price must be fixed/],
      [[...base, '--price', 'dynamic', '--electricity', '1'], /needs --tokens-per-second/],
      [[...base, '--max-concurrency=-1'], /non-negative number/],
      [[...base, '--queue', '-1'], /queue/],
      [['--engine', 'vllm', '--upstream', 'not a url', '--mint', 'http://m'], /not a URL/],
    ];
    for (const [argv, message] of cases) {
      expect(() => providerOptions(resolveSettings(argv, {}), {}), argv.join(' ')).toThrow(ProviderConfigError);
      expect(() => providerOptions(resolveSettings(argv, {}), {})).toThrow(message);
    }
    expect(() => resolveSettings(['--bogus'], {})).toThrow(/bogus/);
  });
});

describe('routstr-kit provider (spawned)', () => {
  let relay: RunningRelay;
  let mint: RunningMint;
  beforeAll(async () => {
    [relay, mint] = await Promise.all([startRelay(), startMint()]);
  });
  afterAll(async () => {
    await Promise.all([relay.stop(), mint.stop()]);
  });

  it('sells a GGUF model: serves /v1/info and priced /v1/models, announces with asks, never prints secrets, stops on SIGTERM', async () => {
    const model = await ensureTinyModel();
    const secretKey = generateSecretKey();
    const nsec = Buffer.from(secretKey).toString('hex');
    const adminToken = 'admin-secret-' + Buffer.from(generateSecretKey()).toString('hex');
    const dataDir = mkdtempSync(join(tmpdir(), 'provider-cli-'));
    const child = spawn(
      process.execPath,
      [bin, 'provider', '--engine', 'vllm', '--model', model, '--mint', mint.url, '--relay', relay.url, '--price', 'fixed:1500000,3000000', '--data-dir', dataDir, '--json'],
      { env: { ...process.env, ROUTSTR_KIT_NSEC: nsec, ROUTSTR_KIT_ADMIN_TOKEN: adminToken }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (d) => (output += String(d)));
    child.stderr.on('data', (d) => (output += String(d)));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout }).once('line', resolve);
      void exited.then((code) => reject(new Error(`provider exited with ${code}: ${output}`)));
    });
    const started = JSON.parse(line) as { url: string; pubkey: string; models: { model: string; prompt: number; completion: number }[] };
    expect(started.pubkey).toBe(getPublicKey(secretKey));
    expect(started.models[0]).toMatchObject({ prompt: 1500000, completion: 3000000 });

    const info = (await (await fetch(`${started.url}/v1/info`)).json()) as { mints: string[]; npub: string };
    expect(info.mints).toEqual([mint.url]);
    const models = (await (await fetch(`${started.url}/v1/models`)).json()) as { data: { id: string; sats_pricing: { prompt: number; completion: number } }[] };
    expect(models.data[0]!.sats_pricing).toMatchObject({ prompt: 0.0015, completion: 0.003 });

    const pool = new SimplePool();
    const events = await pool.querySync([relay.url], { kinds: [38421], authors: [started.pubkey] });
    pool.destroy();
    const announcement = parseAnnouncement(events[0]);
    expect(announcement.mints).toEqual(info.mints);
    expect(announcement.asks).toEqual([{ model: started.models[0]!.model, prompt: 1500000, completion: 3000000 }]);

    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(output).not.toContain(adminToken);
    expect(output).not.toContain(nsec);
  });
});
