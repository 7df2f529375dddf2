/**
 * `Batch`: a client-side limit-buy batch. Lines are dispatched while the best ask for the batch's
 * shape is at or below the limit (each pinned to that ask and its quote), the batch pauses when
 * the book rises above and resumes when it falls — both decided synchronously on ask changes.
 * Each line runs at most once (claimed by `custom_id` in the store before it is paid for). Output
 * and errors come back in OpenAI's Batch API output format; on the deadline the lines not run are
 * reported as `batch_expired`, with a summary.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Market, PricedAsk, RequestShape } from '../market/index.ts';
import type { MaxPrice, Receipt } from '../payments/payer/index.ts';
import type { Filler } from './fill.ts';
import { withinLimit } from './limit-order.ts';
import { atDeadline, type OrderClock } from './order-clock.ts';
import type { BatchLineRecord, OrderStore } from './order-store.ts';

export interface BatchProgress {
  readonly total: number;
  readonly done: number;
  readonly failed: number;
  readonly running: number;
  readonly waiting: number;
  /** Σ what the finished lines took, msats. */
  readonly spentMsat: number;
  /** Mean ask (msats for the batch's shape) the dispatched lines went out at; 0 before any. */
  readonly averagePriceMsat: number;
  /** True while the book is above the limit. */
  readonly paused: boolean;
}

export type BatchOutcome = 'completed' | 'expired' | 'cancelled';

export interface BatchSummary extends BatchProgress {
  readonly id: string;
  readonly status: BatchOutcome;
  readonly expired: number;
  /** How often the batch paused for price. */
  readonly pauses: number;
  /** One human line. */
  readonly text: string;
}

export interface BatchResult {
  readonly status: BatchOutcome;
  /** OpenAI batch output file (JSONL): one line per completed request. */
  readonly output: string;
  /** OpenAI batch error file (JSONL): failed and expired lines. */
  readonly errors: string;
  readonly summary: BatchSummary;
}

export interface BatchEvents {
  progress: [BatchProgress];
  paused: [{ bestAsk: PricedAsk | undefined }];
  resumed: [{ bestAsk: PricedAsk }];
  /** A line ended; `receipt` is its request's own receipt when it was served. */
  line: [{ customId: string; ok: boolean; output: Record<string, unknown>; receipt?: Receipt }];
  done: [BatchResult];
}

interface Deps {
  readonly market: Market;
  readonly store: OrderStore;
  readonly filler: Filler;
  readonly path: string;
  readonly clock: OrderClock;
}

/** Tries of one line that took nothing before it is reported as failed. */
const MAX_TRIES = 3;

const reqId = (): string => `batch_req_${randomBytes(12).toString('hex')}`;

function errorLine(customId: string, code: string, message: string): Record<string, unknown> {
  return { id: reqId(), custom_id: customId, response: null, error: { code, message } };
}

/** A batch in flight; `await batch.result`. */
export class Batch extends EventEmitter<BatchEvents> {
  readonly id: string;
  readonly model: string;
  readonly maxPrice: MaxPrice;
  readonly deadline: number;
  readonly concurrency: number;
  readonly shape: RequestShape;
  readonly result: Promise<BatchResult>;
  readonly #deps: Deps;
  readonly #key: string;
  readonly #queue: BatchLineRecord[] = [];
  readonly #tries = new Map<string, number>();
  readonly #skip = new Set<string>();
  #total = 0;
  #done = 0;
  #failed = 0;
  #running = 0;
  #spentMsat = 0;
  #priceSum = 0;
  #dispatched = 0;
  #paused = false;
  #pauses = 0;
  #stopping: BatchOutcome | undefined;
  #finished = false;
  #off: (() => void) | undefined;
  #cancelTimer: (() => void) | undefined;
  #resolve: (r: BatchResult) => void = () => undefined;

