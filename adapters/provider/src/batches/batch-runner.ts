/**
 * Runs batch lines on the engine as a resting limit buy: a line starts only while the node's own
 * completion price for its model is at or below the batch's `max_price_msat_per_mtok`, only
 * when an engine slot is free and no interactive request waits (and then at the lowest
 * admission priority, on at most `slots` slots), paid from the owner's Bearer balance exactly
 * like an interactive Bearer request: reserve the gate → run → settle the billed cost.
 *
 * Crash rule: claim the line (`running` under this runner's claimer) → reserve its gate (the
 * payee, outside the store's transaction: its books may live elsewhere) → record the reservation
 * on the line → engine → `answered` with response and cost → settle, flushed → `done`. Recovery, at
 * start and every `recoverEveryMs`, takes back only lines whose claimer is gone (its process died,
 * or its PostgreSQL session closed), never a live runner's in another process: `running` lines
 * and `answered` lines whose reservation is not settled were never charged and run again (the
 * reservation released first, so the runner that lost the line can no longer charge it); an
 * `answered` line whose reservation is settled is done. Every move of a line names its claimer,
 * so a line taken back is not answered by the runner that lost it. A runner whose claimer is gone
 * while it lives (its session dropped) registers a new one at its next recovery.
 */
import { randomUUID } from 'node:crypto';
import { PayeeError, attachCostMetadata, requestGate, type Model, type Payee } from '@routstr-kit/core';
import { failpoint } from '@routstr-kit/core/testing';
import type { ModelPrice } from '../market-maker/price-board.ts';
import type { Admission } from '../node/admission.ts';
import { bill, countCompletionTokens, countPromptTokens, generatedChars } from '../node/billing.ts';
import { boundedUpstreamBody } from '../node/output-bound.ts';
import type { ReplicaPool } from '../node/replica-pool.ts';
import { destroyUpstreamAgents, postToReplica, readText, upstreamAgents, type UpstreamAgents } from '../node/upstream-request.ts';
import { batchObject, errorLine, newFileId, outputLine } from './batch-objects.ts';
import { recoverOrphanedLines } from './batch-recovery.ts';
import type { BatchRecord, BatchStore, LineRecord, StoredFile } from './batch-store.ts';
import { toJsonl } from './jsonl.ts';

/** Admission priority of batch lines (interactive requests use 5: they go first). */
export const BATCH_PRIORITY = 9;

/** What the runner needs from the node. */
export interface BatchRunnerDeps {
  readonly store: BatchStore;
  readonly payee: Payee;
  readonly admission: Admission;
  /** The price in force and the billing Model of a served model (undefined: not for sale now). */
  priced(modelId: string): { price: ModelPrice; model: Model } | undefined;
  /** The engine replicas (a line goes to the least loaded serving its model). */
  readonly replicas: ReplicaPool;
  readonly upstreamApiKey?: string;
  /** Engine slots batch lines may hold at once (default: capacity − 1, at least 1). */
  readonly slots?: number;
  /** How often a running runner takes back the lines of claimers that are gone (default 5 s). */
  readonly recoverEveryMs?: number;
}

const RECOVER_EVERY_MS = 5_000;

const EXPIRED = { code: 'batch_expired', message: 'This request could not be executed before the completion window expired.' };
const CANCELLED = { code: 'batch_cancelled', message: 'This request was not executed because the batch was cancelled.' };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const nowS = (): number => Math.floor(Date.now() / 1000);

type EngineOutcome =
  | { kind: 'ok'; json: Record<string, unknown> }
  | { kind: 'http'; status: number; body: unknown }
  | { kind: 'unreachable'; message: string };

