/**
 * The node's Batch API (OpenAI Files + Batches, held for price): a store (SQLite, or PostgreSQL shared by several processes), a runner
 * that spends idle engine slots on lines priced within each batch's ceiling, and the HTTP routes.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Model, Payee } from '@routstr-kit/core';
import type { ModelPrice, PriceBoard } from '../market-maker/price-board.ts';
import type { Admission } from '../node/admission.ts';
import { modelFor, type CatalogOptions, type EngineModel } from '../node/catalog.ts';
import type { ReplicaPool } from '../node/replica-pool.ts';
import { handleBatchRoute, isBatchPath } from './batch-routes.ts';
import { BatchRunner } from './batch-runner.ts';
import type { BatchStore } from './batch-store.ts';
import { isPostgresUrl, openBatchStore } from './open-batch-store.ts';

export { BatchError, type BatchErrorCode } from './batch-error.ts';
export { batchObject, errorLine, fileObject, outputLine } from './batch-objects.ts';
export { BATCH_ENDPOINTS, MAX_PRICE_KEY, completionWindowSeconds, handleBatchRoute, isBatchPath, readMetadata, type BatchRoutesDeps } from './batch-routes.ts';
export { BATCH_PRIORITY, BatchRunner, type BatchRunnerDeps } from './batch-runner.ts';
export type { BatchPatch, BatchRecord, BatchStatus, BatchStore, FileRecord, LineCounts, LineRecord, LineState, NewLine, StoredFile } from './batch-store.ts';
export { isPostgresUrl, openBatchStore } from './open-batch-store.ts';
export { PostgresBatchStore } from './postgres-batch-store.ts';
export { SqliteBatchStore } from './sqlite-batch-store.ts';
export { parseBatchFile, toJsonl, type BatchFileLine, type ParsedBatchFile, type RefusedLine } from './jsonl.ts';
export { readUpload, type Upload } from './multipart.ts';

export interface BatchServiceOptions {
  /** sqlite file of files, batches and lines (used unless `database` is a PostgreSQL URL). */
  readonly dbPath: string;
  /**
   * `postgres://…`: keep files, batches and lines in PostgreSQL instead, shared by several node
   * processes: a line is claimed once across them, and recovery takes back only the lines of a
   * process that is gone (see BatchRunner).
   */
  readonly database?: string;
  readonly payee: Payee;
  readonly admission: Admission;
  /** Prices in force (the batch ceilings compare against `completion`). */
  readonly board: PriceBoard;
  readonly engineModels: readonly EngineModel[];
  readonly catalog: CatalogOptions;
  /** The engine replicas batch lines go to. */
  readonly replicas: ReplicaPool;
  readonly upstreamApiKey?: string;
  /** Engine slots batch lines may hold at once (default: capacity − 1, at least 1). */
  readonly slots?: number;
  /** How often the runner takes back the lines of processes that are gone, and looks for batches other processes took in (default 5 s). */
  readonly recoverEveryMs?: number;
  readonly maxFileBytes?: number;
}

/** The Batch API of one node. */
export interface BatchService {
  readonly store: BatchStore;
  readonly runner: BatchRunner;
  /** Whether `path` is a Files/Batch API route. */
  handles(path: string): boolean;
  handle(req: IncomingMessage, res: ServerResponse, url: URL, requestId: string): Promise<void>;
  /** Recovers interrupted lines and starts running batches (call once prices are up). */
  start(): Promise<void>;
  /** Called with the batch object whenever a batch's status or counts change. */
  onProgress(listener: (batch: Record<string, unknown>) => void): () => void;
  /** Stops the runner (lines on the engine go back to pending, uncharged) and closes the store. */
  close(): Promise<void>;
}

/** Opens the Batch API's store and runner (not running until start()). */
export async function openBatches(options: BatchServiceOptions): Promise<BatchService> {
  if (options.database !== undefined && !isPostgresUrl(options.database)) throw new Error('database must be a postgres:// URL (the SQLite store is chosen by dbPath)');
  const store = await openBatchStore(options.database ?? options.dbPath);
  const priced = (id: string): { price: ModelPrice; model: Model } | undefined => {
    // One snapshot of the board: the ceiling is compared with, and the line billed at, the same price.
    const price = options.board.current().get(id);
    const engineModel = options.engineModels.find((m) => m.id === id);
    return price && engineModel ? { price, model: modelFor(engineModel, price, options.catalog) } : undefined;
  };
  const runner = new BatchRunner({
    store, payee: options.payee, admission: options.admission, priced, replicas: options.replicas,
    ...(options.upstreamApiKey ? { upstreamApiKey: options.upstreamApiKey } : {}),
    ...(options.slots !== undefined ? { slots: options.slots } : {}),
    ...(options.recoverEveryMs !== undefined ? { recoverEveryMs: options.recoverEveryMs } : {}),
  });
  const routes = {
    store, runner, payee: options.payee, knownModel: (id: string) => options.engineModels.some((m) => m.id === id),
    ...(options.maxFileBytes !== undefined ? { maxFileBytes: options.maxFileBytes } : {}),
  };
  let closed: Promise<void> | undefined;
  return {
    store,
    runner,
    handles: isBatchPath,
    handle: (req, res, url, requestId) => handleBatchRoute(routes, req, res, url, requestId),
    start: () => runner.start((listener) => options.board.onChange(listener)),
    onProgress: (listener) => runner.onProgress(listener),
    close: () =>
      (closed ??= runner.stop().then(() => store.close())),
  };
}
