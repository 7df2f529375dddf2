/**
 * Every setting of the kit, defined once: its key (option and config-file key), flag, environment
 * variable, expected form, zod schema and default. Each entry point reads the table through
 * `resolveConfig`, so names, defaults and checks cannot drift apart.
 */
import { join } from 'node:path';
import { z } from 'zod';
import { DEFAULT_MARKET_RELAYS } from '../market/open-market.ts';
import { redactLocation } from '../storage/sql-connection.ts';

/** What a default may depend on: where the user's home is. */
export interface DefaultContext {
  home: string;
}

/** One setting. Text from a flag or the environment goes through `fromText`, then `schema`. */
export interface SettingSpec {
  /** Dotted key: the option name and the config-file key (`budget.totalSat` is `{ "budget": { "totalSat": … } }`). */
  readonly key: string;
  /** The flag without dashes, or undefined when there is none (secrets). */
  readonly flag: string | undefined;
  readonly env: string;
  /** The expected form, as errors and the README say it. */
  readonly form: string;
  readonly schema: z.ZodType;
  readonly fromText: (text: string) => unknown;
  readonly defaultValue?: (ctx: DefaultContext) => unknown;
  /** How the default reads in the README. */
  readonly defaultText: string;
  /** Secrets come from the environment only (never a flag, never the file) and are never printed. */
  readonly secret?: boolean;
  /** A list setting: flags repeat (`--relay a --relay b`) and accept commas. */
  readonly list?: boolean;
  readonly boolean?: boolean;
  /** How a bad value is shown in an error, when not as given (a URL's password is masked). */
  readonly show?: (raw: unknown) => unknown;
}

const list = (text: string): string[] => text.split(',').map((s) => s.trim()).filter((s) => s !== '');
const asIs = (text: string): string => text;
// a number only when the whole text is one; anything else stays text so the schema names it
const number = (text: string): unknown => (text.trim() !== '' && Number.isFinite(Number(text)) ? Number(text) : text);
const bool = (text: string): unknown => (text === 'true' || text === '1' ? true : text === 'false' || text === '0' ? false : text);

const wsUrl = z.string().regex(/^wss?:\/\/[^\s]+$/);
const httpUrl = z.string().regex(/^https?:\/\/[^\s]+$/);
const positiveSat = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);
const nonNegative = z.number().nonnegative().finite();
const nonEmpty = z.string().min(1);

export const PROFILES = ['cheapest', 'fastest', 'balanced', 'trusted'] as const;
export const MODES = ['xcashu', 'session'] as const;
export const PROVIDER_ADDRESSES = ['public', 'loopback', 'any'] as const;
export const ENGINES = ['vllm', 'ollama', 'openai', 'llama.cpp'] as const;

/** The mint a new wallet uses when none is named. */
export const DEFAULT_MINTS: readonly string[] = ['https://mint.minibits.cash/Bitcoin'];
/**
 * The default selection profile. `balanced` weighs price against latency and reliability: on an
 * open market the cheapest ask is often the least reliable node, and a failed request costs a
 * retry elsewhere, so the plain price order is an explicit choice (`cheapest`), not the default.
 */
export const DEFAULT_PROFILE = 'balanced';

const setting = (spec: SettingSpec): SettingSpec => spec;

/** A setting's value with any password masked for display (redactLocation). */
const withoutPassword = (raw: unknown): unknown => (typeof raw === 'string' ? redactLocation(raw) : raw);
const postgresUrl = z.string().regex(/^postgres(ql)?:\/\/[^\s/]+\/[^\s]+$/);

const RELAYS = setting({ key: 'relays', flag: 'relay', env: 'ROUTSTR_KIT_RELAYS', list: true, form: 'ws:// or wss:// URLs (comma-separated in the environment)', schema: z.array(wsUrl), fromText: list, defaultValue: () => [...DEFAULT_MARKET_RELAYS], defaultText: DEFAULT_MARKET_RELAYS.join(', ') });
const MINTS = setting({ key: 'mints', flag: 'mint', env: 'ROUTSTR_KIT_MINTS', list: true, form: 'at least one http:// or https:// mint URL (comma-separated in the environment)', schema: z.array(httpUrl).min(1), fromText: list, defaultValue: () => [...DEFAULT_MINTS], defaultText: DEFAULT_MINTS.join(', ') });
const MNEMONIC = setting({ key: 'mnemonic', flag: undefined, env: 'ROUTSTR_KIT_MNEMONIC', secret: true, form: 'a BIP-39 English mnemonic (environment only)', schema: nonEmpty, fromText: asIs, defaultText: 'a new seed, kept in the wallet file' });

const PROVIDER_ADDRESS_SETTING = setting({ key: 'providerAddresses', flag: 'provider-addresses', env: 'ROUTSTR_KIT_PROVIDER_ADDRESSES', form: `one of ${PROVIDER_ADDRESSES.join(', ')}`, schema: z.enum(PROVIDER_ADDRESSES), fromText: asIs, defaultValue: () => 'public', defaultText: 'public' });

