/** The optional config file: one JSON object keyed like the options, checked with zod. */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError } from './errors.ts';
import { ALL_SETTINGS, type SettingSpec } from './settings.ts';

/** The zod schema of the file: every non-secret setting, nested by its dotted key; unknown keys are refused. */
export function configFileSchema(specs: readonly SettingSpec[] = ALL_SETTINGS): z.ZodType {
  interface Node { [name: string]: Node | z.ZodType }
  const root: Node = {};
  for (const spec of specs) {
    if (spec.secret) continue;
    const parts = spec.key.split('.');
    let node = root;
    for (const part of parts.slice(0, -1)) node = (node[part] ??= {}) as Node;
    node[parts.at(-1)!] = spec.schema.optional();
  }
  const build = (node: Node): z.ZodType =>
    z.strictObject(Object.fromEntries(Object.entries(node).map(([k, v]) => [k, v instanceof z.ZodType ? v : build(v).optional()])));
  return build(root);
}

/** The file's values by dotted key. */
export type FileValues = ReadonlyMap<string, unknown>;

/**
 * Reads and checks the config file. A missing file is fine when `required` is false (the default
 * path); a named one that is missing, unreadable or invalid is a ConfigError naming the key.
 */
export function readConfigFile(path: string, required: boolean, specs: readonly SettingSpec[] = ALL_SETTINGS): FileValues {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if (!required && (error as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
    throw new ConfigError('configFile', { kind: 'file', path, key: '' }, 'a readable JSON file', `cannot read it (${(error as Error).message})`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    // V8's message quotes the text around the fault, which may be a pasted secret: report where, never what
    const at = /position \d+|line \d+ column \d+/.exec((error as Error).message)?.[0];
    throw new ConfigError('configFile', { kind: 'file', path, key: '' }, 'a JSON object', `not valid JSON${at ? ` (${at})` : ''}; the text is not shown`);
  }
  const result = configFileSchema(specs).safeParse(parsed);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const at = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') {
      const key = [at, issue.keys[0]].filter(Boolean).join('.');
      const secret = ALL_SETTINGS.find((s) => s.secret && s.key === key);
      if (secret) throw new ConfigError(key, { kind: 'file', path, key }, `${secret.env} in the environment`, 'a secret is never read from a file');
      throw new ConfigError(key, { kind: 'file', path, key }, `one of the keys ${specs.filter((s) => !s.secret).map((s) => s.key).join(', ')}`, 'unknown key');
    }
    // an issue inside a list (`relays.1`) belongs to the list's setting
    const spec = specs.find((s) => at === s.key || at.startsWith(`${s.key}.`));
    const key = spec?.key ?? (at || 'configFile');
    throw new ConfigError(key, { kind: 'file', path, key }, spec?.form ?? 'a JSON object of settings', `got ${showValue(shown(spec, valueAt(parsed, spec ? spec.key.split('.') : issue.path)))}`);
  }
  const values = new Map<string, unknown>();
  for (const spec of specs) {
    if (spec.secret) continue;
    const value = valueAt(result.data, spec.key.split('.'));
    if (value !== undefined) values.set(spec.key, value);
  }
  return values;
}

/** A bad value as its setting shows it (a URL's password masked). */
function shown(spec: SettingSpec | undefined, value: unknown): unknown {
  return spec?.show ? spec.show(value) : value;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let node = root;
  for (const part of path) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<PropertyKey, unknown>)[part];
  }
  return node;
}

/** A value as an error shows it (short, JSON). */
export function showValue(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
