// `routstr-kit market` on the devnet (issue 18, acceptance 3): a fixed-price node and a node priced
// by its load. The live table runs under a real pseudo-terminal (tmux): the screen is read, a tick
// of the loaded dynamic node changes the table, Ctrl-C exits 0 and leaves the terminal as it was.
// Piped, the same command writes JSON lines, and `--model` the model's book with the tick's load.
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { priceForShape, type Market } from '@routstr-kit/core';
import type { RunningProvider } from '@routstr-kit/provider';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startPricedDevnet, type NodeSpec, type PricedDevnet } from '@routstr-kit/devnet/priced-nodes';
import { grouped } from '../src/market-screen.ts';
import { TYPICAL_SHAPE } from '../src/market-watch.ts';

const bin = fileURLToPath(new URL('../src/bin.ts', import.meta.url));
const WAIT = { timeout: 45_000, interval: 100 };

let net: PricedDevnet;
/** A market that has seen every node (provider ids come from it). */
let market: Market;
let home: string;
let env: Record<string, string>;
/** The dynamic node's ask when nothing is in flight. */
let idleAsk: { prompt: number; completion: number };
beforeAll(async () => {
  net = await startPricedDevnet();
  for (const spec of [
    { name: 'fixed', price: { prompt: 300_000_000, completion: 1_500_000_000 } },
    { name: 'dynamic', dynamic: { powerWatts: 100, electricityMsatPerKwh: 100_000, tokensPerSecond: 100, margin: 2_500_000_000, alpha: 1, maxStep: 1 } },
  ] satisfies NodeSpec[]) await net.startNode(spec);
  market = await net.openMarket();
  idleAsk = { ...dynamic().board.current().get(net.model)! };
  home = mkdtempSync(join(tmpdir(), 'market-cli-'));
  // HOME keeps the user's ~/.routstr-kit/config.json out; the devnet's nodes live on loopback
  env = { HOME: home, ROUTSTR_KIT_RELAYS: net.devnet.relayUrl, ROUTSTR_KIT_PROVIDER_ADDRESSES: 'loopback' };
});
afterAll(async () => {
  await net?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
});

const dynamic = (): RunningProvider => net.providers.get('dynamic') as RunningProvider;
const typicalSat = (p: { prompt: number; completion: number }): number => Math.ceil(priceForShape(p, TYPICAL_SHAPE) / 1000);
/** The best typical request (sat): the cheaper of the fixed ask and the dynamic node's current ask. */
function bestSat(): number {
  return Math.min(typicalSat({ prompt: 300_000_000, completion: 1_500_000_000 }), typicalSat(dynamic().board.current().get(net.model)!));
}
/** The median typical request (sat) of the fixed ask and the dynamic node's current ask, as the book computes it. */
function medianSat(): number {
  const fixed = priceForShape({ prompt: 300_000_000, completion: 1_500_000_000 }, TYPICAL_SHAPE);
  const dyn = dynamic().board.current().get(net.model)!;
  return Math.ceil(Math.floor((fixed + priceForShape(dyn, TYPICAL_SHAPE)) / 2) / 1000);
}

/** Samples the dynamic node until it is idle again (a cancelled stream ends at the engine a little later) and has ticked its idle price. */
async function settleIdle(): Promise<void> {
  await vi.waitFor(async () => {
    await dynamic().marketMaker?.sampleNow();
    expect(dynamic().board.current().get(net.model)).toMatchObject(idleAsk);
  }, WAIT);
}

