/**
 * Server configuration from flags and environment (flags win). Budgets live here and only
 * here: no tool can raise them or change where money goes.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_MARKET_RELAYS, PROVIDER_ADDRESS_POLICIES, parseProviderAddressPolicy, type ProviderAddressPolicy, type SelectionProfile } from '@routstr-kit/core';

export interface McpBudget {
  /** Largest single payment, sats. */
  perRequestMaxSat?: number;
  /** Most this server may spend while it runs, sats. */
  totalSat?: number;
}

export interface McpConfig {
  relays: string[];
  /** Provider addresses the market may dial (--provider-addresses / ROUTSTR_KIT_PROVIDER_ADDRESSES; default public). */
  providerAddresses?: ProviderAddressPolicy;
  mints: string[];
  walletPath: string;
  budget: McpBudget;
  profile: SelectionProfile;
  /** Serve Streamable HTTP on this port instead of stdio. */
  http: { port: number; host: string } | undefined;
}

/** A flag or variable that cannot start the server; `code` is stable. */
export class ConfigError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'ConfigError';
    this.code = code;
  }
}

export const DEFAULT_MINTS: readonly string[] = ['https://mint.minibits.cash/Bitcoin'];
const PROFILES: readonly SelectionProfile[] = ['cheapest', 'fastest', 'balanced', 'trusted'];

export const USAGE = `routstr-kit mcp [--http <port>] [--host <addr>] [--relay <url>]... [--mint <url>]...
  [--wallet <path>] [--max-request-sat <n>] [--max-total-sat <n>] [--profile cheapest|fastest|balanced|trusted]
  [--provider-addresses public|loopback|any]
Environment: ROUTSTR_RELAYS, ROUTSTR_MINTS (comma-separated), ROUTSTR_WALLET, ROUTSTR_MAX_REQUEST_SAT,
  ROUTSTR_MAX_TOTAL_SAT, ROUTSTR_PROFILE, ROUTSTR_MCP_HTTP_PORT, ROUTSTR_MCP_HTTP_HOST,
  ROUTSTR_KIT_PROVIDER_ADDRESSES (default public; loopback for a devnet)`;

/** Parses `argv` (without node and script) and `env` into a config; throws ConfigError on anything unusable. */
export function parseConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = {}): McpConfig {
  const flags = new Map<string, string[]>();
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i] ?? '';
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (!m?.[1]) throw new ConfigError('unknown_argument', `unexpected argument ${JSON.stringify(arg)}\n${USAGE}`);
    const name = m[1];
    if (!['http', 'host', 'relay', 'mint', 'wallet', 'max-request-sat', 'max-total-sat', 'profile', 'provider-addresses'].includes(name)) {
      throw new ConfigError('unknown_flag', `unknown flag --${name}\n${USAGE}`);
    }
    let value = m[2];
    if (value === undefined) {
      value = argv[i + 1];
      i += 1;
      if (value === undefined || value.startsWith('--')) throw new ConfigError('missing_value', `--${name} needs a value`);
    }
    flags.set(name, [...(flags.get(name) ?? []), value]);
  }
  const one = (flag: string, variable: string): string | undefined => flags.get(flag)?.at(-1) ?? (env[variable] === '' ? undefined : env[variable]);
  const list = (flag: string, variable: string): string[] | undefined =>
    flags.get(flag)?.flatMap(splitList) ?? (env[variable] ? splitList(env[variable]) : undefined);

  const relays = list('relay', 'ROUTSTR_RELAYS') ?? [...DEFAULT_MARKET_RELAYS];
  for (const r of relays) if (!/^wss?:\/\/./.test(r)) throw new ConfigError('invalid_relay', `relay ${JSON.stringify(r)} is not a ws:// or wss:// URL`);
  const addressText = one('provider-addresses', 'ROUTSTR_KIT_PROVIDER_ADDRESSES') ?? 'public';
  const providerAddresses = parseProviderAddressPolicy(addressText);
  if (!providerAddresses) throw new ConfigError('invalid_provider_addresses', `provider addresses ${JSON.stringify(addressText)} is not one of ${PROVIDER_ADDRESS_POLICIES.join(', ')}`);
  const mints = list('mint', 'ROUTSTR_MINTS') ?? [...DEFAULT_MINTS];
  for (const u of mints) if (!/^https?:\/\/./.test(u)) throw new ConfigError('invalid_mint', `mint ${JSON.stringify(u)} is not an http:// or https:// URL`);
  if (mints.length === 0) throw new ConfigError('invalid_mint', 'at least one mint is needed');

  const budget: McpBudget = {};
  const perRequest = positiveInt(one('max-request-sat', 'ROUTSTR_MAX_REQUEST_SAT'), '--max-request-sat / ROUTSTR_MAX_REQUEST_SAT');
  const total = positiveInt(one('max-total-sat', 'ROUTSTR_MAX_TOTAL_SAT'), '--max-total-sat / ROUTSTR_MAX_TOTAL_SAT');
  if (perRequest !== undefined) budget.perRequestMaxSat = perRequest;
  if (total !== undefined) budget.totalSat = total;

  const profile = one('profile', 'ROUTSTR_PROFILE') ?? 'cheapest';
  if (!PROFILES.includes(profile as SelectionProfile)) throw new ConfigError('invalid_profile', `profile ${JSON.stringify(profile)} is not one of ${PROFILES.join(', ')}`);

  const portText = one('http', 'ROUTSTR_MCP_HTTP_PORT');
  let http: McpConfig['http'];
  if (portText !== undefined) {
    const port = Number(portText);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError('invalid_port', `--http port ${JSON.stringify(portText)} is not a port number (0-65535)`);
    http = { port, host: one('host', 'ROUTSTR_MCP_HTTP_HOST') ?? '127.0.0.1' };
  } else if (flags.has('host')) throw new ConfigError('host_without_http', '--host only applies with --http <port>');

  const walletPath = one('wallet', 'ROUTSTR_WALLET') ?? join(homedir(), '.routstr-kit', 'wallet.db');
  return { relays, providerAddresses, mints, walletPath, budget, profile: profile as SelectionProfile, http };
}

function splitList(value: string): string[] {
  return value.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

function positiveInt(value: string | undefined, what: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n <= 0) throw new ConfigError('invalid_budget', `${what} must be a positive whole number of sats, got ${JSON.stringify(value)}`);
  return n;
}
