import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ALL_SETTINGS, ConfigError, DEFAULT_MINTS, parseFlags, resolveKitConfig, resolveMcpKitConfig, resolveSettings, BUYER_SETTINGS, PROVIDER_SETTINGS, type ConfigInputs } from './index.ts';
import { DEFAULT_MARKET_RELAYS } from '../market/index.ts';

const home = (): string => mkdtempSync(join(tmpdir(), 'kit-config-'));
const file = (content: unknown): string => {
  const path = join(home(), 'config.json');
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
};
const fails = (inputs: ConfigInputs): ConfigError => {
  try {
    resolveMcpKitConfig(inputs);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('accepted');
};

describe('resolveKitConfig', () => {
  it('has one set of defaults', () => {
    const h = home();
    const c = resolveKitConfig({ env: { HOME: h } });
    expect(c).toMatchObject({ relays: [...DEFAULT_MARKET_RELAYS], mints: [...DEFAULT_MINTS], walletPath: join(h, '.routstr-kit', 'wallet.db'), profile: 'balanced', mode: 'xcashu', providerAddresses: 'public', budget: {}, mnemonic: undefined, configFile: undefined });
  });

  it('takes options over flags over environment over the file over defaults, setting by setting', () => {
    const path = file({ mode: 'session', profile: 'trusted', relays: ['ws://file'], mints: ['http://file-mint'], budget: { totalSat: 900, perRunSat: 90 } });
    const env = { HOME: home(), ROUTSTR_KIT_CONFIG: path, ROUTSTR_KIT_PROFILE: 'fastest', ROUTSTR_KIT_RELAYS: 'ws://env-a, ws://env-b', ROUTSTR_KIT_BUDGET_PER_RUN_SAT: '80' };
    const { flags } = parseFlags(['--relay', 'ws://flag', '--relay=ws://flag2,ws://flag3', '--budget-per-run-sat', '70'], BUYER_SETTINGS);
    const c = resolveKitConfig({ options: { budget: { perRunSat: 60 } }, flags, env });
    expect(c.mode).toBe('session'); // file
    expect(c.profile).toBe('fastest'); // env over file
    expect(c.relays).toEqual(['ws://flag', 'ws://flag2', 'ws://flag3']); // flag over env
    expect(c.mints).toEqual(['http://file-mint']);
    expect(c.budget).toEqual({ totalSat: 900, perRunSat: 60 }); // option over flag
    expect(c.configFile).toBe(path);
    expect(resolveKitConfig({ env: { ...env, ROUTSTR_KIT_CONFIG: undefined }, flags: { config: path } }).mode).toBe('session');
  });

  it('reads ~/.routstr-kit/config.json when present', () => {
    const h = home();
    const path = join(h, '.routstr-kit', 'config.json');
    mkdirSync(join(h, '.routstr-kit'));
    writeFileSync(path, JSON.stringify({ mode: 'session' }));
    expect(resolveKitConfig({ env: { HOME: h } })).toMatchObject({ mode: 'session', configFile: path });
  });

  it('names the setting, its source and the expected form for a bad value anywhere', () => {
    const h = home();
    const bad: [ConfigInputs, RegExp][] = [
      [{ env: { HOME: h, ROUTSTR_KIT_MODE: 'fast' } }, /invalid setting "mode" from environment variable ROUTSTR_KIT_MODE: got "fast"; expected one of xcashu, session/],
      [{ env: { HOME: h }, flags: { profile: 'richest' } }, /"profile" from flag --profile: got "richest"; expected one of cheapest, fastest, balanced, trusted/],
      [{ env: { HOME: h }, options: { budget: { totalSat: 1.5 } } }, /"budget.totalSat" from option "budget.totalSat": got 1.5; expected a positive whole number of sats/],
      [{ env: { HOME: h, ROUTSTR_KIT_BUDGET_PER_REQUEST_SAT: 'lots' } }, /"budget.perRequestMaxSat" from environment variable ROUTSTR_KIT_BUDGET_PER_REQUEST_SAT: got "lots"/],
      [{ env: { HOME: h, ROUTSTR_KIT_RELAYS: 'http://not-ws' } }, /"relays" from environment variable ROUTSTR_KIT_RELAYS/],
      [{ env: { HOME: h, ROUTSTR_KIT_PROVIDER_ADDRESSES: 'lan' } }, /"providerAddresses" .*expected one of public, loopback, any/],
      [{ env: { HOME: h, ROUTSTR_KIT_CONFIG: file({ mode: 'fast' }) } }, /"mode" from config file .*config\.json \(key "mode"\): got "fast"/],
      [{ env: { HOME: h, ROUTSTR_KIT_CONFIG: file({ relays: ['ws://ok', 'nope'] }) } }, /"relays" from config file .*\(key "relays"\): got \["ws:\/\/ok","nope"\]/],
      [{ env: { HOME: h, ROUTSTR_KIT_CONFIG: file({ budget: { everSat: 1 } }) } }, /"budget.everSat" from config file .*: unknown key/],
      [{ env: { HOME: h, ROUTSTR_KIT_CONFIG: file({ mnemonic: 'a b c' }) } }, /"mnemonic" .*a secret is never read from a file; expected ROUTSTR_KIT_MNEMONIC in the environment/],
      [{ env: { HOME: h, ROUTSTR_KIT_CONFIG: file('{ not json') } }, /"configFile" from config file .*not valid JSON \(position \d+\); the text is not shown/],
      [{ env: { HOME: h, ROUTSTR_KIT_CONFIG: join(h, 'missing.json') } }, /"configFile" .*cannot read it/],
      [{ env: { HOME: h, ROUTSTR_KIT_MCP_HTTP_PORT: '70000' } }, /"mcp.httpPort" from environment variable ROUTSTR_KIT_MCP_HTTP_PORT: got "70000"; expected a port number 0-65535/],
      [{ env: { HOME: h }, flags: { host: '0.0.0.0' } }, /"mcp.httpHost" from flag --host: a host without a port/],
    ];
    for (const [inputs, message] of bad) expect(fails(inputs).message).toMatch(message);
    expect(fails({ env: { HOME: h, ROUTSTR_KIT_MODE: 'fast' } })).toMatchObject({ code: 'invalid_config', setting: 'mode', source: { kind: 'env', name: 'ROUTSTR_KIT_MODE' } });
    expect(() => parseFlags(['--budget', '5'], BUYER_SETTINGS)).toThrow(ConfigError);
  });

  it('checks every ROUTSTR_KIT_* setting in the environment, also those this entry point does not use', () => {
    const error = (() => { try { resolveSettings(PROVIDER_SETTINGS, { env: { HOME: home(), ROUTSTR_KIT_MODE: 'fast' } }); } catch (e) { return e as ConfigError; } })();
    expect(error).toBeInstanceOf(ConfigError);
    expect(error?.message).toMatch(/"mode" from environment variable ROUTSTR_KIT_MODE: got "fast"/);
  });

  it('refuses a variable of an earlier version, naming the new one (ROUTSTR_RELAYS, the provider\'s ROUTSTR_KIT_RELAY)', () => {
    expect(fails({ env: { HOME: home(), ROUTSTR_RELAYS: 'wss://a' } }).message).toMatch(/invalid setting "relays" from environment variable ROUTSTR_RELAYS: ROUTSTR_RELAYS was renamed; expected ROUTSTR_KIT_RELAYS/);
    expect(fails({ env: { HOME: home(), ROUTSTR_KIT_RELAY: 'wss://a' } }).setting).toBe('relays');
    expect(fails({ env: { HOME: home(), ROUTSTR_KIT_DATA_DIR: '/x' } }).message).toMatch(/expected ROUTSTR_KIT_PROVIDER_DATA_DIR/);
  });

  it('never shows a secret in an error', () => {
    const error = fails({ env: { HOME: home(), ROUTSTR_KIT_MNEMONIC: '' }, options: { mnemonic: '' } });
    expect(error.message).toContain('(a secret, not shown)');
  });

  it('serves HTTP only with a port', () => {
    const h = home();
    expect(resolveMcpKitConfig({ env: { HOME: h } }).http).toBeUndefined();
    expect(resolveMcpKitConfig({ env: { HOME: h, ROUTSTR_KIT_MCP_HTTP_PORT: '0', ROUTSTR_KIT_MCP_HTTP_HOST: '::1' } }).http).toEqual({ port: 0, host: '::1' });
  });
});

describe('the README', () => {
  it('has one Configuration table row per setting, with its key, flag, variable and default', () => {
    const readme = readFileSync(new URL('../../../../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('## Configuration'), readme.indexOf('\n## ', readme.indexOf('## Configuration') + 1));
    const rows = section.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| Option') && !l.startsWith('| ---'));
    expect(rows).toHaveLength(ALL_SETTINGS.length);
    for (const spec of ALL_SETTINGS) {
      const row = rows.find((r) => r.includes(`\`${spec.env}\``));
      expect(row, spec.env).toBeDefined();
      if (!spec.secret) expect(row).toContain(`\`${spec.key}\``);
      if (spec.flag) expect(row).toContain(`\`--${spec.flag}\``);
      expect(row).toContain(spec.defaultText.replaceAll('|', '\\|'));
    }
  });
});
