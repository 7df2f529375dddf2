import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { SimplePool, useWebSocketImplementation } from 'nostr-tools/pool';
import { generateSecretKey, getPublicKey } from 'nostr-tools';

import { ConfigError, parseAnnouncement } from '@routstr-kit/core';
import { ensureTinyModel, startMint, startRelay, type RunningMint, type RunningRelay } from '@routstr-kit/devnet';
import { providerOptions, resolveProviderSettings } from '../src/provider-command.ts';

useWebSocketImplementation(WebSocket);
const bin = fileURLToPath(new URL('../src/bin.ts', import.meta.url));

const HOME = mkdtempSync(join(tmpdir(), 'provider-home-'));
const options = (argv: string[], env: Record<string, string> = {}) => providerOptions(resolveProviderSettings(argv, { HOME, ...env }));

describe('provider configuration', () => {
  const base = ['--engine', 'vllm', '--upstream', 'http://127.0.0.1:9', '--mint', 'http://127.0.0.1:8'];

  it('reads fixed and dynamic prices, GPU telemetry, and secrets from the environment only', () => {
    const fixed = options([...base, '--price', 'fixed:1000,2000'], { ROUTSTR_KIT_ADMIN_TOKEN: 'adm', ROUTSTR_KIT_NSEC: 'a'.repeat(64) });
    expect(fixed).toMatchObject({ engine: 'vllm', price: { prompt: 1000, completion: 2000 }, adminToken: 'adm', nsec: 'a'.repeat(64) });
    expect(fixed.upstream).toEqual(['http://127.0.0.1:9']);
    // the engines' own telemetry follows from engine and upstream inside startProvider
    expect(fixed.telemetry).toBeUndefined();
    const dynamic = options([...base, '--price', 'dynamic', '--electricity', '100000', '--tokens-per-second', '50', '--margin', '1000', '--power', '300', '--nvidia-smi']);
    expect(dynamic.pricing).toEqual({ mode: 'dynamic', electricityMsatPerKwh: 100000, tokensPerSecond: 50, margin: 1000, powerWatts: 300 });
    expect(dynamic.telemetry).toEqual({ nvidiaSmi: 'nvidia-smi' });
  });

  it('takes several engine replicas: --upstream repeated, a list in the file, comma-separated in the environment', () => {
    const flags = options(['--engine', 'vllm', '--upstream', 'http://127.0.0.1:9', '--upstream', 'http://127.0.0.1:10', '--mint', 'http://127.0.0.1:8']);
    expect(flags.upstream).toEqual(['http://127.0.0.1:9', 'http://127.0.0.1:10']);
    const env = options(['--engine', 'vllm', '--mint', 'http://127.0.0.1:8'], { ROUTSTR_KIT_PROVIDER_UPSTREAM: 'http://a:1, http://b:2' });
    expect(env.upstream).toEqual(['http://a:1', 'http://b:2']);
    const file = join(HOME, 'replicas.json');
    writeFileSync(file, JSON.stringify({ mints: ['http://m'], provider: { engine: 'vllm', upstream: ['http://a:1', 'http://b:2'] } }));
    expect(options(['--config', file]).upstream).toEqual(['http://a:1', 'http://b:2']);
    // a config file written for one engine (a single URL, as before replicas) still reads, as a list of one
    writeFileSync(file, JSON.stringify({ mints: ['http://m'], provider: { engine: 'vllm', upstream: 'http://a:1' } }));
    expect(options(['--config', file]).upstream).toEqual(['http://a:1']);
    writeFileSync(file, JSON.stringify({ mints: ['http://m'], provider: { engine: 'vllm', upstream: ['ftp://a:1'] } }));
    expect(() => options(['--config', file])).toThrow(/"provider.upstream" from .*replicas.json.*expected http:\/\/ or https:\/\/ URLs/);
  });

  it('layers file < environment < flags, under the kit-wide names (ROUTSTR_KIT_MINTS, ROUTSTR_KIT_RELAYS)', () => {
    const file = join(HOME, 'provider.json');
    writeFileSync(file, JSON.stringify({ mints: ['http://file-mint'], relays: ['ws://file-relay'], provider: { engine: 'ollama', upstream: ['http://127.0.0.1:7'], name: 'from-file', price: 'fixed:1,2' } }));
    const o = options(['--config', file, '--name', 'from-flag'], { ROUTSTR_KIT_MINTS: 'http://env-mint-a,http://env-mint-b' });
    expect(o).toMatchObject({ engine: 'ollama', name: 'from-flag', mints: ['http://env-mint-a', 'http://env-mint-b'], relays: ['ws://file-relay'], price: { prompt: 1, completion: 2 } });
    expect(o.upstream).toEqual(['http://127.0.0.1:7']);
  });

  it('takes the shared database from --database, ROUTSTR_KIT_PROVIDER_DATABASE or the file, and never shows its password in an error', () => {
    expect(options([...base, '--database', 'postgres://routstr@db.internal:5432/provider']).database).toBe('postgres://routstr@db.internal:5432/provider');
    expect(options(base, { ROUTSTR_KIT_PROVIDER_DATABASE: 'postgresql://db/p' }).database).toBe('postgresql://db/p');
    const file = join(HOME, 'database.json');
    writeFileSync(file, JSON.stringify({ mints: ['http://m'], provider: { engine: 'vllm', upstream: ['http://a:1'], database: 'postgres://db/p' } }));
    expect(options(['--config', file]).database).toBe('postgres://db/p');
    expect(options(base).database).toBeUndefined(); // SQLite files in the data dir
    const refused = (argv: string[], env: Record<string, string> = {}): string => {
      try {
        options(argv, env);
      } catch (error) {
        if (error instanceof ConfigError) return error.message;
        throw error;
      }
      throw new Error('accepted');
    };
    expect(refused([...base, '--database', 'mysql://u:hunter2@db/p'])).toMatch(/"provider.database" from flag --database: got "mysql:\/\/u:\*\*\*@db\/p"; expected a postgres:\/\//);
    expect(refused(base, { ROUTSTR_KIT_PROVIDER_DATABASE: 'postgres://u:hunter2@db' })).not.toContain('hunter2'); // no database name
    writeFileSync(file, JSON.stringify({ mints: ['http://m'], provider: { engine: 'vllm', upstream: ['http://a:1'], database: 'postgres://u:hunter2@db' } }));
    expect(refused(['--config', file])).toMatch(/"provider.database" from config file .*got "postgres:\/\/u:\*\*\*@db"/);
  });

  it('refuses incomplete or malformed settings with a ConfigError naming the setting and its source', () => {
    const cases: [string[], Record<string, string>, RegExp][] = [
      [['--upstream', 'http://x'], {}, /"provider.engine": not set .*expected one of vllm, ollama, openai, llama.cpp/],
      [['--engine', 'vllm'], {}, /exactly one of --upstream/],
      [['--engine', 'vllm', '--upstream', 'http://x', '--model', 'a.gguf'], {}, /exactly one of --upstream/],
      [[...base, '--price', 'fixed:1.5,2'], {}, /"provider.price" from flag --price: got "fixed:1.5,2"; expected fixed:<prompt>,<completion>/],
      [[...base, '--price', 'dynamic', '--electricity', '1'], {}, /"provider.tokensPerSecond": --price dynamic needs it/],
      [[...base, '--max-concurrency=-1'], {}, /"provider.maxConcurrency" from flag --max-concurrency/],
      [[...base, '--queue', '-1'], {}, /"provider.queue" from flag --queue: got "-1"/],
      [['--engine', 'vllm', '--upstream', 'not a url'], {}, /"provider.upstream" from flag --upstream/],
      [base, { ROUTSTR_KIT_PROVIDER_PORT: 'eighty' }, /"provider.port" from environment variable ROUTSTR_KIT_PROVIDER_PORT: got "eighty"/],
      [base, { ROUTSTR_KIT_RELAYS: 'https://relay' }, /"relays" from environment variable ROUTSTR_KIT_RELAYS/],
      [['--bogus'], {}, /bogus/],
    ];
    for (const [argv, env, message] of cases) {
      expect(() => options(argv, env), argv.join(' ')).toThrow(ConfigError);
      expect(() => options(argv, env), argv.join(' ')).toThrow(message);
    }
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

  it('exits 1 naming the database (not its password) when --database does not answer, and leaves no engine running', async () => {
    const model = await ensureTinyModel();
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const dataDir = mkdtempSync(join(tmpdir(), 'provider-cli-'));
    const child = spawn(
      process.execPath,
      [bin, 'provider', '--engine', 'vllm', '--model', model, '--mint', mint.url, '--relay', relay.url, '--data-dir', dataDir, '--database', `postgres://routstr:hunter2@127.0.0.1:${port}/provider`],
      { env: { ...process.env, ROUTSTR_KIT_NSEC: Buffer.from(generateSecretKey()).toString('hex') }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (d) => (output += String(d)));
    child.stderr.on('data', (d) => (output += String(d)));
    // the process ends by itself: the engine it started for --model was stopped (a running one would hold it open)
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(1);
    expect(output).toContain(`cannot reach the database postgres://routstr:***@127.0.0.1:${port}/provider`);
    expect(output).not.toContain('hunter2');
    expect(output).not.toContain('is selling');
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
