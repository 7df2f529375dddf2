/**
 * What the demo prints while it runs: the order book as a compact table that redraws in place on
 * a terminal, the fills and the batch's progress. Without a TTY (CI, pipes) it prints plain lines
 * instead: one per book change, fill and progress step, so the log reads top to bottom.
 */
import type { PricedAsk } from '@routstr-kit/core';

export interface BookRow {
  readonly name: string;
  readonly ask: PricedAsk | undefined;
}

export interface DemoStatus {
  readonly phase: string;
  readonly rows: readonly BookRow[];
  readonly limitMsat: number;
  readonly agent: { readonly buys: number; readonly spentMsat: number; readonly lastProvider: string | undefined };
  readonly batch: { readonly done: number; readonly total: number; readonly running: number; readonly paused: boolean; readonly spentMsat: number; readonly averagePriceMsat: number } | undefined;
}

const pad = (s: string, n: number): string => (s.length >= n ? s.slice(0, n) : s + ' '.repeat(n - s.length));
const lpad = (s: string, n: number): string => (s.length >= n ? s : ' '.repeat(n - s.length) + s);

/** Renders the live status (TTY) or logs it (plain). */
export class DemoView {
  readonly #out: NodeJS.WriteStream;
  readonly #tty: boolean;
  #drawn = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #last: DemoStatus | undefined;
  #lastBookLine = '';
  #lastBatchLine = '';

  constructor(out: NodeJS.WriteStream = process.stdout) {
    this.#out = out;
    this.#tty = out.isTTY === true && process.env['CI'] === undefined;
  }

  get tty(): boolean {
    return this.#tty;
  }

  /** A line that stays (printed above the live table on a TTY). */
  log(line: string): void {
    this.#clear();
    this.#out.write(`${line}\n`);
    if (this.#last && this.#tty) this.#draw(this.#last);
  }

  /** New status: redraws at most every 100 ms on a TTY; logs the changes otherwise. */
  update(status: DemoStatus): void {
    this.#last = status;
    if (this.#tty) {
      this.#timer ??= setTimeout(() => {
        this.#timer = undefined;
        if (this.#last) {
          this.#clear();
          this.#draw(this.#last);
        }
      }, 100);
      return;
    }
    const book = status.rows.map((r) => `${r.name} ${r.ask ? r.ask.priceMsat : '-'}`).join(' | ');
    if (book !== this.#lastBookLine) {
      this.#lastBookLine = book;
      this.#out.write(`  book (msat per batch request, limit ${status.limitMsat}): ${book}\n`);
    }
    const b = status.batch;
    if (b) {
      const line = `  batch ${b.done}/${b.total} done, ${b.running} running, ${b.paused ? 'waiting for price' : 'buying'}, spent ${b.spentMsat} msat`;
      // plain output: a line per 10 done, and on pause/resume
      const key = `${Math.floor(b.done / 10)}|${b.paused}|${b.done === b.total}`;
      if (key !== this.#lastBatchLine) {
        this.#lastBatchLine = key;
        this.#out.write(`${line}\n`);
      }
    }
  }

  /** Stops redrawing; leaves the last table on screen. */
  stop(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#tty && this.#last) {
      this.#clear();
      this.#draw(this.#last);
    }
    this.#drawn = 0;
  }

  #clear(): void {
    if (!this.#tty || this.#drawn === 0) return;
    this.#out.write(`\x1b[${this.#drawn}F\x1b[J`);
    this.#drawn = 0;
  }

  #draw(s: DemoStatus): void {
    const best = s.rows.filter((r) => r.ask).sort((a, b) => (a.ask?.priceMsat ?? 0) - (b.ask?.priceMsat ?? 0))[0];
    const lines = [
      `┌ ${pad(s.phase, 66)}┐`,
      `│ ${pad('provider', 14)}${pad('source', 8)}${lpad('prompt', 12)}${lpad('completion', 13)}${lpad('msat/req', 10)}  ${pad('', 8)}│`,
      ...s.rows.map((r) => {
        const a = r.ask;
        const mark = a && best === r ? '◀ best' : '';
        return `│ ${pad(r.name, 14)}${pad(a?.source ?? '-', 8)}${lpad(a ? String(a.prompt) : '-', 12)}${lpad(a ? String(a.completion) : '-', 13)}${lpad(a ? String(a.priceMsat) : '-', 10)}  ${pad(mark, 8)}│`;
      }),
      `│ ${pad(`limit ${s.limitMsat} msat/req · agent ${s.agent.buys} buys, ${s.agent.spentMsat} msat${s.agent.lastProvider ? `, last ${s.agent.lastProvider}` : ''}`, 67)}│`,
      `│ ${pad(s.batch ? `batch ${bar(s.batch.done, s.batch.total)} ${s.batch.done}/${s.batch.total} ${s.batch.paused ? 'waiting for price' : `buying (${s.batch.running} in flight)`} avg ${s.batch.averagePriceMsat} msat` : 'batch not started', 67)}│`,
      `└${'─'.repeat(68)}┘`,
    ];
    this.#out.write(`${lines.join('\n')}\n`);
    this.#drawn = lines.length;
  }
}

function bar(done: number, total: number): string {
  const width = 16;
  const full = total === 0 ? 0 : Math.round((done / total) * width);
  return `[${'█'.repeat(full)}${'·'.repeat(width - full)}]`;
}
