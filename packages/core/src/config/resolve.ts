/**
 * Resolves settings from their five sources, in one order everywhere:
 * explicit options > flags > environment > config file > defaults.
 * Every value found is checked against its setting's schema; the first bad one throws a
 * ConfigError naming the setting, its source and the expected form.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { readConfigFile, showValue } from './config-file.ts';
import { ConfigError, type SettingSource } from './errors.ts';
import { ALL_SETTINGS, type SettingSpec } from './settings.ts';

export type Env = Readonly<Record<string, string | undefined>>;
export type FlagValues = Readonly<Record<string, string | readonly string[] | boolean | undefined>>;

/** What a setting is resolved from. */
export interface ConfigInputs {
  /** Explicit options of a constructor (`createRoutstr({ mode })`), nested like the file; they win over everything. */
  options?: Readonly<Record<string, unknown>>;
  /** Flag values by flag name (as node:util `parseArgs` returns them). */
  flags?: FlagValues;
  /** Environment variables (default: none; entry points pass `process.env`). */
  env?: Env;
}

/** The env variable naming the config file (the flag is `--config`, the option `configPath`). */
export const CONFIG_ENV = 'ROUTSTR_KIT_CONFIG';

/** Variables of earlier versions: set, they are an error that names the new one, not silently ignored. */
const RENAMED: ReadonlyMap<string, string> = new Map([
  ['ROUTSTR_RELAYS', 'ROUTSTR_KIT_RELAYS'],
  ['ROUTSTR_MINTS', 'ROUTSTR_KIT_MINTS'],
  ['ROUTSTR_WALLET', 'ROUTSTR_KIT_WALLET'],
  ['ROUTSTR_PROFILE', 'ROUTSTR_KIT_PROFILE'],
  ['ROUTSTR_MAX_REQUEST_SAT', 'ROUTSTR_KIT_BUDGET_PER_REQUEST_SAT'],
  ['ROUTSTR_MAX_TOTAL_SAT', 'ROUTSTR_KIT_BUDGET_PER_RUN_SAT'],
  ['ROUTSTR_MCP_HTTP_PORT', 'ROUTSTR_KIT_MCP_HTTP_PORT'],
  ['ROUTSTR_MCP_HTTP_HOST', 'ROUTSTR_KIT_MCP_HTTP_HOST'],
  ['ROUTSTR_KIT_RELAY', 'ROUTSTR_KIT_RELAYS'],
  ['ROUTSTR_KIT_MINT', 'ROUTSTR_KIT_MINTS'],
  ['ROUTSTR_KIT_BUDGET_SAT', 'ROUTSTR_KIT_BUDGET_TOTAL_SAT'],
  ['ROUTSTR_KIT_MAX_REQUEST_SAT', 'ROUTSTR_KIT_BUDGET_PER_REQUEST_SAT'],
  ...['engine', 'upstream', 'model', 'price', 'electricity', 'tokens_per_second', 'margin', 'power', 'pue', 'floor', 'max', 'nvidia_smi', 'data_dir', 'host', 'port', 'public_url', 'name', 'about', 'max_concurrency', 'queue'].map(
    (flag) => [`ROUTSTR_KIT_${flag.toUpperCase()}`, `ROUTSTR_KIT_PROVIDER_${flag.toUpperCase()}`] as const,
  ),
]);

/** Resolved values by dotted key, with where each came from. */
export interface ResolvedSettings {
  readonly values: ReadonlyMap<string, unknown>;
  readonly sources: ReadonlyMap<string, SettingSource>;
  /** The config file that was read, if any. */
  readonly configFile: string | undefined;
}

/** The config file to read: option `configPath` > `--config` > ROUTSTR_KIT_CONFIG > ~/.routstr-kit/config.json (only if present). */
export function configFilePath(inputs: ConfigInputs): { path: string; required: boolean } {
  const option = inputs.options?.['configPath'];
  if (option !== undefined) {
    if (typeof option !== 'string' || option === '') throw new ConfigError('configPath', { kind: 'option', name: 'configPath' }, 'a file path', `got ${showValue(option)}`);
    return { path: option, required: true };
  }
  const flag = inputs.flags?.['config'];
  if (typeof flag === 'string' && flag !== '') return { path: flag, required: true };
  const env = inputs.env?.[CONFIG_ENV];
  if (env) return { path: env, required: true };
  return { path: join(homeOf(inputs.env), '.routstr-kit', 'config.json'), required: false };
}

