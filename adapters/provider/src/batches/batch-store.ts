/**
 * The books of the Batch API: files, batches and their lines, behind one interface with two
 * implementations (SqliteBatchStore, the embedded default; PostgresBatchStore, shared by several
 * node processes). A line moves pending → running (claimed by one claimer, then its reservation
 * recorded) → answered (response and cost stored, not yet charged) → done (charged), or → failed.
 *
 * Every runner registers a claimer (`registerClaimer`), live while its process (SQLite: pid and
 * process start time) or its session connection (PostgreSQL: backend pid and backend start, so it
 * works across hosts) lives. A claimed line records its claimer, and every later move of the line
 * names the claimer it expects (it changes nothing, returning false, when the line was taken back
 * meanwhile). Recovery (BatchRunner.recover) touches only lines whose claimer is gone, so runners in
 * several processes share one store. Methods are async because PostgreSQL is.
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
  /** The runner that claimed the line (null: pending, ended, or claimed by a version before claimers). */
  claimer: string | null;
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
   * Registers a claimer of this store and returns its id: live until `releaseClaimer` or until its
   * process (SQLite) or its own session connection (PostgreSQL) is gone.
   */
  registerClaimer(): Promise<string>;
  /** Ends a claimer: what it left running becomes recoverable. */
  releaseClaimer(claimer: string): Promise<void>;
  /** Whether a claimer is still live. */
  claimerLive(claimer: string): Promise<boolean>;
  /**
   * Takes the first pending line of `model` in a batch for `claimer`, once across every process
   * sharing the store, and stores it running with that claimer (no reservation yet).
   * undefined: no pending line of that model, or the batch is not `in_progress`.
   */
  claimPending(batchId: string, model: string, claimer: string): Promise<LineRecord | undefined>;
  line(batchId: string, index: number): Promise<LineRecord | undefined>;
  /** Lines in a state, across batches. */
  linesIn(state: LineState): Promise<LineRecord[]>;
  /** Lines in a state whose claimer is gone (or was never recorded): what recovery may take back. */
  orphanedLines(state: 'running' | 'answered'): Promise<LineRecord[]>;
  /** A batch's lines in a state, in input order (output and error files). */
  batchLines(batchId: string, state: LineState): Promise<LineRecord[]>;
  // Each move below applies only to the line in the state it names, under `claimer` (null: a line claimed
  // before claimers existed); false: it was taken back or moved on meanwhile, and nothing changed.
  /** Records the reservation held for a running line. */
  holdReservation(batchId: string, index: number, claimer: string, reservationId: string, gateMsat: number): Promise<boolean>;
  /** running → answered, with the response and its cost (not yet charged). */
  markAnswered(batchId: string, index: number, claimer: string, response: unknown, costMsat: number): Promise<boolean>;
  /** answered → done, charged `chargedMsat`. */
  markDone(batchId: string, index: number, claimer: string | null, chargedMsat: number): Promise<boolean>;
  /** running → failed. */
  markFailed(batchId: string, index: number, claimer: string, response: unknown, error: unknown): Promise<boolean>;
  /** running or answered (`from`) → pending, uncharged and unclaimed (the run was cut off before any charge). */
  resetPending(batchId: string, index: number, claimer: string | null, from: 'running' | 'answered'): Promise<boolean>;
  /** Fails every pending line of a batch with `error` (expiry, cancellation); returns how many. */
  failPending(batchId: string, error: unknown): Promise<number>;
  /**
   * Ends a batch in one transaction: fails its pending lines with `failPendingWith` (unless
   * undefined), then stores the files `write` makes from its done and failed lines (input order)
   * and applies the patch it returns. false (nothing changed): the batch had already ended, e.g.
   * another process sharing the store ended it first, or a line of it is still running or answered
   * (in any process; a gone claimer's until recovery takes it back).
   */
  endBatch(batchId: string, failPendingWith: unknown, write: (done: LineRecord[], failed: LineRecord[]) => { files: StoredFile[]; patch: BatchPatch }): Promise<boolean>;
  close(): Promise<void>;
}
