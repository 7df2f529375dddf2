import type { AddressInfo } from 'node:net';
import { CashuMint, type MintStats } from './cashu-mint.ts';
import { createMintServer } from './http-server.ts';

export { fakeInvoice } from './fake-invoice.ts';
export { NutCode, NutError } from './nut-error.ts';
export type { MintStats } from './cashu-mint.ts';

export interface MintOptions {
  host?: string;
  port?: number;
  /** ':memory:' (default) or a file path, which makes the mint durable across restarts. */
  dbPath?: string;
  /** hex; keys derive deterministically from it, so a restart on the same db serves the same keyset. */
  seed?: string;
  inputFeePpk?: number;
  unit?: 'sat';
  /** 0 (default): mint quotes are PAID at once; > 0: UNPAID until that delay passes. */
  quotePaidAfterMs?: number;
  /** Clock in unix ms; default Date.now. */
  now?: () => number;
  name?: string;
}

export interface RunningMint {
  /** e.g. 'http://127.0.0.1:41234' (no trailing slash) */
  url: string;
  keysetId: string;
  /** Close the server and the database. */
  stop(): Promise<void>;
  /** Counters of operations done and refusals by NUT code. */
  stats(): MintStats;
}

/** A fixed devnet seed (sha256 of 'routstr-kit devnet mint'), so every devnet mint without a seed serves the same keyset. */
export const DEVNET_MINT_SEED = '4ccfa15352b0ea3e20b8d8cb864c677b1e77d33374d6aa766f5f8aafcec5d58d';

/** Start a NUT-00…09/12 Cashu mint with a fake Lightning backend on loopback. */
export async function startMint(options: MintOptions = {}): Promise<RunningMint> {
  const seed = options.seed ?? DEVNET_MINT_SEED;
  if (!/^(?:[0-9a-fA-F]{2}){16,64}$/.test(seed)) throw new RangeError('startMint: seed must be 16 to 64 bytes of hex');
  const inputFeePpk = options.inputFeePpk ?? 0;
  if (!Number.isSafeInteger(inputFeePpk) || inputFeePpk < 0) throw new RangeError('startMint: inputFeePpk must be a non-negative integer');
  const quotePaidAfterMs = options.quotePaidAfterMs ?? 0;
  if (!(quotePaidAfterMs >= 0)) throw new RangeError('startMint: quotePaidAfterMs must be >= 0');

  const mint = new CashuMint({
    dbPath: options.dbPath ?? ':memory:',
    seedHex: seed.toLowerCase(),
    unit: options.unit ?? 'sat',
    inputFeePpk,
    quotePaidAfterMs,
    now: options.now ?? Date.now,
    name: options.name ?? 'routstr-kit devnet mint',
  });
  const server = createMintServer(mint);
  const host = options.host ?? '127.0.0.1';
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    mint.close();
    throw error;
  }
  const { port } = server.address() as AddressInfo;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  let stopped: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${port}`,
    keysetId: mint.keysetId,
    stats: () => mint.stats(),
    stop: () => {
      stopped ??= new Promise<void>((resolve) => {
        server.close(() => {
          mint.close();
          resolve();
        });
        server.closeAllConnections();
      });
      return stopped;
    },
  };
}