/** Settings every buyer entry point reads (adapters, MCP server, wallet commands). */
export const BUYER_SETTINGS: readonly SettingSpec[] = [
  RELAYS,
  MINTS,
  setting({ key: 'walletPath', flag: 'wallet', env: 'ROUTSTR_KIT_WALLET', form: 'a file path (the wallet\'s sqlite database) or a postgres:// URL (a PostgreSQL database several processes share)', schema: nonEmpty, fromText: asIs, defaultValue: ({ home }) => join(home, '.routstr-kit', 'wallet.db'), defaultText: '~/.routstr-kit/wallet.db' }),
  setting({ key: 'profile', flag: 'profile', env: 'ROUTSTR_KIT_PROFILE', form: `one of ${PROFILES.join(', ')}`, schema: z.enum(PROFILES), fromText: asIs, defaultValue: () => DEFAULT_PROFILE, defaultText: DEFAULT_PROFILE }),
  setting({ key: 'mode', flag: 'mode', env: 'ROUTSTR_KIT_MODE', form: `one of ${MODES.join(', ')}`, schema: z.enum(MODES), fromText: asIs, defaultValue: () => 'xcashu', defaultText: 'xcashu' }),
  PROVIDER_ADDRESS_SETTING,
  setting({ key: 'budget.perRequestMaxSat', flag: 'budget-per-request-sat', env: 'ROUTSTR_KIT_BUDGET_PER_REQUEST_SAT', form: 'a positive whole number of sats', schema: positiveSat, fromText: number, defaultText: 'no cap' }),
  setting({ key: 'budget.perRunSat', flag: 'budget-per-run-sat', env: 'ROUTSTR_KIT_BUDGET_PER_RUN_SAT', form: 'a positive whole number of sats', schema: positiveSat, fromText: number, defaultText: 'no cap' }),
  setting({ key: 'budget.totalSat', flag: 'budget-total-sat', env: 'ROUTSTR_KIT_BUDGET_TOTAL_SAT', form: 'a positive whole number of sats', schema: positiveSat, fromText: number, defaultText: 'no cap' }),
  MNEMONIC,
];

/** Settings of the MCP server only. */
export const MCP_SETTINGS: readonly SettingSpec[] = [
  setting({ key: 'mcp.httpPort', flag: 'http', env: 'ROUTSTR_KIT_MCP_HTTP_PORT', form: 'a port number 0-65535', schema: z.number().int().min(0).max(65535), fromText: number, defaultText: 'stdio (no HTTP)' }),
  setting({ key: 'mcp.httpHost', flag: 'host', env: 'ROUTSTR_KIT_MCP_HTTP_HOST', form: 'an address to listen on', schema: nonEmpty, fromText: asIs, defaultValue: () => '127.0.0.1', defaultText: '127.0.0.1' }),
];

