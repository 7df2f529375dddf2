import { describe, expect, it } from 'vitest';
import { ConfigError, DEFAULT_MINTS, parseConfig } from './config.ts';

const fails = (argv: string[], env: Record<string, string> = {}): ConfigError => {
  try {
    parseConfig(argv, env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('parseConfig accepted it');
};

describe('parseConfig', () => {
  it('defaults: stdio, default relays and mints, no budget, cheapest', () => {
    const c = parseConfig([], {});
    expect(c.http).toBeUndefined();
    expect(c.mints).toEqual(DEFAULT_MINTS);
    expect(c.relays.length).toBeGreaterThan(0);
    expect(c.budget).toEqual({});
    expect(c.profile).toBe('cheapest');
    expect(c.providerAddresses).toBe('public');
    expect(c.walletPath).toMatch(/\.routstr-kit[/\\]wallet\.db$/);
  });

  it('reads flags (repeated and comma lists) and lets them win over the environment', () => {
    const c = parseConfig(
      ['--relay', 'ws://a', '--relay=ws://b,ws://c', '--mint', 'http://m', '--wallet', '/tmp/w.db', '--max-request-sat', '10', '--http', '8080', '--profile', 'fastest'],
      { ROUTSTR_RELAYS: 'ws://env', ROUTSTR_MAX_REQUEST_SAT: '99', ROUTSTR_MAX_TOTAL_SAT: '500' },
    );
    expect(c.relays).toEqual(['ws://a', 'ws://b', 'ws://c']);
    expect(c.mints).toEqual(['http://m']);
    expect(c.walletPath).toBe('/tmp/w.db');
    expect(c.budget).toEqual({ perRequestMaxSat: 10, totalSat: 500 });
    expect(c.http).toEqual({ port: 8080, host: '127.0.0.1' });
    expect(c.profile).toBe('fastest');
  });

  it('reads the environment', () => {
    const c = parseConfig([], { ROUTSTR_MINTS: 'http://x, http://y', ROUTSTR_WALLET: '/w', ROUTSTR_MCP_HTTP_PORT: '0', ROUTSTR_MCP_HTTP_HOST: '::1' });
    expect(c.mints).toEqual(['http://x', 'http://y']);
    expect(c.http).toEqual({ port: 0, host: '::1' });
  });

  it('reads which provider addresses may be dialed (flag over ROUTSTR_KIT_PROVIDER_ADDRESSES) and refuses other values', () => {
    expect(parseConfig([], { ROUTSTR_KIT_PROVIDER_ADDRESSES: 'loopback' }).providerAddresses).toBe('loopback');
    expect(parseConfig(['--provider-addresses', 'any'], { ROUTSTR_KIT_PROVIDER_ADDRESSES: 'loopback' }).providerAddresses).toBe('any');
    expect(fails([], { ROUTSTR_KIT_PROVIDER_ADDRESSES: 'private' }).code).toBe('invalid_provider_addresses');
  });

  it('refuses what cannot start a server, with a code and a clear message', () => {
    expect(fails(['--max-request-sat', '-1']).code).toBe('invalid_budget');
    expect(fails(['--max-total-sat', '1.5']).message).toMatch(/positive whole number of sats, got "1.5"/);
    expect(fails(['--http', 'abc']).code).toBe('invalid_port');
    expect(fails(['--http', '70000']).code).toBe('invalid_port');
    expect(fails(['--relay', 'http://not-ws']).code).toBe('invalid_relay');
    expect(fails(['--mint', 'ftp://x']).code).toBe('invalid_mint');
    expect(fails(['--profile', 'richest']).message).toMatch(/not one of cheapest, fastest, balanced, trusted/);
    expect(fails(['--budget', '1000']).code).toBe('unknown_flag');
    expect(fails(['serve']).code).toBe('unknown_argument');
    expect(fails(['--wallet']).code).toBe('missing_value');
    expect(fails(['--host', '0.0.0.0']).code).toBe('host_without_http');
  });
});
