/** Where a setting's value came from: an explicit option, a command-line flag, an environment variable, the config file, or the default. */
export type SettingSource =
  | { kind: 'option'; name: string }
  | { kind: 'flag'; name: string }
  | { kind: 'env'; name: string }
  | { kind: 'file'; path: string; key: string }
  | { kind: 'default' };

/** How a source is named in messages: `option "mode"`, `flag --mode`, `environment variable ROUTSTR_KIT_MODE`, `config file /x.json (key "mode")`. */
export function describeSource(source: SettingSource): string {
  switch (source.kind) {
    case 'option':
      return `option "${source.name}"`;
    case 'flag':
      return `flag --${source.name}`;
    case 'env':
      return `environment variable ${source.name}`;
    case 'file':
      return `config file ${source.path} (key "${source.key}")`;
    case 'default':
      return 'the default';
  }
}

/**
 * A setting that cannot be used: names the setting, where the bad value came from and the form
 * it must have. Thrown before anything opens; `code` is stable.
 */
export class ConfigError extends Error {
  readonly code = 'invalid_config';
  /** The setting's key (`mode`, `budget.totalSat`, `provider.price`), or `configFile` for an unreadable file. */
  readonly setting: string;
  readonly source: SettingSource | undefined;
  /** The form the value must have. */
  readonly expected: string;

  constructor(setting: string, source: SettingSource | undefined, expected: string, detail: string) {
    super(`invalid setting "${setting}"${source ? ` from ${describeSource(source)}` : ''}: ${detail}; expected ${expected}`);
    this.name = 'ConfigError';
    this.setting = setting;
    this.source = source;
    this.expected = expected;
  }
}
