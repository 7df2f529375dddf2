/** Row ↔ record mapping shared by the SQLite and PostgreSQL batch stores (same columns in both). */
import type { BatchPatch, BatchRecord, BatchStatus, FileRecord, LineRecord, LineState } from './batch-store.ts';

/** A row as either driver returns it (PostgreSQL gives BIGINT columns as strings). */
export type Row = Record<string, unknown>;

const str = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));
const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
const json = (v: unknown): unknown => (v === null || v === undefined ? null : (JSON.parse(String(v)) as unknown));

/** Statuses of a batch that has ended (no more work on it). */
export const ENDED_STATUSES: readonly string[] = ['completed', 'expired', 'cancelled', 'failed'];

/** Column of each patchable batch field. */
export const BATCH_COLUMNS: Record<string, string> = {
  status: 'status', errors: 'errors', outputFileId: 'output_file_id', errorFileId: 'error_file_id',
  inProgressAt: 'in_progress_at', finalizingAt: 'finalizing_at', completedAt: 'completed_at', failedAt: 'failed_at',
  expiredAt: 'expired_at', cancellingAt: 'cancelling_at', cancelledAt: 'cancelled_at',
};

/** The columns and values of a batch patch (errors stored as JSON); throws on an unknown field. */
export function patchColumns(patch: BatchPatch): Array<[column: string, value: string | number | null]> {
  return Object.entries(patch).map(([key, value]) => {
    const column = BATCH_COLUMNS[key];
    if (!column) throw new Error(`unknown batch field ${key}`);
    const v = key === 'errors' ? (value == null ? null : JSON.stringify(value)) : ((value ?? null) as string | number | null);
    return [column, v];
  });
}

/** A stored value as JSON text (null stays null). */
export const toJsonText = (v: unknown): string | null => (v == null ? null : JSON.stringify(v));

/** A batch row as a record. */
export function toBatch(r: Row): BatchRecord {
  return {
    id: String(r['id']), owner: String(r['owner']), endpoint: String(r['endpoint']), inputFileId: String(r['input_file_id']),
    completionWindow: String(r['completion_window']), status: String(r['status']) as BatchStatus, maxPriceMsatPerMtok: num(r['max_price']),
    metadata: json(r['metadata']) as Record<string, string> | null, errors: json(r['errors']),
    outputFileId: str(r['output_file_id']), errorFileId: str(r['error_file_id']), createdAt: Number(r['created_at']),
    inProgressAt: num(r['in_progress_at']), expiresAt: Number(r['expires_at']), finalizingAt: num(r['finalizing_at']),
    completedAt: num(r['completed_at']), failedAt: num(r['failed_at']), expiredAt: num(r['expired_at']),
    cancellingAt: num(r['cancelling_at']), cancelledAt: num(r['cancelled_at']),
  };
}

/** A line row as a record. */
export function toLine(r: Row): LineRecord {
  return {
    batchId: String(r['batch_id']), index: Number(r['idx']), customId: str(r['custom_id']), requestId: String(r['request_id']),
    model: str(r['model']), body: json(r['body']) as Record<string, unknown> | null, state: String(r['state']) as LineState,
    claimer: str(r['claimer']), reservationId: str(r['reservation_id']), gateMsat: num(r['gate_msat']), costMsat: num(r['cost_msat']),
    response: json(r['response']), error: json(r['error']),
  };
}

/** A file row (without content) as a record. */
export function toFile(r: Row): FileRecord {
  return { id: String(r['id']), owner: String(r['owner']), filename: String(r['filename']), purpose: String(r['purpose']), bytes: Number(r['bytes']), createdAt: Number(r['created_at']) };
}

/** Adds a GROUP BY state row to request counts. */
export function addCount(out: { total: number; completed: number; failed: number; unfinished: number }, state: unknown, n: number): void {
  out.total += n;
  if (state === 'done') out.completed += n;
  else if (state === 'failed') out.failed += n;
  else out.unfinished += n;
}
