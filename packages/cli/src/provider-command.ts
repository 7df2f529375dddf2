import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { EngineFlavour, RunningEngine } from '@routstr-kit/llama-engine';
import { parseSecretKey, startProvider, type StartProviderOptions } from '@routstr-kit/provider';
import { waitForShutdownSignal } from './shutdown-signal.ts';
import { loadLlamaEngine } from './optional-packages.ts';

const ENGINES = ['vllm', 'ollama', 'openai', 'llama.cpp'] as const;
type EngineKind = (typeof ENGINES)[number];

export const PROVIDER_USAGE = `usage: routstr-kit provider --engine <vllm|ollama|openai|llama.cpp> (--upstream <url> | --model <file.gguf>)
         --mint <url>... [--relay <url>...]
         [--price fixed:<prompt>,<completion>]            limit sell, msat per million tokens
         [--price dynamic --electricity <msat/kWh> --tokens-per-second <n> --margin <msat/Mtok>
            [--power <W>] [--pue <x>] [--floor <msat/Mtok>] [--max <msat/Mtok>] [--nvidia-smi [<binary>]]]
         [--data-dir <dir>] [--host <ip>] [--port <n>] [--public-url <url>] [--name <s>] [--about <s>]
         [--max-concurrency <n>] [--queue <n>] [--config <file.json>] [--json]
Secrets come from the environment only and are never printed:
  ROUTSTR_KIT_NSEC (announcement key), ROUTSTR_KIT_ADMIN_TOKEN (admin API), ROUTSTR_KIT_MNEMONIC (wallet seed),
  ROUTSTR_KIT_UPSTREAM_API_KEY (the engine's key).
Every flag can also be set in the --config JSON file (same names, e.g. {"mint": ["…"], "price": "fixed:1000,2000"})
or as ROUTSTR_KIT_<FLAG> (e.g. ROUTSTR_KIT_MINT=url1,url2). Flags win over the environment, which wins over the file.
`;

const OPTIONS = {
  engine: { type: 'string' },
  upstream: { type: 'string' },
  model: { type: 'string' },
  mint: { type: 'string', multiple: true },
  relay: { type: 'string', multiple: true },
  price: { type: 'string' },
  electricity: { type: 'string' },
  'tokens-per-second': { type: 'string' },
  margin: { type: 'string' },
  power: { type: 'string' },
  pue: { type: 'string' },
  floor: { type: 'string' },
  max: { type: 'string' },
  'nvidia-smi': { type: 'string' },
  'data-dir': { type: 'string' },
  host: { type: 'string' },
  port: { type: 'string' },
  'public-url': { type: 'string' },
  name: { type: 'string' },
  about: { type: 'string' },
  'max-concurrency': { type: 'string' },
  queue: { type: 'string' },
  config: { type: 'string' },
  json: { type: 'boolean' },
} as const;

type Settings = Partial<Record<keyof typeof OPTIONS, string | string[] | boolean>>;

export class ProviderConfigError extends Error {
  readonly code = 'invalid_provider_config';
  constructor(message: string) {
    super(message);
    this.name = 'ProviderConfigError';
  }
}

/** Merges the config file, ROUTSTR_KIT_* variables and flags (flags win). */
export function resolveSettings(argv: string[], env: NodeJS.ProcessEnv): Settings {
  // `--nvidia-smi` may stand alone: give it the default binary.
  const args = argv.flatMap((a, i) => (a === '--nvidia-smi' && (argv[i + 1] === undefined || argv[i + 1]!.startsWith('--')) ? [a, 'nvidia-smi'] : [a]));
  let values: Settings;
  try {
    values = parseArgs({ args, options: OPTIONS, allowPositionals: false, strict: true }).values as Settings;
  } catch (error) {
    throw new ProviderConfigError((error as Error).message);
  }
  const fromFile: Settings = {};
  const configPath = (values.config as string | undefined) ?? env['ROUTSTR_KIT_CONFIG'];
  if (configPath) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(configPath, 'utf8'));
    } catch (error) {
      // V8's JSON errors quote the file's text around the fault, which could be a secret pasted there: only its place is told
      const where = /position \d+(?: \(line \d+ column \d+\))?/.exec((error as Error).message)?.[0];
      const why = error instanceof SyntaxError ? `not valid JSON${where ? ` (${where})` : ''}` : (error as Error).message;
      throw new ProviderConfigError(`cannot read config file ${configPath}: ${why}`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ProviderConfigError(`config file ${configPath} must hold a JSON object`);
    for (const [key, value] of Object.entries(parsed)) {
      if (!(key in OPTIONS)) throw new ProviderConfigError(`config file ${configPath}: unknown setting "${key}"`);
      fromFile[key as keyof Settings] = Array.isArray(value) ? value.map(String) : typeof value === 'boolean' ? value : String(value);
    }
  }
  const fromEnv: Settings = {};
  for (const [key, spec] of Object.entries(OPTIONS)) {
    const value = env[`ROUTSTR_KIT_${key.toUpperCase().replaceAll('-', '_')}`];
    if (value === undefined || key === 'config') continue;
    fromEnv[key as keyof Settings] = 'multiple' in spec && spec.multiple ? value.split(',').map((v) => v.trim()).filter(Boolean) : value;
  }
  return { ...fromFile, ...fromEnv, ...values };
}