  constructor(record: { id: string; model: string; maxPrice: MaxPrice; deadline: number; concurrency: number; shape: RequestShape }, deps: Deps) {
    super();
    this.id = record.id;
    this.model = record.model;
    this.maxPrice = record.maxPrice;
    this.deadline = record.deadline;
    this.concurrency = Math.max(1, record.concurrency);
    this.shape = record.shape;
    this.#deps = deps;
    this.#key = deps.market.book.resolver.key(this.model);
    this.result = new Promise((resolve) => {
      this.#resolve = resolve;
    });
  }

  /** Loads the lines from the store and starts dispatching. */
  start(): void {
    const lines = this.#deps.store.lines(this.id);
    this.#total = lines.length;
    for (const l of lines) {
      if (l.state === 'waiting') this.#queue.push(l);
      else if (l.state === 'done') this.#account(l, true);
      else if (l.state === 'error') this.#account(l, false);
    }
    this.#off = this.#deps.market.onAskChange((c) => {
      if (c.model === this.#key) this.#pump();
    });
    // re-armed in steps: a single setTimeout past ~24.8 days would fire at once
    this.#cancelTimer = atDeadline(this.#deps.clock, this.deadline, () => this.#stop('expired'));
    this.#paused = this.#gate() === undefined;
    if (this.#paused) {
      this.#pauses += 1;
      this.emit('paused', { bestAsk: this.#deps.market.bestAsk(this.model, this.shape) });
    }
    this.#pump();
    this.#maybeFinish();
  }

  /** Counts and figures so far. */
  progress(): BatchProgress {
    return {
      total: this.#total,
      done: this.#done,
      failed: this.#failed,
      running: this.#running,
      waiting: this.#queue.length,
      spentMsat: this.#spentMsat,
      averagePriceMsat: this.#dispatched === 0 ? 0 : Math.round(this.#priceSum / this.#dispatched),
      paused: this.#paused,
    };
  }

  /** Stops dispatching; lines in flight finish, the rest are reported as cancelled. */
  cancel(): void {
    this.#stop('cancelled');
  }

  #account(l: BatchLineRecord, ok: boolean): void {
    if (ok) this.#done += 1;
    else this.#failed += 1;
    this.#spentMsat += l.chargedMsat ?? 0;
    if (l.priceMsat !== null) {
      this.#priceSum += l.priceMsat;
      this.#dispatched += 1;
    }
  }

  /** The ask lines go to now: the cheapest at or below the limit that has not just failed. */
  #gate(): PricedAsk | undefined {
    return this.#deps.market.book
      .asks(this.model, this.shape)
      .find((a) => withinLimit(a, this.maxPrice, this.shape) && !this.#skip.has(`${a.provider}|${a.quoteId ?? a.since}`) && this.#deps.market.registry.get(a.provider) !== undefined);
  }

