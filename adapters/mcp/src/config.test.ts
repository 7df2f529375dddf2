import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, DEFAULT_MINTS, parseConfig } from './config.ts';

const HOME = mkdtempSync(join(tmpdir(), 'mcp-config-'));

const fails = (argv: string[], env: Record<string, string> = {}): ConfigError => {
  try {
    parseConfig(argv, { HOME, ...env });
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('parseConfig accepted it');
};

describe('parseConfig', () => {
  it('defaults: stdio, the kit-wide relays, mints, wallet and profile, no budget', () => {
    const c = parseConfig([], { HOME });
    expect(c.http).toBeUndefined();
    expect(c.mints).toEqual(DEFAULT_MINTS);
    expect(c.relays.length).toBeGreaterThan(0);
    expect(c.budget).toEqual({});
    expect(c.profile).toBe('balanced');
    expect(c.mode).toBe('xcashu');
    expect(c.walletPath).toBe(join(HOME, '.routstr-kit', 'wallet.db'));
  });

  it('reads flags (repeated and comma lists) and lets them win over the environment, which wins over the file', () => {
    const file = join(HOME, 'mcp.json');
    writeFileSync(file, JSON.stringify({ budget: { totalSat: 700, perRunSat: 70 }, profile: 'trusted', mcp: { httpPort: 9 } }));
    const c = parseConfig(
      ['--relay', 'ws://a', '--relay=ws://b,ws://c', '--mint', 'http://m', '--wallet', '/tmp/w.db', '--budget-per-request-sat', '10', '--http', '8080', '--profile', 'fastest', '--config', file],
      { HOME, ROUTSTR_KIT_RELAYS: 'ws://env', ROUTSTR_KIT_BUDGET_PER_REQUEST_SAT: '99', ROUTSTR_KIT_BUDGET_TOTAL_SAT: '500' },
    );
    expect(c.relays).toEqual(['ws://a', 'ws://b', 'ws://c']);
    expect(c.mints).toEqual(['http://m']);
    expect(c.walletPath).toBe('/tmp/w.db');
    expect(c.budget).toEqual({ perRequestMaxSat: 10, totalSat: 500, perRunSat: 70 });
    expect(c.http).toEqual({ port: 8080, host: '127.0.0.1' });
    expect(c.profile).toBe('fastest');
  });

  it('reads the environment under the one ROUTSTR_KIT_ prefix', () => {
    const c = parseConfig([], { HOME, ROUTSTR_KIT_MINTS: 'http://x, http://y', ROUTSTR_KIT_WALLET: '/w', ROUTSTR_KIT_MCP_HTTP_PORT: '0', ROUTSTR_KIT_MCP_HTTP_HOST: '::1', ROUTSTR_KIT_MODE: 'session' });
    expect(c.mints).toEqual(['http://x', 'http://y']);
    expect(c.walletPath).toBe('/w');
    expect(c.mode).toBe('session');
    expect(c.http).toEqual({ port: 0, host: '::1' });
  });

  it('refuses what cannot start a server, naming the setting and its source', () => {
    expect(fails(['--budget-per-request-sat', '-1']).setting).toBe('budget.perRequestMaxSat');
    expect(fails(['--budget-total-sat', '1.5']).message).toMatch(/from flag --budget-total-sat: got "1.5"; expected a positive whole number of sats/);
    expect(fails(['--http', 'abc']).setting).toBe('mcp.httpPort');
    expect(fails(['--http', '70000']).setting).toBe('mcp.httpPort');
    expect(fails(['--relay', 'http://not-ws']).setting).toBe('relays');
    expect(fails(['--mint', 'ftp://x']).setting).toBe('mints');
    expect(fails(['--profile', 'richest']).message).toMatch(/expected one of cheapest, fastest, balanced, trusted/);
    expect(fails([], { ROUTSTR_KIT_MODE: 'fast' }).message).toMatch(/"mode" from environment variable ROUTSTR_KIT_MODE/);
    expect(fails(['--budget', '1000']).setting).toBe('arguments');
    expect(fails(['serve']).setting).toBe('arguments');
    expect(fails(['--wallet']).setting).toBe('arguments');
    expect(fails(['--host', '0.0.0.0']).setting).toBe('mcp.httpHost');
  });
});