function homeOf(env: Env | undefined): string {
  return env?.['HOME'] || homedir();
}

/** Resolves `specs` from `inputs`; throws ConfigError on the first value that does not fit. */
export function resolveSettings(specs: readonly SettingSpec[], inputs: ConfigInputs): ResolvedSettings {
  const file = configFilePath(inputs);
  const fileValues = readConfigFile(file.path, file.required, ALL_SETTINGS);
  const values = new Map<string, unknown>();
  const sources = new Map<string, SettingSource>();
  const ctx = { home: homeOf(inputs.env) };
  for (const spec of specs) {
    const found = find(spec, inputs, fileValues, file.path);
    if (!found) {
      if (spec.defaultValue) {
        values.set(spec.key, spec.defaultValue(ctx));
        sources.set(spec.key, { kind: 'default' });
      }
      continue;
    }
    const checked = spec.schema.safeParse(found.value);
    if (!checked.success) {
      throw new ConfigError(spec.key, found.source, spec.form, `got ${spec.secret ? '(a secret, not shown)' : showValue(spec.show ? spec.show(found.raw) : found.raw)}`);
    }
    values.set(spec.key, checked.data);
    sources.set(spec.key, found.source);
  }
  for (const [old, now] of RENAMED) {
    if (inputs.env?.[old] === undefined) continue;
    const spec = ALL_SETTINGS.find((s) => s.env === now)!;
    throw new ConfigError(spec.key, { kind: 'env', name: old }, `${now} (${spec.form})`, `${old} was renamed`);
  }
  // the file was checked whole; the environment is too, so a bad ROUTSTR_KIT_* value is never
  // ignored just because this entry point does not use that setting
  for (const spec of ALL_SETTINGS) {
    if (specs.includes(spec)) continue;
    const text = inputs.env?.[spec.env];
    if (text === undefined || text === '' || spec.schema.safeParse(spec.fromText(text)).success) continue;
    throw new ConfigError(spec.key, { kind: 'env', name: spec.env }, spec.form, `got ${spec.secret ? '(a secret, not shown)' : showValue(spec.show ? spec.show(text) : text)}`);
  }
  return { values, sources, configFile: fileValues.size > 0 || file.required ? file.path : undefined };
}

function find(spec: SettingSpec, inputs: ConfigInputs, file: ReadonlyMap<string, unknown>, filePath: string): { value: unknown; raw: unknown; source: SettingSource } | undefined {
  const option = valueAt(inputs.options, spec.key);
  if (option !== undefined) return { value: Array.isArray(option) ? [...option] : option, raw: option, source: { kind: 'option', name: spec.key } };
  if (spec.flag !== undefined) {
    const flag = inputs.flags?.[spec.flag];
    if (flag !== undefined) {
      const source = { kind: 'flag', name: spec.flag } as const;
      if (typeof flag === 'boolean') return { value: flag, raw: flag, source };
      const texts = typeof flag === 'string' ? [flag] : flag;
      const value = spec.list ? texts.flatMap((t) => spec.fromText(t) as string[]) : spec.fromText(texts.at(-1) ?? '');
      return { value, raw: typeof flag === 'string' ? flag : texts.join(','), source };
    }
  }
  const env = inputs.env?.[spec.env];
  // an empty variable counts as unset (the shell idiom `VAR= cmd`)
  if (env !== undefined && env !== '') return { value: spec.fromText(env), raw: env, source: { kind: 'env', name: spec.env } };
  if (file.has(spec.key)) return { value: file.get(spec.key), raw: file.get(spec.key), source: { kind: 'file', path: filePath, key: spec.key } };
  return undefined;
}

function valueAt(root: Readonly<Record<string, unknown>> | undefined, key: string): unknown {
  let node: unknown = root;
  for (const part of key.split('.')) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

/** Resolved values as a nested object (`budget.totalSat` → `{ budget: { totalSat } }`). */
export function nest(values: ReadonlyMap<string, unknown>): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const [key, value] of values) {
    const parts = key.split('.');
    let node = root;
    for (const part of parts.slice(0, -1)) node = (node[part] ??= {}) as Record<string, unknown>;
    node[parts.at(-1)!] = value;
  }
  return root;
}
