/**
 * Server configuration through the kit's one contract (core `config`): flags > ROUTSTR_KIT_*
 * environment > config file > defaults. Budgets live here and only here: no tool can raise them
 * or change where money goes.
 */
import { BUYER_SETTINGS, ConfigError, DEFAULT_MINTS, MCP_SETTINGS, parseFlags, resolveMcpKitConfig, type Env, type KitBudget, type McpKitConfig } from '@routstr-kit/core';

export { ConfigError, DEFAULT_MINTS };

/** The server's caps: per request, per run (this process), and the wallet's total (kept across restarts). */
export type McpBudget = KitBudget;

export type McpConfig = McpKitConfig;

export const USAGE = `routstr-kit mcp [--http <port>] [--host <addr>] [--config <file.json>] [--relay <url>]... [--mint <url>]...
  [--wallet <path>] [--profile cheapest|fastest|balanced|trusted] [--mode xcashu|session]
  [--budget-per-request-sat <n>] [--budget-per-run-sat <n>] [--budget-total-sat <n>] [--provider-addresses public|loopback|any]
Environment: ROUTSTR_KIT_RELAYS, ROUTSTR_KIT_MINTS (comma-separated), ROUTSTR_KIT_WALLET, ROUTSTR_KIT_PROFILE, ROUTSTR_KIT_MODE,
  ROUTSTR_KIT_BUDGET_PER_REQUEST_SAT, ROUTSTR_KIT_BUDGET_PER_RUN_SAT, ROUTSTR_KIT_BUDGET_TOTAL_SAT, ROUTSTR_KIT_PROVIDER_ADDRESSES,
  ROUTSTR_KIT_MCP_HTTP_PORT, ROUTSTR_KIT_MCP_HTTP_HOST, ROUTSTR_KIT_CONFIG (default ~/.routstr-kit/config.json).
Flags win over the environment, which wins over the config file.`;

/** Parses `argv` (without node and script) and `env` into a config; throws ConfigError naming the bad setting and its source. */
export function parseConfig(argv: readonly string[], env: Env = {}): McpConfig {
  const { flags } = parseFlags(argv, [...BUYER_SETTINGS, ...MCP_SETTINGS]);
  return resolveMcpKitConfig({ flags, env });
}
