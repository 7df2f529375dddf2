export { startHostileProvider } from './hostile-provider.ts';
export type { HostileBehaviour, HostileProvider, HostileProviderOptions, HostileStats } from './hostile-provider.ts';
export { activeKeysetId, forgeChange, spentChange, type Forgery } from './forged-change.ts';
