export { ConfigError, describeSource, type SettingSource } from './errors.ts';
export {
  BUYER_SETTINGS, MCP_SETTINGS, PROVIDER_SETTINGS, MARKET_SERVE_SETTINGS, ALL_SETTINGS, DEFAULT_MINTS, DEFAULT_PROFILE, PROFILES, MODES, PROVIDER_ADDRESSES, ENGINES,
  type SettingSpec,
} from './settings.ts';
export { configFileSchema, readConfigFile } from './config-file.ts';
export { resolveSettings, configFilePath, nest, CONFIG_ENV, type ConfigInputs, type ResolvedSettings, type Env, type FlagValues } from './resolve.ts';
export { flagOptions, parseFlags } from './flags.ts';
export { resolveKitConfig, resolveMcpKitConfig, type KitConfig, type KitBudget, type McpKitConfig, type ProviderAddresses } from './kit-config.ts';
