/** Command-line flags for a set of settings (node:util parseArgs), so every command spells them alike. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError } from './errors.ts';
import type { FlagValues } from './resolve.ts';
import type { SettingSpec } from './settings.ts';

type FlagOptions = NonNullable<ParseArgsConfig['options']>;

/** parseArgs options for `specs` (lists repeat), plus `--config` and the command's own `extra` flags. */
export function flagOptions(specs: readonly SettingSpec[], extra: FlagOptions = {}): FlagOptions {
  const options: FlagOptions = { config: { type: 'string' }, ...extra };
  for (const spec of specs) {
    if (spec.flag === undefined) continue;
    options[spec.flag] = spec.boolean ? { type: 'boolean' } : spec.list ? { type: 'string', multiple: true } : { type: 'string' };
  }
  return options;
}

/** Parses `argv` against the settings' flags; an unknown or valueless flag is a ConfigError. */
export function parseFlags(argv: readonly string[], specs: readonly SettingSpec[], extra: FlagOptions = {}, allowPositionals = false): { flags: FlagValues; positionals: string[] } {
  const options = flagOptions(specs, extra);
  const args = joinNegativeValues(argv, options);
  try {
    const parsed = parseArgs({ args, options, allowPositionals, strict: true });
    return { flags: parsed.values as FlagValues, positionals: parsed.positionals };
  } catch (error) {
    const known = Object.keys(options).map((f) => `--${f}`).join(', ');
    throw new ConfigError('arguments', undefined, `flags among ${known}`, (error as Error).message);
  }
}

/** `--budget-total-sat -5` becomes `--budget-total-sat=-5`, so the schema (which names the setting) judges it, not parseArgs. */
function joinNegativeValues(argv: readonly string[], options: FlagOptions): string[] {
  const args: string[] = [];
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i]!;
    const next = argv[i + 1];
    if (arg.startsWith('--') && next !== undefined && /^-\d/.test(next) && options[arg.slice(2)]?.type === 'string') {
      args.push(`${arg}=${next}`);
      i += 1;
    } else {
      args.push(arg);
    }
  }
  return args;
}
