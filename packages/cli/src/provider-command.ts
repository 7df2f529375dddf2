import { resolve } from 'node:path';
import { ConfigError, ENGINES, parseFlags, PROVIDER_SETTINGS, redactLocation, resolveSettings, type Env, type ResolvedSettings } from '@routstr-kit/core';
import type { EngineFlavour, RunningEngine } from '@routstr-kit/llama-engine';
import { InvalidSecretKey, parseSecretKey, startProvider, type StartProviderOptions } from '@routstr-kit/provider';
import { loadLlamaEngine } from './optional-packages.ts';
import { waitForShutdownSignal } from './shutdown-signal.ts';

type EngineKind = (typeof ENGINES)[number];

export const PROVIDER_USAGE = `usage: routstr-kit provider --engine <vllm|ollama|openai|llama.cpp> (--upstream <url>... | --model <file.gguf>)
         [--mint <url>...] [--relay <url>...]
         [--price fixed:<prompt>,<completion>]            limit sell, msat per million tokens
         [--price dynamic --electricity <msat/kWh> --tokens-per-second <n> --margin <msat/Mtok>
            [--power <W>] [--pue <x>] [--floor <msat/Mtok>] [--max <msat/Mtok>] [--nvidia-smi [<binary>]]]
         [--data-dir <dir>] [--host <ip>] [--port <n>] [--public-url <url>] [--name <s>] [--about <s>]
         [--max-concurrency <n>] [--queue <n>] [--database postgres://…] [--config <file.json>] [--json]
--upstream repeated puts replicas of one engine behind the node: each request goes to the least loaded one serving
its model, a failed one is probed back, the price follows the load of all of them; --max-concurrency counts them all.
--database keeps every book (wallet, payee, batches, quotes) in PostgreSQL instead of SQLite files in the data dir:
several node processes on one database, with one ROUTSTR_KIT_NSEC and one --public-url, serve as one provider behind
a reverse proxy (deploy/nginx/routstr-kit.conf); one announces and ticks at a time. Keep its password in PGPASSWORD
or ~/.pgpass rather than the URL (flags show in ps).
Secrets come from the environment only and are never printed:
  ROUTSTR_KIT_NSEC (announcement key), ROUTSTR_KIT_ADMIN_TOKEN (admin API), ROUTSTR_KIT_MNEMONIC (wallet seed),
  ROUTSTR_KIT_UPSTREAM_API_KEY (the engine's key).
Every setting is also ROUTSTR_KIT_PROVIDER_<FLAG> in the environment (ROUTSTR_KIT_RELAYS and ROUTSTR_KIT_MINTS for
--relay and --mint; lists comma-separated) and a key of the config file (--config, ROUTSTR_KIT_CONFIG, or
~/.routstr-kit/config.json): {"mints": ["…"], "provider": {"engine": "vllm", "upstream": ["http://…"], "price": "fixed:1000,2000"}}.
Flags win over the environment, which wins over the file. See the README's Configuration table.
`;

/** The provider's resolved settings and the command's own output flag. */
export interface ProviderSettings {
  readonly resolved: ResolvedSettings;
  readonly json: boolean;
}

/** Resolves the provider's settings: flags > ROUTSTR_KIT_* environment > config file > defaults (core config). */
export function resolveProviderSettings(argv: readonly string[], env: Env): ProviderSettings {
  // `--nvidia-smi` may stand alone: give it the default binary.
  const args = argv.flatMap((a, i) => (a === '--nvidia-smi' && (argv[i + 1] === undefined || argv[i + 1]!.startsWith('--')) ? [a, 'nvidia-smi'] : [a]));
  const { flags } = parseFlags(args, PROVIDER_SETTINGS, { json: { type: 'boolean' } });
  return { resolved: resolveSettings(PROVIDER_SETTINGS, { flags, env }), json: flags['json'] === true };
}

/** A required setting that no source gave. */
function missing(key: string, detail: string): ConfigError {
  const spec = PROVIDER_SETTINGS.find((s) => s.key === key)!;
  return new ConfigError(key, undefined, spec.form, `${detail} (flag --${spec.flag}, ${spec.env}, or "${key}" in the config file)`);
}

/** A mistyped nsec is a configuration error that names the variable and never shows the value or its checksum. */
function checkNsec(value: string): void {
  try {
    parseSecretKey(value, 'ROUTSTR_KIT_NSEC');
  } catch (error) {
    if (!(error instanceof InvalidSecretKey)) throw error;
    const spec = PROVIDER_SETTINGS.find((s) => s.key === 'nsec')!;
    throw new ConfigError('nsec', { kind: 'env', name: 'ROUTSTR_KIT_NSEC' }, spec.form, error.message);
  }
}

