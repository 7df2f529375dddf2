/** The buyer-side configuration every entry point shares: adapters, MCP server, wallet commands. */
import type { SelectionProfile } from '../market/index.ts';
import type { PaymentMode } from '../payments/index.ts';
import { ConfigError } from './errors.ts';
import { nest, resolveSettings, type ConfigInputs, type ResolvedSettings } from './resolve.ts';
import { BUYER_SETTINGS, MCP_SETTINGS, type PROVIDER_ADDRESSES } from './settings.ts';

/** Which provider addresses the market may dial: public ones only, loopback too (a local devnet), or any. */
export type ProviderAddresses = (typeof PROVIDER_ADDRESSES)[number];

/** Spending caps. `totalSat` is kept in the wallet's database and survives restarts; `perRunSat` counts one process. */
export interface KitBudget {
  /** Largest single payment, sats. */
  perRequestMaxSat?: number;
  /** Most one run (one process, one adapter instance) may spend, sats. */
  perRunSat?: number;
  /** Most this wallet may ever spend on inference, sats; survives restarts. */
  totalSat?: number;
}

/** Resolved buyer settings. */
export interface KitConfig {
  relays: string[];
  mints: string[];
  walletPath: string;
  profile: SelectionProfile;
  mode: PaymentMode;
  providerAddresses: ProviderAddresses;
  budget: KitBudget;
  /** From ROUTSTR_KIT_MNEMONIC only (a secret: never printed). */
  mnemonic: string | undefined;
  /** The config file that was read, if any. */
  configFile: string | undefined;
}

/** Buyer settings from options > flags > environment > config file > defaults; throws ConfigError on a bad value. */
export function resolveKitConfig(inputs: ConfigInputs): KitConfig {
  return kitConfig(resolveSettings(BUYER_SETTINGS, inputs));
}

function kitConfig(resolved: ResolvedSettings): KitConfig {
  const n = nest(resolved.values);
  return {
    relays: n['relays'] as string[],
    mints: n['mints'] as string[],
    walletPath: n['walletPath'] as string,
    profile: n['profile'] as SelectionProfile,
    mode: n['mode'] as PaymentMode,
    providerAddresses: n['providerAddresses'] as ProviderAddresses,
    budget: (n['budget'] as KitBudget | undefined) ?? {},
    mnemonic: n['mnemonic'] as string | undefined,
    configFile: resolved.configFile,
  };
}

/** The MCP server's settings: the buyer's, and where to serve Streamable HTTP (stdio when no port). */
export interface McpKitConfig extends KitConfig {
  http: { port: number; host: string } | undefined;
}

/** MCP settings; `mcp.httpHost` without `mcp.httpPort` is refused. */
export function resolveMcpKitConfig(inputs: ConfigInputs): McpKitConfig {
  const resolved = resolveSettings([...BUYER_SETTINGS, ...MCP_SETTINGS], inputs);
  const base = kitConfig(resolved);
  const port = resolved.values.get('mcp.httpPort') as number | undefined;
  const host = resolved.values.get('mcp.httpHost') as string;
  const hostSource = resolved.sources.get('mcp.httpHost');
  if (port === undefined && hostSource && hostSource.kind !== 'default') {
    throw new ConfigError('mcp.httpHost', hostSource, 'mcp.httpHost only together with mcp.httpPort (--http <port>)', 'a host without a port');
  }
  return { ...base, http: port === undefined ? undefined : { port, host } };
}
