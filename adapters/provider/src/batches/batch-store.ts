/**
 * The books of the Batch API: files, batches and their lines, behind one interface with two
 * implementations (SqliteBatchStore, the embedded default; PostgresBatchStore, shared by several
 * node processes). A line moves pending → running (reservation held) → answered (response and
 * cost stored, not yet charged) → done (charged), or → failed; on restart the runner finishes or
 * re-runs each line from the state it was left in (see BatchRunner.recover), so a line is charged
 * at most once. Methods are async because PostgreSQL is.
 */

export type BatchStatus = 'validating' | 'in_progress' | 'finalizing' | 'completed' | 'expired' | 'cancelling' | 'cancelled' | 'failed';
export type LineState = 'pending' | 'running' | 'answered' | 'done' | 'failed';

/** A stored file (content kept apart). */
export interface FileRecord {
  id: string;
  owner: string;
  filename: string;
  purpose: string;
  bytes: number;
  createdAt: number;
}

/** A batch as stored; timestamps are unix seconds. */
export interface BatchRecord {
  id: string;
  owner: string;
  endpoint: string;
  inputFileId: string;
  completionWindow: string;
  status: BatchStatus;
  /** Completion price ceiling, msat/Mtok; null: no ceiling. */
  maxPriceMsatPerMtok: number | null;
  metadata: Record<string, string> | null;
  errors: unknown;
  outputFileId: string | null;
  errorFileId: string | null;
  createdAt: number;
  inProgressAt: number | null;
  expiresAt: number;
  finalizingAt: number | null;
  completedAt: number | null;
  failedAt: number | null;
  expiredAt: number | null;
  cancellingAt: number | null;
  cancelledAt: number | null;
}

/** One request line of a batch. */
export interface LineRecord {
  batchId: string;
  index: number;
  customId: string | null;
  /** `batch_req_…`: the id of its output/error line. */
  requestId: string;
  model: string | null;
  body: Record<string, unknown> | null;
  state: LineState;
  reservationId: string | null;
  gateMsat: number | null;
  costMsat: number | null;
  response: unknown;
  error: unknown;
}

/** A new line as the store takes it. */
export interface NewLine {
  index: number;
  customId: string | null;
  requestId: string;
  model: string | null;
  body: Record<string, unknown> | null;
  /** Set for a line refused at validation (it is stored failed). */
  error?: unknown;
}

/** The fields of a batch that change after it is created. */
export type BatchPatch = Partial<Pick<BatchRecord, 'status' | 'errors' | 'outputFileId' | 'errorFileId' | 'inProgressAt' | 'finalizingAt' | 'completedAt' | 'failedAt' | 'expiredAt' | 'cancellingAt' | 'cancelledAt'>>;

/** Request counts as OpenAI's request_counts, plus the lines not yet ended. */
export interface LineCounts {
  total: number;
  completed: number;
  failed: number;
  unfinished: number;
}

/** What a claim does with the line it took: run it on a held reservation, or fail it (it cannot be paid). */
export type LineHold = { reservationId: string; gateMsat: number } | { failed: unknown };

/** A file written when a batch ends (its output or error file). */
export interface StoredFile {
  file: FileRecord;
  content: Buffer;
}

/** The durable books of the Batch API; see the module doc. */
export interface BatchStore {
  insertFile(f: FileRecord, content: Buffer): Promise<void>;
  file(id: string): Promise<FileRecord | undefined>;
  fileContent(id: string): Promise<Buffer | undefined>;
  /** Stores a batch and all its lines (refused ones already failed) at once. */
  insertBatch(b: BatchRecord, lines: readonly NewLine[]): Promise<void>;
  batch(id: string): Promise<BatchRecord | undefined>;
  /** An owner's batches, newest first; `after`: only those older than that batch. */
  listBatches(owner: string, limit: number, after?: string): Promise<{ batches: BatchRecord[]; hasMore: boolean }>;
  /** Batches the runner still has work on, oldest first. */
  activeBatches(): Promise<BatchRecord[]>;
  updateBatch(id: string, patch: BatchPatch): Promise<void>;
  counts(batchId: string): Promise<LineCounts>;
  /** Models of a batch's pending lines. */
  pendingModels(batchId: string): Promise<string[]>;
  /**
   * Takes the first pending line of `model` in a batch, once across every process sharing the
   * store: in one transaction the line is locked (another claimer skips it), `hold` decides its
   * fate (reserve its payment, synchronously) and it is stored running with that reservation, or
   * failed. If `hold` throws, nothing changes. undefined: no pending line of that model.
   */
  claimPending(batchId: string, model: string, hold: (line: LineRecord) => LineHold): Promise<{ line: LineRecord; hold: LineHold } | undefined>;
  line(batchId: string, index: number): Promise<LineRecord | undefined>;
  /** Lines in a state, across batches (recovery). */
  linesIn(state: LineState): Promise<LineRecord[]>;
  /** A batch's lines in a state, in input order (output and error files). */
  batchLines(batchId: string, state: LineState): Promise<LineRecord[]>;
  markAnswered(batchId: string, index: number, response: unknown, costMsat: number): Promise<void>;
  markDone(batchId: string, index: number, chargedMsat: number): Promise<void>;
  markFailed(batchId: string, index: number, response: unknown, error: unknown): Promise<void>;
  /** Back to pending, uncharged (the run was cut off before any charge). */
  resetPending(batchId: string, index: number): Promise<void>;
  /** Fails every pending line of a batch with `error` (expiry, cancellation); returns how many. */
  failPending(batchId: string, error: unknown): Promise<number>;
  /**
   * Ends a batch in one transaction: fails its pending lines with `failPendingWith` (unless
   * undefined), then stores the files `write` makes from its done and failed lines (input order)
   * and applies the patch it returns. false (nothing changed): the batch had already ended, e.g.
   * another process sharing the store ended it first.
   */
  endBatch(batchId: string, failPendingWith: unknown, write: (done: LineRecord[], failed: LineRecord[]) => { files: StoredFile[]; patch: BatchPatch }): Promise<boolean>;
  close(): Promise<void>;
}
