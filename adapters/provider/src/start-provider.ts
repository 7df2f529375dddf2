/**
 * `startProvider`: sells a vLLM, Ollama, llama.cpp (or any OpenAI-compatible) engine, or several
 * replicas of one, on the Routstr market. Opens the node's wallet and payee books (recovering anything a crash left),
 * reads the engine's models, prices them (a market maker over a fixed or dynamic board, or a
 * board given by the caller), and serves the routstr-core compatible HTTP API.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { generateSecretKey, getPublicKey, nip19 } from 'nostr-tools';
import { parseSecretKey } from './secret-key.ts';
import { DEFAULT_INVENTORY_POLICY, msatPerMtok, openPayee, openWallet, type Payee } from '@routstr-kit/core';
import {
  startMarketMaker,
  type DynamicBoardConfig,
  type MarketMaker,
  type ModelPrice,
  type NodeLoad,
  type PriceBoard,
  type TelemetryOptions,
  type ClusterOptions,
} from './market-maker/index.ts';
import { openBatches, type BatchService } from './batches/index.ts';
import { Admission } from './node/admission.ts';
import { ReplicaPool, replicaUrls, type ProbePolicy } from './node/replica-pool.ts';
import { createNodeServer } from './node/server.ts';
import { checkDatabaseReachable, checkDatabaseUrl, ProviderDatabaseError } from './storage/provider-database.ts';

/** The node's version string in `/v1/info` and the announcement. */
export const PROVIDER_VERSION = '0.1.0';

export interface StartProviderOptions {
  /** Kind of engine behind `upstream` (becomes `upstream_provider_id`); vllm and ollama replicas are read for load. */
  engine: 'vllm' | 'ollama' | 'openai' | 'llama.cpp';
  /**
   * Engine base URL (without `/v1`), or the URLs of several replicas of that engine: each request
   * goes to the least loaded replica serving its model, a failed one is probed back, and the load
   * for pricing is read from every one (vLLM `/metrics`, Ollama `/api/ps`).
   */
  upstream: string | readonly string[];
  /** Key the engine wants, if any (never logged). */
  upstreamApiKey?: string;
  /** Trusted mints: tokens from others are refused; the first is where change is made. */
  mints: string[];
  /** Nostr relays to announce on (and tick to); none: no announcement. */
  relays?: string[];
  /** Limit sell: msat/Mtok for every model, or per model. Ignored when `pricing` or `board` is given. */
  price?: { prompt: number; completion: number } | ModelPrice[];
  /** Dynamic pricing by GPU load (the market maker's config). */
  pricing?: DynamicBoardConfig;
  /** A price board to bill from instead of running a market maker (tests, custom pricing). */
  board?: PriceBoard;
  /** Folder for wallet.db, payee.db, batches.db and the generated Nostr key (without `database`). */
  dataDir: string;
  /**
   * PostgreSQL (`postgres://…`) holding every book of the node instead of SQLite files in `dataDir`:
   * the wallet, the payee (accounts, balances, reservations, X-Cashu records, spent-token journal,
   * refunds), the batch store, the market maker's quote book and announcer lease. Several node
   * processes with the same `nsec` and `publicUrl` on one database serve as one provider (behind a
   * reverse proxy, any request to any process): one of them at a time announces and ticks, priced
   * from the load of all. Needs `nsec` (every process must announce with the same key). Checked at
   * start: a bad URL or a database that does not answer throws `ProviderDatabaseError`.
   */
  database?: string;
  /** Wallet file (default `<dataDir>/wallet.db`; with `database`, the wallet is there: not both). */
  walletPath?: string;
  mnemonic?: string;
  /** Worker threads for the wallet's swap curve maths (openWallet's `curveWorkers`; 0 = on the event loop). */
  curveWorkers?: number;
  /** Announcement key (nsec1… or 64 hex); default: generated once and kept in dataDir. Never logged. */
  nsec?: string;
  /** Bearer token of `/admin/api/*`; without it the admin API is off. Never logged. */
  adminToken?: string;
  /** Let non-loopback callers use the admin API (default false). */
  allowRemoteAdmin?: boolean;
  /**
   * Requests run on the engine at once, over all replicas together (default 2). The node's wallet keeps
   * exact change for that many X-Cashu requests at once: that many proofs of each denomination (at least 4).
   */
  maxConcurrency?: number;
  /** Requests that may wait for a slot; beyond that 429 (default 8). */
  queueSize?: number;
  host?: string;
  port?: number;
  /** The URL clients use (default: the listening address). */
  publicUrl?: string;
  name?: string;
  about?: string;
  /** BTC/USD for the USD `pricing` fields (default 100000). */
  btcUsd?: number;
  /** Context length when the engine does not say (default 4096), or to override it. */
  contextLength?: number;
  /** Output tokens a request may ask for (default: half the context). */
  maxCompletionTokens?: number;
  /** GPU telemetry of this host (`nvidia-smi`); the engines' own telemetry follows from `engine` and `upstream`. */
  telemetry?: Pick<TelemetryOptions, 'nvidiaSmi'>;
  /** How a failed replica is probed back (default: first after 250 ms, doubling to 10 s). */
  replicaProbe?: ProbePolicy;
  tick?: { heartbeatS?: number; expirationS?: number; intervalMs?: number; keep?: number };
  /**
   * With `database`: tuning of the processes' shared market maker (this process's id, how soon
   * another takes the announcer lease over, how long a process's load sample counts).
   */
  cluster?: Omit<ClusterOptions, 'database'>;
  log?: (message: string) => void;
}

