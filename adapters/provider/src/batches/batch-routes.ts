/**
 * OpenAI's Files and Batch API on the node: `POST /v1/files`, `GET /v1/files/{id}`,
 * `GET /v1/files/{id}/content`, `POST /v1/batches`, `GET /v1/batches`, `GET /v1/batches/{id}`,
 * `POST /v1/batches/{id}/cancel`. Every call names a Bearer account (`sk-…`, or a Cashu token
 * redeemed into one); files and batches belong to it and are invisible (404) to others.
 *
 * Our additions: `metadata.max_price_msat_per_mtok` (decimal integer string) is the batch's
 * ceiling on the node's completion price; `completion_window` takes `<n>s|m|h` (e.g. `30s`),
 * not only `24h`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { PayeeError, parseAuthorization, type Payee } from '@routstr-kit/core';
import { InvalidJson, header, readJson, sendError, sendJson, sendPayeeError } from '../node/responses.ts';
import { BatchError } from './batch-error.ts';
import { batchObject, fileObject, newBatchId, newBatchRequestId, newFileId } from './batch-objects.ts';
import type { BatchRunner } from './batch-runner.ts';
import type { BatchRecord, BatchStore, NewLine } from './batch-store.ts';
import { parseBatchFile } from './jsonl.ts';
import { readUpload } from './multipart.ts';

/** Endpoints a batch may target. */
export const BATCH_ENDPOINTS = ['/v1/chat/completions', '/v1/completions'] as const;
/** Metadata key of the batch's price ceiling (msat per million completion tokens). */
export const MAX_PRICE_KEY = 'max_price_msat_per_mtok';
const MAX_WINDOW_S = 7 * 24 * 3600;

export interface BatchRoutesDeps {
  readonly store: BatchStore;
  readonly runner: BatchRunner;
  readonly payee: Payee;
  /** Whether the node serves this model. */
  knownModel(id: string): boolean;
  /** Largest upload (default 16 MiB). */
  readonly maxFileBytes?: number;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const nowS = (): number => Math.floor(Date.now() / 1000);

/** Whether a path belongs to the Files/Batch API. */
export function isBatchPath(path: string): boolean {
  return /^\/v1\/(files|batches)(\/|$)/.test(path);
}

/** Seconds of a completion window: `24h`, or our extension `<n>s`, `<n>m`, `<n>h` (1 s … 7 days). */
export function completionWindowSeconds(window: unknown): number {
  const m = typeof window === 'string' ? /^(\d{1,7})(s|m|h)$/.exec(window) : null;
  const seconds = m ? Number(m[1]) * { s: 1, m: 60, h: 3600 }[m[2] as 's' | 'm' | 'h'] : NaN;
  if (!Number.isSafeInteger(seconds) || seconds < 1 || seconds > MAX_WINDOW_S) {
    throw new BatchError('invalid_completion_window', "completion_window must be '24h' (or, on this node, '<n>s', '<n>m' or '<n>h' up to 7 days)");
  }
  return seconds;
}

/** Checks OpenAI metadata (≤ 16 string values) and reads the price ceiling (null: none). */
export function readMetadata(metadata: unknown): { metadata: Record<string, string> | null; maxPrice: number | null } {
  if (metadata === undefined || metadata === null) return { metadata: null, maxPrice: null };
  if (!isObject(metadata)) throw new BatchError('invalid_metadata', 'metadata must be an object of string values');
  const entries = Object.entries(metadata);
  if (entries.length > 16) throw new BatchError('invalid_metadata', 'metadata has at most 16 keys');
  for (const [k, v] of entries) {
    if (typeof v !== 'string' || k.length > 64 || v.length > 512) throw new BatchError('invalid_metadata', `metadata.${k} must be a string (keys ≤ 64, values ≤ 512 characters)`);
  }
  const raw = metadata[MAX_PRICE_KEY];
  if (raw === undefined) return { metadata: metadata as Record<string, string>, maxPrice: null };
  const value = typeof raw === 'string' && /^\d{1,16}$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(value)) throw new BatchError('invalid_metadata', `metadata.${MAX_PRICE_KEY} must be a decimal integer string (msat per million completion tokens)`);
  return { metadata: metadata as Record<string, string>, maxPrice: value };
}

/** The Bearer account of a request. */
async function ownerOf(payee: Payee, req: IncomingMessage): Promise<string> {
  const auth = header(req, 'authorization');
  if (!auth) throw new BatchError('invalid_api_key', 'An Authorization: Bearer sk-… (or Cashu token) header is required');
  let credential: ReturnType<typeof parseAuthorization>;
  try {
    credential = parseAuthorization(auth);
  } catch {
    throw new BatchError('invalid_api_key', 'Invalid API key');
  }
  return payee.accountFor(credential);
}