/** Settings of a provider node (`routstr-kit provider`); it shares `relays` and `mints` with buyers. */
export const PROVIDER_SETTINGS: readonly SettingSpec[] = [
  RELAYS,
  MINTS,
  setting({ key: 'provider.engine', flag: 'engine', env: 'ROUTSTR_KIT_PROVIDER_ENGINE', form: `one of ${ENGINES.join(', ')}`, schema: z.enum(ENGINES), fromText: asIs, defaultText: '(required)' }),
  setting({ key: 'provider.upstream', flag: 'upstream', env: 'ROUTSTR_KIT_PROVIDER_UPSTREAM', list: true, form: 'http:// or https:// URLs of running engine replicas (repeat the flag; comma-separated in the environment; one URL or a list in the file)', schema: z.preprocess((v) => (typeof v === 'string' ? [v] : v), z.array(httpUrl).min(1)), fromText: list, defaultText: '(this or provider.model)' }),
  setting({ key: 'provider.model', flag: 'model', env: 'ROUTSTR_KIT_PROVIDER_MODEL', form: 'a path to a .gguf file', schema: nonEmpty, fromText: asIs, defaultText: '(this or provider.upstream)' }),
  setting({ key: 'provider.price', flag: 'price', env: 'ROUTSTR_KIT_PROVIDER_PRICE', form: 'fixed:<prompt>,<completion> (integers, msat per million tokens) or dynamic', schema: z.string().regex(/^(fixed:\d+,\d+|dynamic)$/), fromText: asIs, defaultValue: () => 'fixed:1000000,2000000', defaultText: 'fixed:1000000,2000000' }),
  ...(['electricity', 'tokens-per-second', 'margin', 'power', 'pue', 'floor', 'max'] as const).map((flag) =>
    setting({ key: `provider.${camel(flag)}`, flag, env: `ROUTSTR_KIT_PROVIDER_${flag.toUpperCase().replaceAll('-', '_')}`, form: 'a non-negative number', schema: nonNegative, fromText: number, defaultText: flag === 'electricity' || flag === 'tokens-per-second' || flag === 'margin' ? '(required with dynamic)' : flag === 'pue' ? '1' : flag === 'power' ? 'measured (nvidia-smi) or none' : 'none' }),
  ),
  setting({ key: 'provider.nvidiaSmi', flag: 'nvidia-smi', env: 'ROUTSTR_KIT_PROVIDER_NVIDIA_SMI', form: 'the nvidia-smi binary to sample', schema: nonEmpty, fromText: asIs, defaultText: 'not sampled' }),
  setting({ key: 'provider.dataDir', flag: 'data-dir', env: 'ROUTSTR_KIT_PROVIDER_DATA_DIR', form: 'a directory path', schema: nonEmpty, fromText: asIs, defaultValue: ({ home }) => join(home, '.routstr-kit', 'provider'), defaultText: '~/.routstr-kit/provider' }),
  setting({ key: 'provider.host', flag: 'host', env: 'ROUTSTR_KIT_PROVIDER_HOST', form: 'an address to listen on', schema: nonEmpty, fromText: asIs, defaultText: '127.0.0.1' }),
  setting({ key: 'provider.port', flag: 'port', env: 'ROUTSTR_KIT_PROVIDER_PORT', form: 'a port number 0-65535', schema: z.number().int().min(0).max(65535), fromText: number, defaultText: 'any free port' }),
  setting({ key: 'provider.publicUrl', flag: 'public-url', env: 'ROUTSTR_KIT_PROVIDER_PUBLIC_URL', form: 'an http:// or https:// URL buyers reach', schema: httpUrl, fromText: asIs, defaultText: 'the listening URL' }),
  setting({ key: 'provider.name', flag: 'name', env: 'ROUTSTR_KIT_PROVIDER_NAME', form: 'text', schema: nonEmpty, fromText: asIs, defaultText: '(none)' }),
  setting({ key: 'provider.about', flag: 'about', env: 'ROUTSTR_KIT_PROVIDER_ABOUT', form: 'text', schema: nonEmpty, fromText: asIs, defaultText: '(none)' }),
  setting({ key: 'provider.database', flag: 'database', env: 'ROUTSTR_KIT_PROVIDER_DATABASE', form: 'a postgres://[user@]host[:port]/dbname URL (the password from PGPASSWORD or ~/.pgpass)', schema: postgresUrl, fromText: asIs, show: withoutPassword, defaultText: 'SQLite files in the data dir' }),
  setting({ key: 'provider.maxConcurrency', flag: 'max-concurrency', env: 'ROUTSTR_KIT_PROVIDER_MAX_CONCURRENCY', form: 'a positive whole number', schema: z.number().int().positive(), fromText: number, defaultText: '2' }),
  setting({ key: 'provider.queue', flag: 'queue', env: 'ROUTSTR_KIT_PROVIDER_QUEUE', form: 'a whole number >= 0', schema: z.number().int().nonnegative(), fromText: number, defaultText: '8' }),
  setting({ key: 'nsec', flag: undefined, env: 'ROUTSTR_KIT_NSEC', secret: true, form: 'a Nostr secret key, nsec or hex (environment only)', schema: nonEmpty, fromText: asIs, defaultText: 'a new key in the data dir' }),
  setting({ key: 'adminToken', flag: undefined, env: 'ROUTSTR_KIT_ADMIN_TOKEN', secret: true, form: 'a token (environment only)', schema: nonEmpty, fromText: asIs, defaultText: 'admin API off' }),
  MNEMONIC,
  setting({ key: 'upstreamApiKey', flag: undefined, env: 'ROUTSTR_KIT_UPSTREAM_API_KEY', secret: true, form: "the engine's API key (environment only)", schema: nonEmpty, fromText: asIs, defaultText: '(none)' }),
];

/** Settings of the market-data service (`routstr-kit market serve`); it shares `relays` and `providerAddresses` with buyers. */
export const MARKET_SERVE_SETTINGS: readonly SettingSpec[] = [
  RELAYS,
  PROVIDER_ADDRESS_SETTING,
  setting({ key: 'market.store', flag: 'store', env: 'ROUTSTR_KIT_MARKET_STORE', form: 'a sqlite file path or a postgres:// URL', schema: nonEmpty, fromText: asIs, defaultValue: ({ home }) => join(home, '.routstr-kit', 'market.db'), defaultText: '~/.routstr-kit/market.db' }),
  setting({ key: 'market.host', flag: 'host', env: 'ROUTSTR_KIT_MARKET_HOST', form: 'an address to listen on', schema: nonEmpty, fromText: asIs, defaultValue: () => '127.0.0.1', defaultText: '127.0.0.1' }),
  setting({ key: 'market.port', flag: 'port', env: 'ROUTSTR_KIT_MARKET_PORT', form: 'a port number 0-65535', schema: z.number().int().min(0).max(65535), fromText: number, defaultValue: () => 8421, defaultText: '8421' }),
];

function camel(flag: string): string {
  return flag.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
}

/** Every setting once (for the file schema and the README table). */
export const ALL_SETTINGS: readonly SettingSpec[] = [...new Map([...BUYER_SETTINGS, ...MCP_SETTINGS, ...PROVIDER_SETTINGS, ...MARKET_SERVE_SETTINGS].map((s) => [s.key, s])).values()];
