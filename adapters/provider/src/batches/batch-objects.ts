/** OpenAI's wire objects for files, batches and output/error file lines, built from stored records. */
import { randomBytes } from 'node:crypto';
import type { BatchRecord, FileRecord, LineRecord } from './batch-store.ts';

const hex = (bytes: number): string => randomBytes(bytes).toString('hex');

/** `file-…` */
export const newFileId = (): string => `file-${hex(12)}`;
/** `batch_…` */
export const newBatchId = (): string => `batch_${hex(16)}`;
/** `batch_req_…`: the id of one output/error line. */
export const newBatchRequestId = (): string => `batch_req_${hex(16)}`;

/** OpenAI's file object. */
export function fileObject(f: FileRecord): Record<string, unknown> {
  return { id: f.id, object: 'file', bytes: f.bytes, created_at: f.createdAt, filename: f.filename, purpose: f.purpose, status: 'processed', expires_at: null, status_details: null };
}

/** OpenAI's batch object. */
export function batchObject(b: BatchRecord, counts: { total: number; completed: number; failed: number }): Record<string, unknown> {
  return {
    id: b.id,
    object: 'batch',
    endpoint: b.endpoint,
    errors: b.errors ?? null,
    input_file_id: b.inputFileId,
    completion_window: b.completionWindow,
    status: b.status,
    output_file_id: b.outputFileId,
    error_file_id: b.errorFileId,
    created_at: b.createdAt,
    in_progress_at: b.inProgressAt,
    expires_at: b.expiresAt,
    finalizing_at: b.finalizingAt,
    completed_at: b.completedAt,
    failed_at: b.failedAt,
    expired_at: b.expiredAt,
    cancelling_at: b.cancellingAt,
    cancelled_at: b.cancelledAt,
    request_counts: { total: counts.total, completed: counts.completed, failed: counts.failed },
    metadata: b.metadata,
  };
}

/** A line of the output file (a request that got a 200). */
export function outputLine(l: LineRecord): Record<string, unknown> {
  return { id: l.requestId, custom_id: l.customId, response: l.response, error: null };
}

/** A line of the error file: `response` set for an engine error answer, `error` for a request that never got one. */
export function errorLine(l: LineRecord): Record<string, unknown> {
  return { id: l.requestId, custom_id: l.customId, response: l.response ?? null, error: l.error ?? null };
}