  #pump(): void {
    if (this.#stopping || this.#finished) return;
    const ask = this.#gate();
    if (!ask) {
      if (!this.#paused && this.#queue.length > 0) {
        this.#paused = true;
        this.#pauses += 1;
        this.emit('paused', { bestAsk: this.#deps.market.bestAsk(this.model, this.shape) });
        this.emit('progress', this.progress());
      }
      return;
    }
    if (this.#paused) {
      this.#paused = false;
      this.emit('resumed', { bestAsk: ask });
    }
    let started = false;
    while (this.#running < this.concurrency && this.#queue.length > 0) {
      const line = this.#queue.shift() as BatchLineRecord;
      if (!this.#deps.store.claimLine(this.id, line.customId, ask.priceMsat)) continue;
      this.#running += 1;
      started = true;
      void this.#run(line, ask);
    }
    if (started) this.emit('progress', this.progress());
  }

  async #run(line: BatchLineRecord, ask: PricedAsk): Promise<void> {
    // stored before the request goes out: recovery links the line to its tokens
    const requestId = randomUUID();
    this.#deps.store.setLineRequestId(this.id, line.customId, requestId);
    const out = await this.#deps.filler.at(this.#deps.path, { ...line.body, model: line.body['model'] ?? this.model }, ask, requestId);
    this.#running -= 1;
    if (out.ok) {
      const output = { id: reqId(), custom_id: line.customId, response: { status_code: 200, request_id: out.requestId, body: out.response }, error: null };
      this.#deps.store.finishLine(this.id, line.customId, 'done', output, out.receipt.chargedMsat);
      this.#account({ ...line, chargedMsat: out.receipt.chargedMsat, priceMsat: ask.priceMsat }, true);
      this.emit('line', { customId: line.customId, ok: true, output, receipt: out.receipt });
    } else {
      const tries = (this.#tries.get(line.customId) ?? 0) + 1;
      this.#tries.set(line.customId, tries);
      const message = out.error instanceof Error ? out.error.message : String(out.error);
      if (out.spentSat === 0 && !out.final && tries < MAX_TRIES) {
        // nothing was taken: the line goes back to the queue, and this ask is not used again
        this.#skip.add(`${ask.provider}|${ask.quoteId ?? ask.since}`);
        this.#deps.store.requeueLine(this.id, line.customId);
        this.#queue.unshift({ ...line, state: 'waiting' });
      } else {
        const code = out.spentSat > 0 ? 'paid_without_answer' : ((out.error as { code?: string }).code ?? 'request_failed');
        const output = errorLine(line.customId, code, message);
        this.#deps.store.finishLine(this.id, line.customId, 'error', output, out.spentSat * 1000);
        this.#account({ ...line, chargedMsat: out.spentSat * 1000, priceMsat: ask.priceMsat }, false);
        this.emit('line', { customId: line.customId, ok: false, output });
      }
    }
    this.emit('progress', this.progress());
    this.#pump();
    this.#maybeFinish();
  }

  #stop(status: BatchOutcome): void {
    if (this.#stopping || this.#finished) return;
    this.#stopping = status;
    this.#maybeFinish();
  }

  #maybeFinish(): void {
    if (this.#finished || this.#running > 0) return;
    if (!this.#stopping && this.#queue.length > 0) return;
    this.#finished = true;
    this.#off?.();
    this.#cancelTimer?.();
    const status: BatchOutcome = this.#stopping ?? 'completed';
    const expiredCode = status === 'cancelled' ? 'batch_cancelled' : 'batch_expired';
    for (const line of this.#queue.splice(0)) {
      this.#deps.store.finishLine(this.id, line.customId, 'error', errorLine(line.customId, expiredCode, `the batch ${status === 'cancelled' ? 'was cancelled' : 'expired'} before the price allowed this request`), null);
    }
    this.#deps.store.setBatchState(this.id, status);
    const lines = this.#deps.store.lines(this.id);
    const output = lines.filter((l) => l.state === 'done' && l.output).map((l) => JSON.stringify(l.output)).join('\n');
    const errors = lines.filter((l) => l.state === 'error' && l.output).map((l) => JSON.stringify(l.output)).join('\n');
    const expired = lines.filter((l) => l.state === 'error' && (l.output?.['error'] as { code?: string } | undefined)?.code === expiredCode).length;
    const p = this.progress();
    const summary: BatchSummary = {
      ...p,
      failed: p.failed,
      waiting: 0,
      paused: false,
      id: this.id,
      status,
      expired,
      pauses: this.#pauses,
      text: `batch ${this.id} ${status}: ${p.done}/${p.total} done, ${p.failed} failed, ${expired} ${status === 'cancelled' ? 'cancelled' : 'expired'}; spent ${Math.ceil(p.spentMsat / 1000)} sat (${p.spentMsat} msat), average ask ${p.averagePriceMsat} msat/request; paused ${this.#pauses}×`,
    };
    const result: BatchResult = { status, output: output === '' ? '' : `${output}\n`, errors: errors === '' ? '' : `${errors}\n`, summary };
    this.emit('done', result);
    this.#resolve(result);
  }
}
