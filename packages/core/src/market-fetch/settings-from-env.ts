import type { PaymentMode } from '../payments/index.ts';
import { parseProviderAddressPolicy, type SelectionProfile } from '../market/index.ts';
import type { RoutstrSettings } from './market-fetch.ts';

const list = (value: string | undefined): string[] | undefined => {
  const items = value?.split(',').map((s) => s.trim()).filter((s) => s !== '');
  return items && items.length > 0 ? items : undefined;
};

const int = (value: string | undefined): number | undefined => (value && /^\d+$/.test(value.trim()) ? Number(value.trim()) : undefined);

/**
 * Settings from the environment: ROUTSTR_KIT_WALLET (wallet file), ROUTSTR_KIT_RELAYS and
 * ROUTSTR_KIT_MINTS (comma-separated), ROUTSTR_KIT_MODE (xcashu|session), ROUTSTR_KIT_PROFILE,
 * ROUTSTR_KIT_BUDGET_SAT (total), ROUTSTR_KIT_MAX_REQUEST_SAT (per request) and
 * ROUTSTR_KIT_PROVIDER_ADDRESSES (public|loopback|any: which provider addresses may be dialed).
 */
export function settingsFromEnv(env: Record<string, string | undefined> = process.env): RoutstrSettings {
  const settings: RoutstrSettings = {};
  if (env['ROUTSTR_KIT_WALLET']) settings.walletPath = env['ROUTSTR_KIT_WALLET'];
  const relays = list(env['ROUTSTR_KIT_RELAYS']);
  if (relays) settings.relays = relays;
  const mints = list(env['ROUTSTR_KIT_MINTS']);
  if (mints) settings.mints = mints;
  const addresses = parseProviderAddressPolicy(env['ROUTSTR_KIT_PROVIDER_ADDRESSES']);
  if (addresses) settings.allowProviderAddresses = addresses;
  const mode = env['ROUTSTR_KIT_MODE'];
  if (mode === 'xcashu' || mode === 'session') settings.mode = mode as PaymentMode;
  const profile = env['ROUTSTR_KIT_PROFILE'];
  if (profile === 'cheapest' || profile === 'fastest' || profile === 'balanced' || profile === 'trusted') settings.profile = profile as SelectionProfile;
  const total = int(env['ROUTSTR_KIT_BUDGET_SAT']);
  const perRequest = int(env['ROUTSTR_KIT_MAX_REQUEST_SAT']);
  if (total !== undefined || perRequest !== undefined) settings.budget = { ...(total !== undefined ? { totalSat: total } : {}), ...(perRequest !== undefined ? { perRequestMaxSat: perRequest } : {}) };
  return settings;
}