/** Turns resolved settings into startProvider options (minus the upstream when --model starts an engine). */
export function providerOptions(settings: ProviderSettings): Omit<StartProviderOptions, 'upstream'> & { upstream?: string[]; modelPath?: string } {
  const v = settings.resolved.values;
  const get = <T>(key: string): T | undefined => v.get(key) as T | undefined;
  const engine = get<EngineKind>('provider.engine');
  if (!engine) throw missing('provider.engine', 'not set');
  const upstream = get<string[]>('provider.upstream');
  const modelPath = get<string>('provider.model');
  if (!upstream === !modelPath) throw missing('provider.upstream', 'give exactly one of --upstream <url>... (running engines) or --model <file.gguf> (start one here)');
  // each value was checked against its setting's schema, which matches the option's type
  const optional = (name: string, key: string): Record<string, unknown> => (v.has(key) ? { [name]: v.get(key) } : {});
  const options = {
    engine,
    ...(upstream ? { upstream } : {}),
    ...(modelPath ? { modelPath: resolve(modelPath) } : {}),
    mints: get<string[]>('mints')!,
    relays: get<string[]>('relays')!,
    dataDir: resolve(get<string>('provider.dataDir')!),
    ...optional('host', 'provider.host'),
    ...optional('port', 'provider.port'),
    ...optional('publicUrl', 'provider.publicUrl'),
    ...optional('name', 'provider.name'),
    ...optional('about', 'provider.about'),
    ...optional('maxConcurrency', 'provider.maxConcurrency'),
    ...optional('queueSize', 'provider.queue'),
    ...optional('database', 'provider.database'),
    ...optional('nsec', 'nsec'),
    ...optional('adminToken', 'adminToken'),
    ...optional('mnemonic', 'mnemonic'),
    ...optional('upstreamApiKey', 'upstreamApiKey'),
  } as ReturnType<typeof providerOptions>;
  const nsec = get<string>('nsec');
  if (nsec !== undefined) checkNsec(nsec);
  const price = get<string>('provider.price')!;
  const fixed = /^fixed:(\d+),(\d+)$/.exec(price);
  if (fixed) {
    options.price = { prompt: Number(fixed[1]), completion: Number(fixed[2]) };
  } else {
    const need = (key: string): number => {
      const value = get<number>(key);
      if (value === undefined) throw missing(key, '--price dynamic needs it');
      return value;
    };
    options.pricing = {
      mode: 'dynamic',
      electricityMsatPerKwh: need('provider.electricity'),
      tokensPerSecond: need('provider.tokensPerSecond'),
      margin: need('provider.margin'),
      ...optional('powerWatts', 'provider.power'),
      ...optional('pue', 'provider.pue'),
      ...optional('floor', 'provider.floor'),
      ...optional('max', 'provider.max'),
    } as NonNullable<typeof options.pricing>;
  }
  const nvidiaSmi = get<string>('provider.nvidiaSmi');
  // the engines' own telemetry (vLLM /metrics, Ollama /api/ps of every replica) follows from engine and upstream
  if (nvidiaSmi) options.telemetry = { nvidiaSmi };
  return options;
}

const FLAVOUR_OF: Record<EngineKind, EngineFlavour> = { vllm: 'vllm', ollama: 'ollama', openai: 'llama.cpp', 'llama.cpp': 'llama.cpp' };

/** `routstr-kit provider`: sell an engine on the market until SIGINT/SIGTERM. */
export async function providerCommand(argv: string[], env: Env = process.env): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(PROVIDER_USAGE);
    return 0;
  }
  let settings: ProviderSettings;
  let resolved: ReturnType<typeof providerOptions>;
  try {
    settings = resolveProviderSettings(argv, env);
    resolved = providerOptions(settings);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`routstr-kit provider: ${error.message}\n\n${PROVIDER_USAGE}`);
    return 2;
  }
  const { modelPath, upstream, ...rest } = resolved;
  let engine: RunningEngine | undefined;
  if (modelPath) {
    const { startEngine } = await loadLlamaEngine('provider --model');
    engine = await startEngine({ flavour: FLAVOUR_OF[rest.engine], modelPath, maxConcurrency: rest.maxConcurrency ?? 2 });
  }
  const json = settings.json;
  const upstreams = upstream ?? [engine!.url];
  let provider: Awaited<ReturnType<typeof startProvider>>;
  try {
    provider = await startProvider({ ...rest, upstream: upstreams, log: json ? () => {} : (m) => process.stderr.write(`${m}\n`) });
  } catch (error) {
    // a node that cannot start (an unreachable database, a refused engine) leaves no engine behind it
    await engine?.stop();
    throw error;
  }
  const prices = [...provider.board.current().values()].map((p) => ({ model: p.model, prompt: p.prompt, completion: p.completion }));
  if (json) {
    process.stdout.write(JSON.stringify({ url: provider.url, npub: provider.npub, pubkey: provider.pubkey, models: prices, relays: rest.relays, mints: rest.mints, engine: upstreams }) + '\n');
  } else {
    process.stdout.write(
      [
        `routstr-kit provider is selling on ${provider.url}`,
        `  npub    ${provider.npub}`,
        `  engine  ${rest.engine} at ${upstreams.join(', ')}`,
        ...prices.map((p) => `  model   ${p.model}: ${p.prompt} msat/Mtok prompt, ${p.completion} msat/Mtok completion (${rest.pricing ? 'dynamic' : 'fixed'})`),
        `  mints   ${rest.mints.join(', ')}`,
        `  relays  ${rest.relays?.length ? rest.relays.join(', ') : '(none: not announced)'}`,
        `  data    ${rest.database ? redactLocation(rest.database) : rest.dataDir}`,
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
