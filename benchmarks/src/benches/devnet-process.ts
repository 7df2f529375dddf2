import { fileURLToPath } from 'node:url';
import type { EngineFlavour } from '@routstr-kit/devnet';
import { spawnReady } from './child-ready.ts';

/** A mint behind a timing proxy, running in a child process. */
export interface MintProcess {
  /** The mint itself. */
  mintUrl: string;
  /** The timing proxy in front of the mint: the URL wallets and the node use. */
  proxyUrl: string;
  stop(): Promise<void>;
}

/** An engine and a mint (behind a timing proxy) running in a child process. */
export interface DevnetProcess extends MintProcess {
  engineUrl: string;
  model: string;
  contextSize: number;
}

const child = fileURLToPath(new URL('./devnet-child.ts', import.meta.url));

/** Spawns devnet-child.ts (engine + mint) and resolves once it prints its URLs. */
export function spawnDevnet(options: { flavour: EngineFlavour; maxConcurrency: number }): Promise<DevnetProcess> {
  return spawnReady<Omit<DevnetProcess, 'stop'>>(child, options);
}

/** Spawns devnet-child.ts with the mint (and its timing proxy) only, for benches on another upstream. */
export function spawnMint(): Promise<MintProcess> {
  return spawnReady<Omit<MintProcess, 'stop'>>(child, { engine: false });
}
