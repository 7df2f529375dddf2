// `routstr-kit market serve` as a function: settings from flags, environment and defaults (core's
// config contract), the printed URL, a clean stop with exit 0, and exit 2 on a bad setting.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { MARKET_SERVE_USAGE, marketServeOptions, runMarketServe, type ModelsResponse } from '../src/index.ts';

const home = mkdtempSync(join(tmpdir(), 'market-serve-cmd-'));
afterAll(() => rmSync(home, { recursive: true, force: true }));

function capture(): { io: { stdout: { write(t: string): boolean }; stderr: { write(t: string): boolean } }; out: string[]; err: string[]; line: Promise<string> } {
  const out: string[] = [];
  const err: string[] = [];
  let first: (line: string) => void = () => undefined;
  const line = new Promise<string>((resolve) => (first = resolve));
  return {
    out,
    err,
    line,
    io: {
      stdout: { write: (t) => (out.push(t), first(t), true) },
      stderr: { write: (t) => (err.push(t), true) },
    },
  };
}

it('resolves flags over the environment over defaults', () => {
  const defaults = marketServeOptions([], { HOME: home });
  expect(defaults.options).toMatchObject({ store: join(home, '.routstr-kit', 'market.db'), host: '127.0.0.1', port: 8421, providerAddresses: 'public' });
  const fromEnv = marketServeOptions([], { HOME: home, ROUTSTR_KIT_MARKET_STORE: 'postgres://u:secret@db.example/market', ROUTSTR_KIT_MARKET_PORT: '9000' });
  expect(fromEnv.options).toMatchObject({ store: 'postgres://u:secret@db.example/market', port: 9000 });
  const flags = marketServeOptions(['--port', '0', '--provider-addresses', 'loopback', '--relay', 'ws://127.0.0.1:9'], { HOME: home, ROUTSTR_KIT_MARKET_PORT: '9000' });
  expect(flags.options).toMatchObject({ port: 0, providerAddresses: 'loopback', relays: ['ws://127.0.0.1:9'] });
});

it('prints the URL, serves the API until stopped, and exits 0', async () => {
  const { io, line, err } = capture();
  let stop: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  const store = join(home, 'data', 'market.db');
  const code = runMarketServe(['--relay', 'ws://127.0.0.1:9', '--store', store, '--port', '0', '--json'], { HOME: home }, { ...io, stop: stopped });
  const printed = JSON.parse(await line) as { url: string; store: string };
  expect(printed.store).toBe(store);
  const res = await fetch(`${printed.url}/api/models`);
  expect(res.status).toBe(200);
  expect(((await res.json()) as ModelsResponse).models).toEqual([]);
  stop();
  expect(await code).toBe(0);
  expect(existsSync(store)).toBe(true);
  expect(err).toEqual([]);
  await expect(fetch(`${printed.url}/api/models`)).rejects.toThrow();
});

it('exits 2 naming the setting when a value does not fit, and 0 with the usage for --help', async () => {
  const bad = capture();
  expect(await runMarketServe(['--port', 'seventy'], { HOME: home }, bad.io)).toBe(2);
  expect(bad.err.join('')).toContain('market.port');
  const help = capture();
  expect(await runMarketServe(['--help'], { HOME: home }, help.io)).toBe(0);
  expect(help.out.join('')).toBe(MARKET_SERVE_USAGE);
});