export interface RunningProvider {
  /** Base URL (without `/v1`). */
  url: string;
  /** Hex pubkey of the announcement key. */
  pubkey: string;
  npub: string;
  board: PriceBoard;
  load: NodeLoad;
  /** The engine replicas: their health and the requests in flight on each. */
  replicas: Pick<ReplicaPool, 'state' | 'onChange'>;
  payee: Payee;
  marketMaker: MarketMaker | undefined;
  /** The Batch API (store, runner, progress events). */
  batches: BatchService;
  stop(): Promise<void>;
}

const hexToBytes = (hex: string): Uint8Array => new Uint8Array(Buffer.from(hex, 'hex'));

function secretKeyFrom(options: StartProviderOptions): Uint8Array {
  if (options.nsec) return parseSecretKey(options.nsec);
  const file = join(options.dataDir, 'nostr-secret-key');
  if (existsSync(file)) return hexToBytes(readFileSync(file, 'utf8').trim());
  const key = generateSecretKey();
  writeFileSync(file, Buffer.from(key).toString('hex'), { mode: 0o600 });
  chmodSync(file, 0o600);
  return key;
}

/** Starts a provider node; see StartProviderOptions. */
export async function startProvider(options: StartProviderOptions): Promise<RunningProvider> {
  // a bad upstream list or database setting is refused before anything is created
  const upstreams = replicaUrls(options.upstream);
  const database = options.database;
  if (database !== undefined) {
    checkDatabaseUrl(database);
    if (!options.nsec) throw new ProviderDatabaseError('invalid_database_options', 'database needs nsec: every node process of one provider announces with the same key (ROUTSTR_KIT_NSEC)');
    if (options.walletPath !== undefined) throw new ProviderDatabaseError('invalid_database_options', 'give database or walletPath, not both: with database the wallet lives there');
    await checkDatabaseReachable(database);
  } else if (options.cluster !== undefined) {
    throw new ProviderDatabaseError('invalid_database_options', 'cluster settings need database (the PostgreSQL the processes share)');
  }
  // the folder holds the wallet (mnemonic, proofs), payee.db and the Nostr key: the user's alone
  mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  const secretKey = secretKeyFrom(options);
  const pubkey = getPublicKey(secretKey);
  const wallet = await openWallet({
    path: options.walletPath ?? database ?? join(options.dataDir, 'wallet.db'),
    mints: options.mints,
    ...(options.mnemonic ? { mnemonic: options.mnemonic } : {}),
    ...(options.curveWorkers !== undefined ? { curveWorkers: options.curveWorkers } : {}),
    // X-Cashu change takes at most one proof of each denomination: as many of each as requests run at once
    // pay every concurrent change from the inventory, with no swap on a request's path.
    inventory: { ...DEFAULT_INVENTORY_POLICY, perDenomination: inventoryDepth(options.maxConcurrency) },
    // The payee adopts change tokens a crash left journaled; the wallet must not take them back first.
    reclaimOnOpen: false,
  });
  const cleanup: Array<() => Promise<void> | void> = [() => wallet.close()];
  const stopAll = async (): Promise<void> => {
    for (const f of cleanup.reverse()) await f();
  };
  try {
    const payee = await openPayee({ wallet, dbPath: database ?? join(options.dataDir, 'payee.db') });
    cleanup.push(() => payee.close());
    const replicas = new ReplicaPool(upstreams, {
      ...(options.upstreamApiKey ? { apiKey: options.upstreamApiKey } : {}),
      ...(options.replicaProbe ? { probe: options.replicaProbe } : {}),
      ...(options.log ? { log: options.log } : {}),
    });
    cleanup.push(() => replicas.stop());
    const fetched = await replicas.open(options.contextLength ?? 4096);
    const engineModels = options.contextLength ? fetched.map((m) => ({ ...m, contextLength: options.contextLength as number })) : fetched;
    if (engineModels.length === 0) throw new Error('the engine serves no models');
    const admission = new Admission({ maxConcurrency: options.maxConcurrency ?? 2, queueSize: options.queueSize ?? 8 });
    cleanup.push(() => admission.stop());
    const catalogOptions = { btcUsd: options.btcUsd ?? 100_000, engine: options.engine, created: Math.floor(Date.now() / 1000), ...(options.maxCompletionTokens ? { maxCompletionTokens: options.maxCompletionTokens } : {}) };

    const host = options.host ?? '127.0.0.1';
    const mints = wallet.mints;
    let marketMaker: MarketMaker | undefined;
    let board: PriceBoard;
    // The listening URL is needed for the announcement, so the server starts before the market maker.
    let boardRef: PriceBoard | undefined = options.board;
    const lazyBoard: PriceBoard = {
      // Until pricing is up (a moment after listen) nothing is for sale.
      current: () => boardRef?.current() ?? new Map(),
      quote: (id, model, nowS) => boardRef?.quote(id, model, nowS) ?? { ok: false, reason: 'unknown' },
      onChange: (l) => boardRef?.onChange(l) ?? (() => undefined),
    };
    const batches = await openBatches({
      dbPath: join(options.dataDir, 'batches.db'), ...(database !== undefined ? { database } : {}), payee, admission, board: lazyBoard, engineModels, catalog: catalogOptions, replicas,
      ...(options.upstreamApiKey ? { upstreamApiKey: options.upstreamApiKey } : {}),
    });
    cleanup.push(() => batches.close());
    const npub = nip19.npubEncode(pubkey);
    const info = { name: options.name ?? 'routstr-kit provider', about: options.about ?? 'A routstr-kit provider node', version: PROVIDER_VERSION, npub, mints, httpUrl: options.publicUrl ?? '' };
    const server = createNodeServer({
      replicas,
      ...(options.upstreamApiKey ? { upstreamApiKey: options.upstreamApiKey } : {}),
      payee,
      admission,
      board: lazyBoard,
      engineModels,
      catalog: catalogOptions,
      info,
      ...(options.adminToken ? { adminToken: options.adminToken } : {}),
      allowRemoteAdmin: options.allowRemoteAdmin ?? false,
      batches,
      priceInputs: () => ({ ...(marketMaker ? marketMaker.state() : { prices: [...lazyBoard.current().values()] }), replicas: replicas.state() }),
      ...(options.log ? { log: options.log } : {}),
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    cleanup.push(
      () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        }),
    );
    const { port } = server.address() as AddressInfo;
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    if (!info.httpUrl) info.httpUrl = options.publicUrl ?? url;

    if (options.board) {
      board = options.board;
    } else {
      const modelIds = engineModels.map((m) => m.id);
      const fixed = Array.isArray(options.price)
        ? options.price
        : modelIds.map((model) => ({ model, prompt: msatPerMtok(options.price && !Array.isArray(options.price) ? options.price.prompt : 1_000_000), completion: msatPerMtok(options.price && !Array.isArray(options.price) ? options.price.completion : 3_000_000) }));
      marketMaker = await startMarketMaker({
        board: options.pricing ?? { mode: 'fixed', prices: fixed },
        models: modelIds,
        load: admission,
        telemetry: {
          ...(options.engine === 'vllm' ? { vllmMetricsUrls: upstreams.map((u) => `${u}/metrics`) } : {}),
          ...(options.engine === 'ollama' ? { ollamaUrls: upstreams } : {}),
          ...(options.telemetry?.nvidiaSmi !== undefined ? { nvidiaSmi: options.telemetry.nvidiaSmi } : {}),
        },
        ...(options.relays && options.relays.length > 0
          ? { nostr: { relays: options.relays, secretKey, urls: [info.httpUrl], mints: [...mints], version: PROVIDER_VERSION, name: info.name, about: info.about } }
          : {}),
        ...(options.tick ? { tick: options.tick } : {}),
        ...(database !== undefined ? { cluster: { ...options.cluster, database } } : {}),
        ...(options.log ? { log: options.log } : {}),
      });
      marketMaker.start();
      const mm = marketMaker;
      cleanup.push(() => mm.stop());
      board = marketMaker;
    }
    boardRef = board;
    await batches.start();
    let stopped: Promise<void> | undefined;
    return { url, pubkey, npub, board, load: admission, replicas, payee, marketMaker, batches, stop: () => (stopped ??= stopAll()) };
  } catch (error) {
    await stopAll().catch(() => undefined);
    throw error;
  }
}

/** Proofs of each denomination the node's wallet keeps: its concurrency, 4 to 64 (a bad value is Admission's to refuse). */
function inventoryDepth(maxConcurrency: number | undefined): number {
  const slots = maxConcurrency !== undefined && Number.isSafeInteger(maxConcurrency) ? maxConcurrency : 2;
  return Math.min(64, Math.max(DEFAULT_INVENTORY_POLICY.perDenomination, slots));
}
