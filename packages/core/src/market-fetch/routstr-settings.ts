/** How an adapter reaches the market (wallet, relays, mints, payment mode) and how one of its models buys. */
import type { EcashWallet } from '../wallet/index.ts';
import type { Market, SelectionProfile } from '../market/index.ts';
import type { OrderClock } from '../orders/index.ts';
import type { MaxPrice, PaymentMode } from '../payments/index.ts';
import { resolveKitConfig, type Env, type KitBudget, type KitConfig, type ProviderAddresses } from '../config/index.ts';
import { RoutstrConfigError } from './errors.ts';

/**
 * How a buyer reaches the market: a wallet (or its file), relays, mints, and how it pays. Every
 * setting left out is taken from the environment, the config file, then the defaults (core `config`).
 */
export interface RoutstrSettings {
  /** An open wallet (the caller keeps ownership: it is not closed by `close()`). */
  wallet?: EcashWallet;
  /** Or the sqlite file of one, opened on first use with `mints` (default ~/.routstr-kit/wallet.db). */
  walletPath?: string;
  /** Nostr relays announcing providers. */
  relays?: readonly string[];
  /** Mints the wallet uses. */
  mints?: readonly string[];
  /** An open market (the caller keeps ownership); default: one opened on `relays`. */
  market?: Market;
  /** `xcashu` (default): a token per request; `session`: a funded key per provider. */
  mode?: PaymentMode;
  /** Caps checked before any token leaves; `totalSat` is kept in the wallet's database across restarts. */
  budget?: KitBudget;
  profile?: SelectionProfile;
  /** Which provider addresses may be dialled (`public`, `loopback`, `any`). */
  providerAddresses?: ProviderAddresses;
  /** The config file (default: ROUTSTR_KIT_CONFIG, else ~/.routstr-kit/config.json if present). */
  configPath?: string;
  /** How long a market buy waits for a first ask of its model on a book still filling (default 15 000 ms). */
  bookWaitMs?: number;
  /** Clock of limit-order deadlines (default the wall clock; tests move a ManualOrderClock). */
  clock?: OrderClock;
}

/** Settings after the config contract filled every gap. */
export type ResolvedRoutstrSettings = RoutstrSettings & Pick<KitConfig, 'walletPath' | 'relays' | 'mints' | 'mode' | 'profile' | 'providerAddresses' | 'budget'>;

/**
 * Fills what `settings` leave out from `env`, the config file and the defaults (explicit settings
 * win); a bad value anywhere throws ConfigError naming the setting and its source.
 */
export function resolveRoutstrSettings(settings: RoutstrSettings, env: Env): ResolvedRoutstrSettings {
  return fromKitConfig(settings, resolveKitConfig({ options: kitOptions(settings), env }));
}

/** The settings the config contract knows (not the open wallet or market, not the book wait or clock). */
export function kitOptions(settings: RoutstrSettings): Record<string, unknown> {
  const { wallet: _wallet, market: _market, bookWaitMs: _wait, clock: _clock, ...options } = settings;
  return options;
}

/** `settings` with every gap filled from a resolved `config`. */
export function fromKitConfig(settings: RoutstrSettings, config: KitConfig): ResolvedRoutstrSettings {
  return { ...settings, walletPath: config.walletPath, relays: config.relays, mints: config.mints, mode: config.mode, profile: config.profile, providerAddresses: config.providerAddresses, budget: config.budget };
}

/** How one model buys: now at the best ask (`market`), or when the book crosses `maxPrice` (`limit`). */
export interface OrderSettings {
  order?: 'market' | 'limit';
  /** Most a request may cost: msats for its shape, or msat/Mtok ceilings. Required with `limit`. */
  maxPrice?: MaxPrice;
  /** Limit orders: a Date, or ms after the call starts (default 600 000). */
  deadline?: Date | number;
}

/** Checks order settings once, where the model is made. */
export function checkOrderSettings(settings: OrderSettings): void {
  if (settings.order === 'limit' && settings.maxPrice === undefined) throw new RoutstrConfigError('a limit order needs maxPrice');
  if (settings.order !== undefined && settings.order !== 'market' && settings.order !== 'limit') throw new RoutstrConfigError(`order must be 'market' or 'limit', not ${String(settings.order)}`);
}