/** Serves a Files/Batch API request (isBatchPath(path) is true). */
export async function handleBatchRoute(deps: BatchRoutesDeps, req: IncomingMessage, res: ServerResponse, url: URL, requestId: string): Promise<void> {
  const method = req.method ?? 'GET';
  const path = url.pathname.replace(/\/+$/, '');
  try {
    const owner = await ownerOf(deps.payee, req);
    if (path === '/v1/files' && method === 'POST') return await createFile(deps, req, res, url, owner, requestId);
    let m = /^\/v1\/files\/([^/]+)(\/content)?$/.exec(path);
    if (m && method === 'GET') {
      const file = await deps.store.file(decodeURIComponent(m[1] as string));
      if (!file || file.owner !== owner) throw new BatchError('not_found', `No such File object: ${m[1]}`);
      if (!m[2]) return sendJson(res, 200, fileObject(file), requestId);
      const content = (await deps.store.fileContent(file.id)) ?? Buffer.alloc(0);
      res.writeHead(200, { 'content-type': 'application/jsonl', 'content-length': content.length, 'x-routstr-request-id': requestId, 'access-control-allow-origin': '*' });
      return void res.end(content);
    }
    if (path === '/v1/batches' && method === 'POST') return await createBatch(deps, req, res, owner, requestId);
    if (path === '/v1/batches' && method === 'GET') {
      const limitRaw = Number(url.searchParams.get('limit') ?? 20);
      const limit = Number.isSafeInteger(limitRaw) ? Math.min(100, Math.max(1, limitRaw)) : 20;
      const after = url.searchParams.get('after') ?? undefined;
      const page = await deps.store.listBatches(owner, limit, after);
      const data = await Promise.all(page.batches.map(async (b) => batchObject(b, await deps.store.counts(b.id))));
      const first = data[0]?.['id'] ?? null;
      const last = data.at(-1)?.['id'] ?? null;
      return sendJson(res, 200, { object: 'list', data, first_id: first, last_id: last, has_more: page.hasMore }, requestId);
    }
    m = /^\/v1\/batches\/([^/]+)(\/cancel)?$/.exec(path);
    if (m) {
      const id = decodeURIComponent(m[1] as string);
      const batch = await deps.store.batch(id);
      if (!batch || batch.owner !== owner) throw new BatchError('not_found', `No such batch: ${id}`);
      if (!m[2] && method === 'GET') return sendJson(res, 200, await deps.runner.batch(id), requestId);
      if (m[2] && method === 'POST') {
        if (!(await deps.runner.cancel(id))) throw new BatchError('batch_not_cancellable', `Batch ${id} has already ended (${batch.status})`);
        return sendJson(res, 200, await deps.runner.batch(id), requestId);
      }
    }
    return sendError(res, 404, 'invalid_request_error', 'not_found', `${method} ${url.pathname} not found`, requestId);
  } catch (error) {
    if (error instanceof BatchError) return sendError(res, error.status, error.type, error.code, error.message, requestId);
    if (error instanceof PayeeError) return sendPayeeError(res, error, requestId);
    throw error;
  }
}

async function createFile(deps: BatchRoutesDeps, req: IncomingMessage, res: ServerResponse, url: URL, owner: string, requestId: string): Promise<void> {
  const upload = await readUpload(req, url, deps.maxFileBytes ?? 16 * 1024 * 1024);
  if (upload.purpose !== 'batch') throw new BatchError('invalid_purpose', "This node stores files for purpose 'batch' only");
  const file = { id: newFileId(), owner, filename: upload.filename, purpose: upload.purpose, bytes: upload.content.length, createdAt: nowS() };
  await deps.store.insertFile(file, upload.content);
  sendJson(res, 200, fileObject(file), requestId);
}

async function createBatch(deps: BatchRoutesDeps, req: IncomingMessage, res: ServerResponse, owner: string, requestId: string): Promise<void> {
  let body: unknown;
  try {
    body = await readJson(req);
  } catch (error) {
    if (error instanceof InvalidJson) throw new BatchError('invalid_request', error.message);
    throw error;
  }
  if (!isObject(body)) throw new BatchError('invalid_request', 'The body must be a JSON object');
  const inputFileId = body['input_file_id'];
  if (typeof inputFileId !== 'string') throw new BatchError('invalid_request', 'input_file_id is required');
  const endpoint = body['endpoint'];
  if (typeof endpoint !== 'string' || !(BATCH_ENDPOINTS as readonly string[]).includes(endpoint)) {
    throw new BatchError('invalid_endpoint', `endpoint must be one of ${BATCH_ENDPOINTS.join(', ')}`);
  }
  const window = body['completion_window'];
  const windowS = completionWindowSeconds(window);
  const { metadata, maxPrice } = readMetadata(body['metadata']);
  const file = await deps.store.file(inputFileId);
  if (!file || file.owner !== owner) throw new BatchError('not_found', `No such File object: ${inputFileId}`);
  if (file.purpose !== 'batch') throw new BatchError('invalid_file', `File ${inputFileId} was not uploaded with purpose 'batch'`);
  const text = ((await deps.store.fileContent(file.id)) ?? Buffer.alloc(0)).toString('utf8');
  const parsed = parseBatchFile(text, endpoint, (id) => deps.knownModel(id));
  const lines: NewLine[] = [
    ...parsed.lines.map((l) => ({ index: l.index, customId: l.customId, requestId: newBatchRequestId(), model: l.model, body: l.body })),
    ...parsed.refused.map((l) => ({ index: l.index, customId: l.customId, requestId: newBatchRequestId(), model: null, body: null, error: l.error })),
  ];
  const created = nowS();
  const empty = lines.length === 0;
  const batch: BatchRecord = {
    id: newBatchId(), owner, endpoint, inputFileId, completionWindow: String(window), status: empty ? 'failed' : 'validating',
    maxPriceMsatPerMtok: maxPrice, metadata, errors: null, outputFileId: null, errorFileId: null, createdAt: created,
    inProgressAt: null, expiresAt: created + windowS, finalizingAt: null, completedAt: null, failedAt: null, expiredAt: null,
    cancellingAt: null, cancelledAt: null,
  };
  await deps.store.insertBatch(batch, lines);
  if (empty) {
    // As OpenAI: a file that fails validation as a whole fails the batch, with the reason in `errors`.
    await deps.store.updateBatch(batch.id, { status: 'failed', failedAt: created, errors: { object: 'list', data: [{ code: 'empty_file', message: 'The input file has no request lines', param: 'input_file_id', line: null }] } });
  }
  deps.runner.kick();
  sendJson(res, 200, await deps.runner.batch(batch.id), requestId);
}
