// Issue 14's acceptance, from the outside: every public package is built, packed with pnpm and installed
// with npm from its tarball into a fresh project outside the workspace (third-party dependencies from the
// registry), then used the way a user would, on Node 24 and on the lowest Node the packages declare.
// Two npm projects: the consumer (adapters, MCP server, CLI: what must not pull node-llama-cpp or the
// devnet) and a separate one holding the packed devnet for the market the consumer buys from.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startPostgresCluster } from '@routstr-kit/devnet/postgres';
import { buildAndPack, llamaBinaryPackage, lowestSupportedNode, nodeFromRegistry, npmInstall, ROOT, tarballDeps, workspaceVersion, type Tarballs } from './packing.ts';
import { envFor, lastJson, runToEnd, startServer, type ScriptResult, type Server } from './processes.ts';

const CONSUMER_PACKAGES = ['@routstr-kit/core', '@routstr-kit/ai-sdk', '@routstr-kit/langchain', '@routstr-kit/mcp', '@routstr-kit/provider', '@routstr-kit/cli'];
// The CLI is installed here too, beside llama-engine, to sell a local GGUF with `provider --model`.
// …and beside market-data, for `market serve` (an optional package of the CLI, like llama-engine).
const DEVNET_PACKAGES = ['@routstr-kit/core', '@routstr-kit/llama-engine', '@routstr-kit/devnet', '@routstr-kit/provider', '@routstr-kit/mcp', '@routstr-kit/market-data', '@routstr-kit/cli'];
const PRICE = 'fixed:1000000,2000000';
const FUNDED_SAT = 300;

interface DevnetReady { relayUrl: string; mintUrl: string; engines: Record<string, string>; tinyModel: string }
interface ProviderReady { url: string; models: { model: string }[] }
interface Answer { text: unknown; receipt: { paidSat: number; changeSat: number; changePending: boolean; provider: { id: string }; verification: { verdict: string } } | null }

const node24 = process.execPath;
let work: string;
let tarballs: Tarballs;
let consumer: string;
let devnetSide: string;
let node22: string;
let devnet: Server<DevnetReady>;
let provider: Server<ProviderReady>;
let model: string;
/** What the scripts of the consumer pass to createRoutstr / ChatRoutstr. */
let settings: Record<string, unknown>;
let funded: ScriptResult;
/** The buyers' wallet settings as ROUTSTR_KIT_* variables, for the installed commands. */
const walletEnv = (): Record<string, string> => ({ ROUTSTR_KIT_WALLET: String(settings['walletPath']), ROUTSTR_KIT_MINTS: devnet.ready.mintUrl, ROUTSTR_KIT_RELAYS: devnet.ready.relayUrl });
/** Every receipt the scripts got back, for the conservation check. */
const receipts: NonNullable<Answer['receipt']>[] = [];

const bin = (name: string): string => join(consumer, 'node_modules', '.bin', name);

type Settled = Promise<{ ok: true } | { ok: false; error: unknown }>;
/** A check started early whose outcome a test reads later (no unhandled rejection meanwhile). */
const settle = (p: Promise<void>): Settled => p.then(() => ({ ok: true as const }), (error: unknown) => ({ ok: false as const, error }));
let staticChecks: Record<'lint' | 'nodenext' | 'bundler', Settled>;
const expectPassed = async (check: Settled): Promise<void> => {
  const outcome = await check;
  if (!outcome.ok) throw outcome.error;
};

/** publint and arethetypeswrong (ESM-only profile) on every tarball; throws with their output on an error. */
async function lintTarballs(): Promise<void> {
  for (const [name, tarball] of Object.entries(tarballs)) {
    const publint = await runToEnd(join(ROOT, 'node_modules/.bin/publint'), ['run', tarball, '--level', 'error'], { cwd: work, env: envFor(node24) });
    if (publint.code !== 0) throw new Error(`publint ${name}:\n${publint.stdout}${publint.stderr}`);
    const attw = await runToEnd(join(ROOT, 'node_modules/.bin/attw'), [tarball, '--profile', 'esm-only', '--format', 'table-flipped'], { cwd: work, env: envFor(node24) });
    if (attw.code !== 0) throw new Error(`attw ${name}:\n${attw.stdout}${attw.stderr}`);
  }
}