function num(settings: Settings, key: keyof Settings, fallback?: number): number | undefined {
  const raw = settings[key];
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(value) || value < 0) {
    throw new ProviderConfigError(`--${key} must be a non-negative number, got "${String(raw)}"`);
  }
  return value;
}

function list(settings: Settings, key: keyof Settings): string[] {
  const raw = settings[key];
  return raw === undefined ? [] : Array.isArray(raw) ? raw : [String(raw)];
}

/** The nsec from the environment, checked here so a mistyped one is a configuration error that never shows the value. */
function checkedNsec(value: string): string {
  try {
    parseSecretKey(value, 'ROUTSTR_KIT_NSEC');
  } catch (error) {
    throw new ProviderConfigError((error as Error).message);
  }
  return value;
}

/** Turns merged settings into startProvider options (minus the upstream when --model starts an engine). */
export function providerOptions(settings: Settings, env: NodeJS.ProcessEnv): Omit<StartProviderOptions, 'upstream'> & { upstream?: string; modelPath?: string } {
  const engine = settings.engine as EngineKind | undefined;
  if (!engine || !ENGINES.includes(engine)) throw new ProviderConfigError(`--engine must be one of ${ENGINES.join(', ')}`);
  const upstream = settings.upstream as string | undefined;
  const modelPath = settings.model as string | undefined;
  if (!upstream === !modelPath) throw new ProviderConfigError('give exactly one of --upstream <url> (a running engine) or --model <file.gguf> (start one here)');
  const mints = list(settings, 'mint');
  if (mints.length === 0) throw new ProviderConfigError('at least one --mint <url> is needed: tokens from other mints are refused');
  for (const url of [...mints, ...list(settings, 'relay'), ...(upstream ? [upstream] : [])]) {
    try {
      new URL(url);
    } catch {
      throw new ProviderConfigError(`not a URL: "${url}"`);
    }
  }
  const options: ReturnType<typeof providerOptions> = {
    engine,
    ...(upstream ? { upstream } : {}),
    ...(modelPath ? { modelPath: resolve(modelPath) } : {}),
    mints,
    relays: list(settings, 'relay'),
    dataDir: resolve((settings['data-dir'] as string | undefined) ?? join(homedir(), '.routstr-kit', 'provider')),
    ...(settings.host ? { host: String(settings.host) } : {}),
    ...(settings.port !== undefined ? { port: num(settings, 'port')! } : {}),
    ...(settings['public-url'] ? { publicUrl: String(settings['public-url']) } : {}),
    ...(settings.name ? { name: String(settings.name) } : {}),
    ...(settings.about ? { about: String(settings.about) } : {}),
    ...(settings['max-concurrency'] !== undefined ? { maxConcurrency: num(settings, 'max-concurrency')! } : {}),
    ...(settings.queue !== undefined ? { queueSize: num(settings, 'queue')! } : {}),
    ...(env['ROUTSTR_KIT_NSEC'] ? { nsec: checkedNsec(env['ROUTSTR_KIT_NSEC']) } : {}),
    ...(env['ROUTSTR_KIT_ADMIN_TOKEN'] ? { adminToken: env['ROUTSTR_KIT_ADMIN_TOKEN'] } : {}),
    ...(env['ROUTSTR_KIT_MNEMONIC'] ? { mnemonic: env['ROUTSTR_KIT_MNEMONIC'] } : {}),
    ...(env['ROUTSTR_KIT_UPSTREAM_API_KEY'] ? { upstreamApiKey: env['ROUTSTR_KIT_UPSTREAM_API_KEY'] } : {}),
  };
  const price = String(settings.price ?? 'fixed:1000000,2000000');
  const fixed = /^fixed:(\d+),(\d+)$/.exec(price);
  if (fixed) {
    options.price = { prompt: Number(fixed[1]), completion: Number(fixed[2]) };
  } else if (price === 'dynamic') {
    const need = (key: keyof Settings): number => {
      const value = num(settings, key);
      if (value === undefined) throw new ProviderConfigError(`--price dynamic needs --${key}`);
      return value;
    };
    options.pricing = {
      mode: 'dynamic',
      electricityMsatPerKwh: need('electricity'),
      tokensPerSecond: need('tokens-per-second'),
      margin: need('margin'),
      ...(settings.power !== undefined ? { powerWatts: num(settings, 'power')! } : {}),
      ...(settings.pue !== undefined ? { pue: num(settings, 'pue')! } : {}),
      ...(settings.floor !== undefined ? { floor: num(settings, 'floor')! } : {}),
      ...(settings.max !== undefined ? { max: num(settings, 'max')! } : {}),
    };
  } else {
    throw new ProviderConfigError(`--price must be fixed:<prompt>,<completion> (integers, msat per million tokens) or dynamic, got "${price}"`);
  }
  const nvidiaSmi = settings['nvidia-smi'];
  options.telemetry = {
    ...(engine === 'vllm' && upstream ? { vllmMetricsUrl: `${upstream.replace(/\/$/, '')}/metrics` } : {}),
    ...(engine === 'ollama' && upstream ? { ollamaUrl: upstream.replace(/\/$/, '') } : {}),
    ...(nvidiaSmi ? { nvidiaSmi: String(nvidiaSmi) } : {}),
  };
  return options;
}