/** The scheduler of batch lines; see the module doc. */
export class BatchRunner {
  readonly slots: number;
  private readonly deps: BatchRunnerDeps;
  private readonly busy = new Map<string, number>();
  private readonly inflight = new Set<Promise<void>>();
  private readonly listeners = new Set<(batch: Record<string, unknown>) => void>();
  private readonly abort = new AbortController();
  private readonly agents: UpstreamAgents = upstreamAgents();
  private readonly unsubscribe: Array<() => void> = [];
  private running = 0;
  private scheduled = false;
  // The scheduling pass in progress (one at a time: store calls are async) and whether another was asked for meanwhile.
  private pass: Promise<void> | undefined;
  private again = false;
  // No batch is active: interactive requests' admission changes do not wake the scheduler (a query each).
  private idle = false;
  private started = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  // This runner's claimer id in the store (registered at start).
  private claimer: string | undefined;
  // The periodic recovery's interval, and whether the next pass should recover first.
  private recoverTimer: NodeJS.Timeout | undefined;
  private recoverDue = false;

  constructor(deps: BatchRunnerDeps) {
    this.deps = deps;
    this.slots = deps.slots ?? Math.max(1, deps.admission.capacity - 1);
  }

  /** Finishes what a crash left (see the module doc) and starts scheduling; `priceChanges` wakes it on every price move. */
  async start(priceChanges: (listener: () => void) => () => void): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.claimer = await this.deps.store.registerClaimer();
    await this.recover();
    // A peer that dies while this runner runs leaves lines only recovery takes back: look again now and then
    // (the same kick lets this runner see batches another process took in).
    this.recoverTimer = setInterval(() => {
      this.recoverDue = true;
      this.kick();
    }, this.deps.recoverEveryMs ?? RECOVER_EVERY_MS);
    this.recoverTimer.unref();
    this.unsubscribe.push(priceChanges(() => this.kick()), this.deps.admission.onChange(() => {
      if (!this.idle) this.kick();
    }));
    this.kick();
  }

  /** Called with the batch object whenever a batch's status or counts change. Returns an unsubscribe function. */
  onProgress(listener: (batch: Record<string, unknown>) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The batch object now (undefined when unknown). */
  async batch(id: string): Promise<Record<string, unknown> | undefined> {
    const b = await this.deps.store.batch(id);
    return b ? batchObject(b, await this.deps.store.counts(id)) : undefined;
  }

  /** Asks for a scheduling pass soon (coalesced). */
  kick(): void {
    this.idle = false;
    if (this.stopped || !this.started) return;
    if (this.pass) {
      this.again = true;
      return;
    }
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (this.pass || this.stopped) return void (this.again = true);
      // A store failure rejects here unhandled, as a throw in the synchronous pass did before: the node does not run on broken books.
      this.pass = this.passes();
    });
  }

  /** Scheduling passes until no kick came in during the last one. */
  private async passes(): Promise<void> {
    try {
      do {
        this.again = false;
        await this.pump();
      } while (this.again && !this.stopped);
    } finally {
      // Cleared in the same step as the last `again` check: a kick can never land in between and be lost.
      this.pass = undefined;
    }
  }

  /** Resolves once no scheduling pass runs or is asked for (what a pass decides is then in the store). */
  async passesDone(): Promise<void> {
    while (this.pass || this.scheduled) await (this.pass ?? new Promise<void>((resolve) => setImmediate(resolve)));
  }

  /** Runs the periodic recovery now (in a scheduling pass, as the timer does) and resolves once the passes are done. */
  async recoverNow(): Promise<void> {
    this.recoverDue = true;
    this.kick();
    await this.passesDone();
  }

  /** Moves a batch to `cancelling`; running lines finish, the rest are not run (nor charged). false: it has ended. */
  async cancel(id: string): Promise<boolean> {
    const b = await this.deps.store.batch(id);
    if (!b) return false;
    if (b.status === 'cancelling' || b.status === 'cancelled') return true;
    if (b.status !== 'validating' && b.status !== 'in_progress') return false;
    await this.deps.store.updateBatch(id, { status: 'cancelling', cancellingAt: nowS() });
    await this.emit(id);
    this.kick();
    return true;
  }

  /** Stops scheduling; lines on the engine are cut off, their reservations released, and they stay pending for the next start. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    if (this.timer) clearTimeout(this.timer);
    if (this.recoverTimer) clearInterval(this.recoverTimer);
    for (const u of this.unsubscribe.splice(0)) u();
    await Promise.allSettled([...this.inflight, ...(this.pass ? [this.pass] : [])]);
    destroyUpstreamAgents(this.agents);
    // Its lines are back to pending (above): the claimer ends with nothing left behind (a failure here leaves only a row).
    if (this.claimer !== undefined) await this.deps.store.releaseClaimer(this.claimer).catch(() => undefined);
  }

  /** Takes back the lines of claimers that are gone (see the module doc); returns the batches it changed. */
  private recover(): Promise<Set<string>> {
    return recoverOrphanedLines(this.deps.store, this.deps.payee);
  }

  private async emit(batchId: string): Promise<void> {
    if (this.listeners.size === 0) return;
    const b = await this.batch(batchId);
    if (!b) return;
    for (const l of [...this.listeners]) l(b);
  }

  private async pump(): Promise<void> {
    if (this.stopped) return;
    const { store, admission } = this.deps;
    if (this.recoverDue) {
      // In the pass, not beside it: one store conversation at a time, and the lines it frees are claimed in this pass.
      this.recoverDue = false;
      const claimer = this.claimer as string;
      if (!(await store.claimerLive(claimer))) {
        // Its session dropped (PostgreSQL): its lines are anyone's to take back now, this runner's new claims go under a new claimer.
        await store.releaseClaimer(claimer);
        this.claimer = await store.registerClaimer();
      }
      for (const batchId of await this.recover()) await this.emit(batchId);
    }
    const nowMs = Date.now();
    let nextExpiry = Infinity;
    const open: BatchRecord[] = [];
    const active = await store.activeBatches();
    this.idle = active.length === 0;
    for (const b of active) {
      const busy = this.busy.get(b.id) ?? 0;
      if (b.status === 'validating') {
        await store.updateBatch(b.id, { status: 'in_progress', inProgressAt: nowS() });
        b.status = 'in_progress';
        await this.emit(b.id);
      }
      if (b.status === 'finalizing') {
        await this.finish(b, 'completed');
        continue;
      }
      if (b.status === 'cancelling') {
        if (busy === 0) await this.finish(b, 'cancelled');
        continue;
      }
      if (nowMs >= b.expiresAt * 1000) {
        if (busy === 0) await this.finish(b, 'expired');
        continue;
      }
      if ((await store.counts(b.id)).unfinished === 0) {
        await this.finish(b, 'completed');
        continue;
      }
      nextExpiry = Math.min(nextExpiry, b.expiresAt * 1000);
      open.push(b);
    }
    this.armTimer(nextExpiry);
    // A batch line takes a slot only when one is free and no interactive request waits for it.
    while (!this.stopped && this.running < this.slots && admission.queued === 0 && admission.inFlight < admission.capacity) {
      const next = await this.claim(open);
      if (!next) break;
      if (next.reservationId === undefined) {
        // The line could not be paid and is stored failed; the batch goes on (a smaller line may still fit).
        await this.emit(next.batch.id);
        this.kick(); // it may have been the batch's last line: the next pass finishes the batch
        continue;
      }
      this.launch(next.batch, next.line, next.model, next.reservationId);
    }
  }

  /**
   * Claims the first runnable pending line (oldest batch first, its model priced at or below the
   * ceiling) for this runner, then reserves its gate on the owner's balance and records the
   * reservation on the line; a line the balance cannot cover is stored failed (no reservationId).
   */
  private async claim(open: readonly BatchRecord[]): Promise<{ batch: BatchRecord; line: LineRecord; model: Model; reservationId?: string } | undefined> {
    const { store, payee } = this.deps;
    const claimer = this.claimer as string;
    for (const batch of open) {
      for (const modelId of await store.pendingModels(batch.id)) {
        const priced = this.deps.priced(modelId);
        if (!priced) continue;
        if (batch.maxPriceMsatPerMtok !== null && priced.price.completion > batch.maxPriceMsatPerMtok) continue;
        const line = await store.claimPending(batch.id, modelId, claimer);
        if (!line) continue;
        // A crash from here until the reservation is recorded leaves the line running under a gone claimer: recovery takes it back.
        failpoint('batch:after-claim');
        const gateMsat = requestGate(priced.model, line.body ?? {});
        let reservationId: string;
        try {
          reservationId = payee.reserve(batch.owner, gateMsat);
        } catch (error) {
          if (!(error instanceof PayeeError)) {
            await store.resetPending(batch.id, line.index, claimer, 'running');
            throw error;
          }
          const code = error.code === 'insufficient_balance' ? 'insufficient_balance' : String(error.code);
          const message = code === 'insufficient_balance'
            ? `Insufficient balance: this line needs ${gateMsat} msat reserved (its maximum cost at the current price); top up the account and resubmit it`
            : error.message;
          const failed = { code, message };
          await store.markFailed(batch.id, line.index, claimer, null, failed);
          return { batch, line: { ...line, state: 'failed', error: failed }, model: priced.model };
        }
        failpoint('batch:after-reserve');
        let held: boolean;
        try {
          held = await store.holdReservation(batch.id, line.index, claimer, reservationId, gateMsat);
        } catch (error) {
          payee.release(reservationId);
          throw error;
        }
        if (!held) {
          // Taken back meanwhile (this runner's claimer was presumed gone): another runner owns the line now.
          payee.release(reservationId);
          continue;
        }
        return { batch, line: { ...line, reservationId, gateMsat }, model: priced.model, reservationId };
      }
    }
    return undefined;
  }

  private launch(batch: BatchRecord, line: LineRecord, model: Model, reservationId: string): void {
    const gateMsat = line.gateMsat ?? 0;
    this.running++;
    this.busy.set(batch.id, (this.busy.get(batch.id) ?? 0) + 1);
    const p = this.run(batch, line, model, gateMsat, reservationId);
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p));
  }

  private async run(batch: BatchRecord, line: LineRecord, model: Model, gateMsat: number, reservationId: string): Promise<void> {
    const { store, payee, admission } = this.deps;
    const claimer = line.claimer as string;
    let release: (() => void) | undefined;
    let wake = true;
    try {
      try {
        release = await admission.acquire(BATCH_PRIORITY);
      } catch {
        // Lost the slot to a race: try again when admission changes, not in a loop.
        wake = false;
        payee.release(reservationId);
        await store.resetPending(batch.id, line.index, claimer, 'running');
        return;
      }
      if (this.stopped) {
        payee.release(reservationId);
        await store.resetPending(batch.id, line.index, claimer, 'running');
        return;
      }
      const outcome = await this.callEngine(batch.endpoint, line.body ?? {}, model);
      if (outcome.kind === 'ok') {
        const json = outcome.json;
        const body = line.body ?? {};
        const b = bill(model, gateMsat, json['usage'], { promptTokens: countPromptTokens(body), completionTokens: countCompletionTokens(generatedChars(json)) });
        const response = { status_code: 200, request_id: randomUUID(), body: attachCostMetadata(json, b.cost) };
        if (!(await store.markAnswered(batch.id, line.index, claimer, response, b.cost.total_msats))) {
          // Taken back while it ran (this claimer was presumed gone): the runner that took it charges it, not this one.
          payee.release(reservationId);
          return;
        }
        failpoint('batch:after-answer');
        let settled: { chargedMsat: number };
        try {
          settled = payee.settle(reservationId, b.cost.total_msats);
        } catch (error) {
          // Recovery released the reservation (this claimer was presumed gone, e.g. its PostgreSQL session
          // dropped) and took the line back: the runner that took it charges it, not this one. Any other
          // failure is broken books: it propagates and stops the node.
          if (payee.store.reservation(reservationId)?.state === 'released') return;
          throw error;
        }
        // A line is marked done only once its charge is committed (a stored answer is not a sent one).
        payee.flush();
        failpoint('batch:after-settle');
        await store.markDone(batch.id, line.index, claimer, settled.chargedMsat);
        return;
      }
      payee.release(reservationId);
      if (this.stopped) return void (await store.resetPending(batch.id, line.index, claimer, 'running'));
      if (outcome.kind === 'http') await store.markFailed(batch.id, line.index, claimer, { status_code: outcome.status, request_id: randomUUID(), body: outcome.body }, null);
      else await store.markFailed(batch.id, line.index, claimer, null, { code: 'upstream_unreachable', message: outcome.message });
    } finally {
      release?.();
      this.running--;
      this.busy.set(batch.id, (this.busy.get(batch.id) ?? 1) - 1);
      if (wake) this.kick();
      await this.emit(batch.id);
    }
  }

  private async callEngine(endpoint: string, body: Record<string, unknown>, model: Model): Promise<EngineOutcome> {
    // The reservation covers exactly this output bound: the engine is told it, whatever the line sent.
    const upstreamBody = boundedUpstreamBody(body, model).body;
    delete upstreamBody['stream'];
    delete upstreamBody['stream_options'];
    try {
      const headers = { 'content-type': 'application/json', accept: 'application/json', ...(this.deps.upstreamApiKey ? { authorization: `Bearer ${this.deps.upstreamApiKey}` } : {}) };
      const res = await postToReplica(this.deps.replicas, this.agents, model.id, endpoint, headers, JSON.stringify(upstreamBody), this.abort.signal);
      const text = await readText(res.body);
      let parsed: unknown;
      try {
        parsed = JSON.parse(text) as unknown;
      } catch {
        parsed = undefined;
      }
      if (res.status < 200 || res.status > 299) return { kind: 'http', status: res.status, body: parsed ?? { error: { message: text || `engine answered ${res.status}`, type: 'upstream_error', code: res.status } } };
      if (!isObject(parsed)) return { kind: 'unreachable', message: 'The engine answered with something other than a JSON object' };
      return { kind: 'ok', json: parsed };
    } catch {
      return { kind: 'unreachable', message: 'The engine could not be reached' };
    }
  }

  private armTimer(atMs: number): void {
    if (atMs === this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = atMs;
    if (!Number.isFinite(atMs)) return;
    // Wake at the earliest expiry even when nothing else happens (a batch held for price).
    this.timer = setTimeout(() => {
      this.timerAt = Infinity;
      this.kick();
    }, Math.max(0, atMs - Date.now()) + 10);
    this.timer.unref();
  }

  /** Ends a batch (no line of it on the engine): unrun lines fail as expired/cancelled; the output and error files are written in the same transaction. */
  private async finish(b: BatchRecord, final: 'completed' | 'expired' | 'cancelled'): Promise<void> {
    const t = nowS();
    const failPendingWith = final === 'expired' ? EXPIRED : final === 'cancelled' ? CANCELLED : undefined;
    const ended = await this.deps.store.endBatch(b.id, failPendingWith, (done, failed) => {
      const files: StoredFile[] = [];
      const write = (lines: LineRecord[], kind: 'output' | 'error', toLine: (l: LineRecord) => unknown): string | null => {
        if (lines.length === 0) return null;
        const content = Buffer.from(toJsonl(lines.map(toLine)), 'utf8');
        const id = newFileId();
        files.push({ file: { id, owner: b.owner, filename: `${b.id}_${kind}.jsonl`, purpose: 'batch_output', bytes: content.length, createdAt: t }, content });
        return id;
      };
      const outputFileId = write(done, 'output', outputLine);
      const errorFileId = write(failed, 'error', errorLine);
      const at = final === 'completed' ? { completedAt: t } : final === 'expired' ? { expiredAt: t } : { cancelledAt: t };
      return { files, patch: { status: final, outputFileId, errorFileId, finalizingAt: b.finalizingAt ?? t, ...at } };
    });
    if (ended) await this.emit(b.id);
  }
}