/** Puts a paid stream in flight at the dynamic node and makes it sample: it ticks a higher price with its load. Returns the stream's end. */
async function loadDynamic(): Promise<() => Promise<void>> {
  const { wallet } = await net.newWallet(300, { name: `loader-${Date.now()}` });
  const token = (await wallet.send(200 as Parameters<typeof wallet.send>[0], { purpose: 'load test deposit' })).token;
  const res = await fetch(`${dynamic().url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ model: net.model, messages: [{ role: 'user', content: 'keep me busy' }], max_tokens: 100, stream: true }),
  });
  expect(res.status).toBe(200);
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  await reader.read(); // in flight now
  await dynamic().marketMaker?.sampleNow();
  return () => reader.cancel();
}

describe('routstr-kit market under a pseudo-terminal (tmux)', () => {
  const socket = (): string => join(home, 'tmux.sock');
  const tmux = (...args: string[]): string => execFileSync('tmux', ['-S', socket(), ...args], { encoding: 'utf8' });
  const screen = (): string => tmux('capture-pane', '-p', '-t', 'market');
  const rowOf = (text: string): string => text.split('\n').find((l) => l.startsWith(net.model.slice(0, 20))) ?? '';

  afterAll(() => {
    try {
      tmux('kill-server');
    } catch {
      // already gone
    }
  });

  it('shows the table, redraws it after the dynamic node ticks under load, and Ctrl-C exits 0 with the terminal restored', async () => {
    await settleIdle();
    const vars = Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]);
    // bash runs the command in the foreground and stays after it, so the pane's state after the
    // exit is still a live terminal's (tmux reports a dead pane's cursor as hidden)
    const command = `'${process.execPath}' '${bin}' market; echo "market exited with $?"; exec sleep 600`;
    tmux('-f', '/dev/null', 'new-session', '-d', '-s', 'market', '-x', '200', '-y', '50', ...vars, 'bash', '-c', command);

    // both nodes in the table: the best and the median typical request, 2 providers
    await vi.waitFor(() => {
      const row = rowOf(screen());
      expect(row).toContain(` ${grouped(bestSat())} `);
      expect(row).toContain(` ${grouped(medianSat())} `);
      expect(row).toMatch(/\s2\s+(\d+[smh]|-)\s/);
    }, WAIT);
    expect(screen()).toMatch(/routstr-kit market · 1 relay · 1 model · sorted by price/);
    expect(tmux('display', '-p', '-t', 'market', '#{alternate_on} #{cursor_flag}').trim()).toBe('1 0');
    const before = rowOf(screen());
    const idleMedian = medianSat();

    const endStream = await loadDynamic();
    const busyMedian = medianSat();
    expect(busyMedian).toBeGreaterThan(idleMedian);
    // the table follows the tick: the median typical request moves to the busy price, the tick's age shows
    await vi.waitFor(() => {
      const row = rowOf(screen());
      expect(row).not.toBe(before);
      expect(row).toContain(` ${grouped(busyMedian)} `);
      expect(row).toContain(` ${grouped(bestSat())} `);
      expect(row).toMatch(/\s2\s+\d+[smh]\s/);
    }, WAIT);
    await endStream();

    // a narrower terminal: lines are cut to its width, none wraps onto the next row
    tmux('resize-window', '-t', 'market', '-x', '90', '-y', '30');
    await vi.waitFor(() => {
      const lines = screen().split('\n');
      expect(lines[0]).toMatch(/^routstr-kit market · 1 relay/);
      expect(lines.find((l) => l.startsWith('PROMPT/COMPL'))).toHaveLength(90);
      expect(rowOf(lines.join('\n'))).toContain(` ${grouped(busyMedian)} `);
    }, WAIT);

    tmux('send-keys', '-t', 'market', 'C-c');
    await vi.waitFor(() => expect(screen()).toMatch(/market exited with \d+/), WAIT);
    expect(screen()).toContain('market exited with 0');
    // clean: the alternate screen is left, the cursor shows, the table is gone from the screen
    expect(tmux('display', '-p', '-t', 'market', '#{alternate_on} #{cursor_flag}').trim()).toBe('0 1');
    expect(screen()).not.toContain('routstr-kit market ·');
  }, 180_000);
});

describe('routstr-kit market piped', () => {
  const children: ChildProcessWithoutNullStreams[] = [];
  // a failed assertion must not leave a command running
  afterAll(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  });

  /** Spawns the command with pipes and collects its JSON lines. */
  function run(args: string[]): { child: ChildProcessWithoutNullStreams; lines: Record<string, unknown>[]; err: () => string; exit: Promise<number | null> } {
    const child = spawn(process.execPath, [bin, 'market', ...args], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    children.push(child);
    const lines: Record<string, unknown>[] = [];
    let buffered = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      buffered += d.toString();
      const parts = buffered.split('\n');
      buffered = parts.pop() ?? '';
      for (const p of parts) lines.push(JSON.parse(p) as Record<string, unknown>);
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exit = new Promise<number | null>((resolve) => child.on('close', resolve));
    return { child, lines, err: () => err, exit };
  }

  it('writes a JSON line per change: model entries, and with --model the book with each provider\'s load from its ticks', async () => {
    await settleIdle();
    const table = run([]);
    const book = run(['--model', net.model]);
    const modelLines = (): Array<{ id: string; providers: number; median: { typicalRequestSat: number } | null; bestAsk: { typicalRequestSat: number } | null }> =>
      table.lines.filter((l) => l['type'] === 'model') as never;
    type BookLine = { model: string; asks: Array<{ provider: string; source: string; load: number | null; typicalRequestSat: number; latencyMs: number | null; name: string }>; ticks: Array<{ provider: string; load: number | null }> };
    const bookLines = (): BookLine[] => book.lines.filter((l) => l['type'] === 'book') as never;

    await vi.waitFor(() => expect(modelLines().at(-1)).toMatchObject({ id: net.model, providers: 2, median: { typicalRequestSat: medianSat() } }), WAIT);
    await vi.waitFor(() => expect(bookLines().at(-1)?.asks.map((a) => a.name).sort()).toEqual(['dynamic', 'fixed']), WAIT);
    const seenBefore = modelLines().length;

    const endStream = await loadDynamic();
    const busy = medianSat();
    const dynId = net.idOf(market, 'dynamic');
    await vi.waitFor(() => expect(modelLines().at(-1)).toMatchObject({ id: net.model, providers: 2, median: { typicalRequestSat: busy } }), WAIT);
    expect(modelLines().length).toBeGreaterThan(seenBefore);
    await vi.waitFor(() => {
      const last = bookLines().at(-1)!;
      const ask = last.asks.find((a) => a.provider === dynId);
      expect(ask).toMatchObject({ source: 'tick', typicalRequestSat: typicalSat(dynamic().board.current().get(net.model)!) });
      expect(ask?.load).toBeGreaterThan(0);
      expect(last.ticks[0]).toMatchObject({ provider: dynId });
    }, WAIT);
    // the fixed node was probed: its latency is known
    expect(bookLines().at(-1)?.asks.find((a) => a.name === 'fixed')?.latencyMs).toEqual(expect.any(Number));
    await endStream();

    table.child.kill('SIGINT');
    book.child.kill('SIGINT');
    expect(await table.exit).toBe(0);
    expect(await book.exit).toBe(0);
    expect(table.err()).toBe('');
    expect(book.err()).toBe('');
  }, 180_000);

  it('market serve runs the market-data service over the same relays: its /api/models lists the devnet\'s model, SIGINT exits 0', async () => {
    const child = spawn(process.execPath, [bin, 'market', 'serve', '--port', '0', '--store', ':memory:', '--json'], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    children.push(child);
    const exit = new Promise<number | null>((resolve) => child.on('close', resolve));
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await vi.waitFor(() => expect(out).toMatch(/"url":"http:\/\/[^"]+"/), WAIT);
    const { url } = JSON.parse(out.split('\n')[0]!) as { url: string };
    await vi.waitFor(async () => {
      const body = (await (await fetch(`${url}/api/models`)).json()) as { models: Array<{ id: string; providers: number }> };
      expect(body.models).toContainEqual(expect.objectContaining({ id: net.model, providers: 2 }));
    }, WAIT);
    child.kill('SIGINT');
    expect(await exit).toBe(0);
  }, 180_000);

  it('refuses a bad --sort with a ConfigError and exit code 1, opening nothing', async () => {
    const bad = run(['--sort', 'cheapest']);
    expect(await bad.exit).toBe(1);
    expect(bad.err()).toMatch(/invalid setting "sort" from flag --sort: got "cheapest"; expected one of price, providers/);
    expect(bad.lines).toEqual([]);
  });
});