const FLAVOUR_OF: Record<EngineKind, EngineFlavour> = { vllm: 'vllm', ollama: 'ollama', openai: 'llama.cpp', 'llama.cpp': 'llama.cpp' };

/** `routstr-kit provider`: sell an engine on the market until SIGINT/SIGTERM. */
export async function providerCommand(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(PROVIDER_USAGE);
    return 0;
  }
  let settings: Settings;
  let resolved: ReturnType<typeof providerOptions>;
  try {
    settings = resolveSettings(argv, env);
    resolved = providerOptions(settings, env);
  } catch (error) {
    process.stderr.write(`routstr-kit provider: ${(error as Error).message}\n\n${PROVIDER_USAGE}`);
    return 2;
  }
  const { modelPath, upstream, ...rest } = resolved;
  let engine: RunningEngine | undefined;
  if (modelPath) {
    const { startEngine } = await loadLlamaEngine('provider --model');
    engine = await startEngine({ flavour: FLAVOUR_OF[rest.engine], modelPath, maxConcurrency: rest.maxConcurrency ?? 2 });
    if (rest.engine === 'vllm') rest.telemetry = { ...rest.telemetry, vllmMetricsUrl: `${engine.url}/metrics` };
    if (rest.engine === 'ollama') rest.telemetry = { ...rest.telemetry, ollamaUrl: engine.url };
  }
  const json = settings.json === true;
  const provider = await startProvider({ ...rest, upstream: upstream ?? engine!.url, log: json ? () => {} : (m) => process.stderr.write(`${m}\n`) });
  const prices = [...provider.board.current().values()].map((p) => ({ model: p.model, prompt: p.prompt, completion: p.completion }));
  if (json) {
    process.stdout.write(JSON.stringify({ url: provider.url, npub: provider.npub, pubkey: provider.pubkey, models: prices, relays: rest.relays, mints: rest.mints, engine: upstream ?? engine!.url }) + '\n');
  } else {
    process.stdout.write(
      [
        `routstr-kit provider is selling on ${provider.url}`,
        `  npub    ${provider.npub}`,
        `  engine  ${rest.engine} at ${upstream ?? engine!.url}`,
        ...prices.map((p) => `  model   ${p.model}: ${p.prompt} msat/Mtok prompt, ${p.completion} msat/Mtok completion (${rest.pricing ? 'dynamic' : 'fixed'})`),
        `  mints   ${rest.mints.join(', ')}`,
        `  relays  ${rest.relays?.length ? rest.relays.join(', ') : '(none: not announced)'}`,
        `  data    ${rest.dataDir}`,
        'Press Ctrl-C to stop.',
        '',
      ].join('\n'),
    );
  }
  const signal = await waitForShutdownSignal();
  await provider.stop();
  await engine?.stop();
  if (!json) process.stdout.write(`provider stopped (${signal})\n`);
  return 0;
}