/** `tsc --noEmit` of consumer/types.ts under the given tsconfig.<resolution>.json. */
async function typeCheck(resolution: 'nodenext' | 'bundler'): Promise<void> {
  const tsc = await runToEnd(node24, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', `tsconfig.${resolution}.json`], { cwd: consumer, env: envFor(node24), timeoutMs: 400_000 });
  if (tsc.code !== 0) throw new Error(`tsc (${resolution}) exit ${tsc.code}:\n${tsc.stdout}${tsc.stderr}`);
}

/** Starts the devnet from the packed @routstr-kit/devnet installed in its own folder. */
async function startPackedDevnet(): Promise<void> {
  writeFileSync(
    join(devnetSide, 'devnet.mjs'),
    [
      "import { ensureTinyModel, startDevnet } from '@routstr-kit/devnet';",
      "const devnet = await startDevnet({ engines: { llama: { flavour: 'vllm' } } });",
      'console.log(JSON.stringify({ relayUrl: devnet.relayUrl, mintUrl: devnet.mintUrl, engines: devnet.engines, tinyModel: await ensureTinyModel() }));',
      "process.once('SIGTERM', () => void devnet.stop().then(() => process.exit(0)));",
    ].join('\n'),
  );
  devnet = await startServer<DevnetReady>(node24, ['devnet.mjs'], { cwd: devnetSide, env: envFor(node24) });
}

beforeAll(async () => {
  expect(Number(process.versions.node.split('.')[0])).toBeGreaterThanOrEqual(24);
  work = mkdtempSync(join(tmpdir(), 'routstr-kit-packed-'));
  consumer = join(work, 'consumer');
  devnetSide = join(work, 'devnet');
  tarballs = await buildAndPack(join(work, 'tarballs'));
  const llamaVersion = workspaceVersion('packages/llama-engine', 'node-llama-cpp');
  // The three slow steps are independent: run them side by side.
  [, , node22] = await Promise.all([
    npmInstall(consumer, {
      ...tarballDeps(tarballs, CONSUMER_PACKAGES),
      ai: '^7.0.173',
      '@langchain/core': '^1.4.0',
      '@modelcontextprotocol/sdk': '^1.32.2',
      '@types/node': '^24.19.2',
      // @ai-sdk/provider's .d.ts imports 'json-schema' types without depending on them; the strict
      // (skipLibCheck: false) type-check below needs them, as it would in a user's project.
      '@types/json-schema': '^7.0.15',
    }),
    // Optional dependencies omitted (node-llama-cpp's CUDA/Vulkan builds are hundreds of MB): this
    // machine's CPU build is named instead. Users get node-llama-cpp's full optional set.
    npmInstall(devnetSide, { ...tarballDeps(tarballs, DEVNET_PACKAGES), 'node-llama-cpp': llamaVersion, [llamaBinaryPackage()]: llamaVersion }, { omitOptional: true }).then(startPackedDevnet),
    nodeFromRegistry(lowestSupportedNode()),
  ]);
  cpSync(new URL('./consumer/', import.meta.url), consumer, { recursive: true });
  // The checks that need no market run beside the ones that do (the tests below await them).
  staticChecks = {
    lint: settle(lintTarballs()),
    nodenext: settle(typeCheck('nodenext')),
    bundler: settle(typeCheck('bundler')),
  };
  const engine = devnet.ready.engines['llama'];
  if (!engine) throw new Error('the devnet has no engine');
  // The installed CLI sells the devnet's engine (acceptance 4): its /v1/models is checked below.
  provider = await startServer<ProviderReady>(
    bin('routstr-kit'),
    ['provider', '--engine', 'vllm', '--upstream', engine, '--mint', devnet.ready.mintUrl, '--relay', devnet.ready.relayUrl, '--price', PRICE, '--data-dir', join(work, 'provider-data'), '--json'],
    { cwd: consumer, env: envFor(node24) },
  );
  model = provider.ready.models[0]?.model ?? '';
  // the devnet's providers live on loopback, which the market refuses unless told (the devnet setting)
  settings = { walletPath: join(work, 'buyer-wallet.db'), relays: [devnet.ready.relayUrl], mints: [devnet.ready.mintUrl], providerAddresses: 'loopback' };
  writeFileSync(join(consumer, 'settings.json'), JSON.stringify({ settings, model }));
  // The buyers' wallet is funded the way a user funds it: the installed `routstr-kit wallet fund`, on the
  // same wallet file and mint the scripts below pay from (acceptance 4).
  funded = await runToEnd(bin('routstr-kit'), ['wallet', 'fund', String(FUNDED_SAT), '--json'], { cwd: consumer, env: envFor(node24, walletEnv()) });
});

afterAll(async () => {
  await provider?.stop();
  await devnet?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('npm install of the packed adapters', () => {
  it('pulls no node-llama-cpp, no @nostr-relay/*, no devnet or llama-engine (npm ls of the whole tree)', async () => {
    const ls = await runToEnd('npm', ['ls', '--all', '--parseable'], { cwd: consumer, env: envFor(node24) });
    const installed = ls.stdout.split('\n').map((path) => path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length));
    expect(installed).toContain('@routstr-kit/ai-sdk');
    expect(installed.filter((name) => /^(node-llama-cpp|@node-llama-cpp\/|@nostr-relay\/|@routstr-kit\/(devnet|llama-engine)$)/.test(name))).toEqual([]);
  });
});

// Acceptance 2, once per supported floor and ceiling of Node.
describe.each([
  ['Node 24', () => node24],
  ['the lowest supported Node', () => node22],
])('adapters on %s', (_label, nodeOf) => {
  const expectPaidAnswer = (answer: Answer): void => {
    expect(typeof answer.text === 'string' && answer.text.length > 0, JSON.stringify(answer)).toBe(true);
    expect(answer.receipt?.paidSat).toBeGreaterThan(0);
    expect(answer.receipt?.verification.verdict).toBe('ok');
    expect(answer.receipt?.changePending).toBe(false);
    receipts.push(answer.receipt!);
  };

  it('ESM: createRoutstr + generateText gets an answer and a receipt', async () => {
    const r = await runToEnd(nodeOf(), ['generate-text.mjs'], { cwd: consumer, env: envFor(nodeOf()) });
    expect(r.code, r.stderr).toBe(0);
    expectPaidAnswer(lastJson<Answer>(r));
  });

  it('ESM: ChatRoutstr.invoke gets an answer and a receipt', async () => {
    const r = await runToEnd(nodeOf(), ['invoke.mjs'], { cwd: consumer, env: envFor(nodeOf()) });
    expect(r.code, r.stderr).toBe(0);
    expectPaidAnswer(lastJson<Answer>(r));
  });

  it('CommonJS: require("@routstr-kit/ai-sdk") works (unflagged require(esm)) and pays', async () => {
    const r = await runToEnd(nodeOf(), ['require.cjs'], { cwd: consumer, env: envFor(nodeOf()) });
    expect(r.code, r.stderr).toBe(0);
    expectPaidAnswer(lastJson<Answer>(r));
  });
});

describe('money', () => {
  it('the wallet holds what was funded minus what the receipts say was spent, to the sat', async () => {
    expect(receipts).toHaveLength(6);
    const r = await runToEnd(node24, ['balance.mjs'], { cwd: consumer, env: envFor(node24) });
    const { balance, fees } = lastJson<{ balance: number; fees: number }>(r);
    const spent = receipts.reduce((sum, receipt) => sum + receipt.paidSat - receipt.changeSat, 0);
    expect(balance + fees + spent).toBe(FUNDED_SAT);
  });
});

describe('the MCP server as MCP hosts start it', () => {
  const mcpReadme = (): string => readFileSync(join(ROOT, 'adapters/mcp/README.md'), 'utf8');
  // the devnet's provider is on loopback, which the market refuses unless told
  const network = (): string[] => ['--relay', devnet.ready.relayUrl, '--provider-addresses', 'loopback', '--mint', devnet.ready.mintUrl, '--wallet', join(work, 'mcp-wallet.db')];

  const listAndPrice = async (command: string, args: string[]): Promise<void> => {
    const r = await runToEnd(node24, ['mcp-client.mjs', JSON.stringify({ command, args, env: {}, model })], { cwd: consumer, env: envFor(node24) });
    expect(r.code, r.stderr).toBe(0);
    const result = lastJson<{ tools: string[]; price: { model: string; providers: number; price_msat: number } | null; isError: boolean }>(r);
    expect(result.tools).toEqual(expect.arrayContaining(['get_market_price', 'run_when_cheaper']));
    expect(result.isError).toBe(false);
    expect(result.price).toMatchObject({ model, providers: 1 });
    expect(result.price?.price_msat).toBeGreaterThan(0);
  };

  it('the installed routstr-kit-mcp bin, spawned by the MCP SDK client, lists the tools and answers get_market_price', async () => {
    await listAndPrice(bin('routstr-kit-mcp'), network());
  });

  it("the README's Claude Desktop block, as written (command and args), works after a plain install", async () => {
    const block = /```json\n([\s\S]*?)\n```/.exec(mcpReadme().slice(mcpReadme().indexOf('### Claude Desktop')))?.[1];
    const server = (JSON.parse(block ?? '{}') as { mcpServers: Record<string, { command: string; args: string[] }> }).mcpServers['routstr'];
    expect(server?.command).toBe('npx');
    // npx finds @routstr-kit/mcp installed in the consumer; the network flags point it at the devnet.
    await listAndPrice(server!.command, [...server!.args, ...network()]);
  });

  it("the README's Claude Code command, as written, works after a plain install", async () => {
    const line = /claude mcp add routstr -- (.+)/.exec(mcpReadme())?.[1];
    const [command, ...args] = (line ?? '').trim().split(/\s+/);
    expect(command).toBe('npx');
    await listAndPrice(command!, [...args, ...network()]);
  });
});

describe('the routstr-kit command (installed @routstr-kit/cli)', () => {
  it('routstr-kit provider serves /v1/models in front of the devnet engine', async () => {
    const models = (await (await fetch(`${provider.ready.url}/v1/models`)).json()) as { data: { id: string; sats_pricing: { prompt: number } }[] };
    expect(models.data.map((m) => m.id)).toContain(model);
    expect(models.data[0]?.sats_pricing.prompt).toBeGreaterThan(0);
  });

  it('routstr-kit provider --model x.gguf, with @routstr-kit/llama-engine installed beside the CLI, sells the file', async () => {
    const gguf = join(work, 'my-model.gguf');
    cpSync(devnet.ready.tinyModel, gguf);
    const selling = await startServer<ProviderReady>(
      join(devnetSide, 'node_modules', '.bin', 'routstr-kit'),
      ['provider', '--engine', 'llama.cpp', '--model', gguf, '--mint', devnet.ready.mintUrl, '--price', PRICE, '--data-dir', join(work, 'gguf-provider-data'), '--json'],
      { cwd: devnetSide, env: envFor(node24) },
    );
    try {
      const models = (await (await fetch(`${selling.ready.url}/v1/models`)).json()) as { data: { id: string }[] };
      expect(models.data.map((m) => m.id)).toEqual(['my-model']);
    } finally {
      expect(await selling.stop()).toBe(0);
    }
  });

  it('routstr-kit market, piped, prints the devnet model\'s best ask as a JSON line; SIGTERM exits 0', async () => {
    const watching = await startServer<{ type: string; id: string; providers: number; bestAsk: { typicalRequestMsat: number } | null }>(
      bin('routstr-kit'),
      ['market', '--relay', devnet.ready.relayUrl, '--provider-addresses', 'loopback'],
      { cwd: consumer, env: envFor(node24) },
    );
    try {
      expect(watching.ready).toMatchObject({ type: 'model', id: model });
    } finally {
      expect(await watching.stop()).toBe(0);
    }
  });

  it('routstr-kit market serve, with @routstr-kit/market-data installed beside the CLI, lists the devnet model and serves its page and chart library', async () => {
    const serving = await startServer<{ url: string }>(
      join(devnetSide, 'node_modules', '.bin', 'routstr-kit'),
      ['market', 'serve', '--port', '0', '--store', join(work, 'market.db'), '--relay', devnet.ready.relayUrl, '--provider-addresses', 'loopback', '--json'],
      { cwd: devnetSide, env: envFor(node24) },
    );
    try {
      await vi.waitFor(
        async () => {
          const body = (await (await fetch(`${serving.ready.url}/api/models`)).json()) as { models: { id: string; providers: number; bestAsk: { typicalRequestMsat: number } | null }[] };
          const entry = body.models.find((m) => m.id === model);
          expect(entry?.providers).toBe(1);
          expect(entry?.bestAsk?.typicalRequestMsat).toBeGreaterThan(0);
        },
        { timeout: 30_000, interval: 250 },
      );
      const page = await fetch(`${serving.ready.url}/`);
      expect(page.headers.get('content-type')).toMatch(/^text\/html/);
      expect(await page.text()).toMatch(/app\.js/);
      // uPlot is resolved from the installed package, not from a CDN
      const uplot = await fetch(`${serving.ready.url}/uplot.js`);
      expect(uplot.status).toBe(200);
      expect((await uplot.text()).length).toBeGreaterThan(10_000);
    } finally {
      expect(await serving.stop()).toBe(0);
    }
  });

  it('routstr-kit devnet up without @routstr-kit/devnet installed exits non-zero and says how to install it', async () => {
    const r = await runToEnd(bin('routstr-kit'), ['devnet', 'up'], { cwd: consumer, env: envFor(node24) });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/npm i @routstr-kit\/cli @routstr-kit\/devnet/);
  });

  it('routstr-kit wallet fund funded the wallet the scripts above pay from; wallet balance shows it', async () => {
    expect(funded.code, funded.stderr).toBe(0);
    expect(lastJson<{ funded_sat: number; balance_sat: number }>(funded)).toMatchObject({ funded_sat: FUNDED_SAT, balance_sat: FUNDED_SAT });
    const balance = await runToEnd(bin('routstr-kit'), ['wallet', 'balance', '--json'], { cwd: consumer, env: envFor(node24, walletEnv()) });
    expect(balance.code, balance.stderr).toBe(0);
    const paid = receipts.reduce((sum, r) => sum + r.paidSat - r.changeSat, 0);
    expect(paid).toBeGreaterThan(0);
    // the same file the adapters paid from: funded minus what they spent (fees are checked in 'money')
    expect(lastJson<{ balance_sat: number }>(balance).balance_sat).toBeLessThanOrEqual(FUNDED_SAT - paid);
  });

  // issue 19: the PostgreSQL store runs its pg client in a worker thread, a file of its own in the package
  it('routstr-kit wallet fund and balance on a postgres:// wallet (ROUTSTR_KIT_WALLET): the installed package starts its PostgreSQL worker from dist', async () => {
    const cluster = await startPostgresCluster();
    try {
      const env = envFor(node24, { ...walletEnv(), ROUTSTR_KIT_WALLET: await cluster.newDatabase('packed_wallet') });
      const fund = await runToEnd(bin('routstr-kit'), ['wallet', 'fund', '21', '--json'], { cwd: consumer, env });
      expect(fund.code, fund.stderr).toBe(0);
      expect(lastJson<{ funded_sat: number; balance_sat: number }>(fund)).toMatchObject({ funded_sat: 21, balance_sat: 21 });
      const balance = await runToEnd(bin('routstr-kit'), ['wallet', 'balance', '--json'], { cwd: consumer, env });
      expect(balance.code, balance.stderr).toBe(0);
      expect(lastJson<{ balance_sat: number }>(balance).balance_sat).toBe(21);
    } finally {
      await cluster.stop();
    }
  });

  it('each entry point started with ROUTSTR_KIT_MODE=fast fails with a message naming the setting and its source', async () => {
    const bad = envFor(node24, { ...walletEnv(), ROUTSTR_KIT_MODE: 'fast' });
    const engine = devnet.ready.engines['llama'] ?? '';
    const runs: [string, string, string[]][] = [
      ['routstr-kit wallet balance', bin('routstr-kit'), ['wallet', 'balance']],
      ['routstr-kit mcp', bin('routstr-kit'), ['mcp']],
      ['routstr-kit-mcp', bin('routstr-kit-mcp'), []],
      ['routstr-kit provider', bin('routstr-kit'), ['provider', '--engine', 'vllm', '--upstream', engine, '--price', PRICE, '--data-dir', join(work, 'bad-provider-data')]],
      ['createRoutstr', node24, ['bad-setting.mjs', 'ai-sdk']],
      ['ChatRoutstr', node24, ['bad-setting.mjs', 'langchain']],
    ];
    for (const [name, file, args] of runs) {
      const r = await runToEnd(file, args, { cwd: consumer, env: bad });
      expect(r.code, `${name} exit code`).not.toBe(0);
      expect(r.stderr, name).toMatch(/"mode" from environment variable ROUTSTR_KIT_MODE: got "fast"; expected one of xcashu, session/);
    }
  });
});

// Started in beforeAll, awaited last: they need no market and overlap with the tests that do.
describe('the packed tarballs and their types', () => {
  it('publint and arethetypeswrong report no error on any tarball', () => expectPassed(staticChecks.lint), 400_000);

  it('a consumer .ts using the public types type-checks with moduleResolution nodenext (skipLibCheck off)', () => expectPassed(staticChecks.nodenext), 400_000);

  it('a consumer .ts using the public types type-checks with moduleResolution bundler', () => expectPassed(staticChecks.bundler), 400_000);
});
