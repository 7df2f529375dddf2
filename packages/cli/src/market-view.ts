/**
 * The two outputs of `routstr-kit market`. On a terminal: a full screen (alternate screen,
 * hidden cursor) redrawn at most every 100 ms and once a second for the tick ages, restored on
 * close. Piped: one JSON line per change of a row (a model's entry, or the watched model's book),
 * changes coalesced over the same 100 ms so a flood of ticks cannot flood the reader.
 */

const REDRAW_MS = 100;
const ENTER = '\x1b[?1049h\x1b[?25l';
const LEAVE = '\x1b[?25h\x1b[?1049l';

/** What the command drives: `changed` after market events, `refresh` each second, `close` on exit. */
export interface MarketOutput {
  changed(): void;
  refresh(): void;
  close(): void;
}

/** A keyed snapshot: each entry is written as one JSON line when its value changes. */
export interface JsonEntry {
  readonly key: string;
  readonly value: Record<string, unknown>;
}

/** The live full-screen view; `render` gives the lines for the current time. */
export class TerminalScreen implements MarketOutput {
  readonly #out: NodeJS.WriteStream;
  readonly #render: (now: number) => string[];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #open = false;
  readonly #onResize = (): void => this.refresh();
  // a crash while the screen is up still gives the shell its screen and cursor back
  readonly #onExit = (): void => this.close();

  constructor(out: NodeJS.WriteStream, render: (now: number) => string[]) {
    this.#out = out;
    this.#render = render;
  }

  /** Enters the alternate screen and draws the first frame. */
  start(): void {
    this.#open = true;
    this.#out.write(ENTER);
    this.#out.on('resize', this.#onResize);
    process.once('exit', this.#onExit);
    this.#draw();
  }

  changed(): void {
    if (!this.#open) return;
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      this.#draw();
    }, REDRAW_MS);
  }

  /** Redraws now (the clock moved, or the terminal was resized) unless a redraw is already due. */
  refresh(): void {
    if (this.#open && this.#timer === undefined) this.#draw();
  }

  /** Stops drawing, shows the cursor and leaves the alternate screen (the shell's screen comes back). */
  close(): void {
    if (!this.#open) return;
    this.#open = false;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#out.off('resize', this.#onResize);
    process.off('exit', this.#onExit);
    this.#out.write(LEAVE);
  }

  #draw(): void {
    const width = Math.max(20, this.#out.columns || 120);
    const height = Math.max(5, this.#out.rows || 40);
    const lines = this.#render(Date.now()).slice(0, height);
    // home, each line cut to the width and its rest erased, then the rest of the screen erased
    this.#out.write(`\x1b[H${lines.map((l) => `${[...l].slice(0, width).join('')}\x1b[K`).join('\r\n')}\x1b[J`);
  }
}

/** The piped output: JSON lines, one per entry whose value changed since it was last written. */
export class JsonLines implements MarketOutput {
  readonly #out: NodeJS.WritableStream;
  readonly #snapshot: () => JsonEntry[];
  readonly #removed: (key: string) => Record<string, unknown>;
  readonly #written = new Map<string, string>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #open = true;

  /** `removed(key)` is the line for an entry that left the snapshot (a model with no live ask). */
  constructor(out: NodeJS.WritableStream, snapshot: () => JsonEntry[], removed: (key: string) => Record<string, unknown>) {
    this.#out = out;
    this.#snapshot = snapshot;
    this.#removed = removed;
  }

  /** Writes the first lines (the book as the relays gave it so far). */
  start(): void {
    this.#flush();
  }

  changed(): void {
    if (!this.#open) return;
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      this.#flush();
    }, REDRAW_MS);
  }

  refresh(): void {
    // ages are not changes: nothing to write on the clock alone
  }

  close(): void {
    if (!this.#open) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#flush();
    this.#open = false;
  }

  #flush(): void {
    const at = Date.now();
    const seen = new Set<string>();
    let text = '';
    for (const { key, value } of this.#snapshot()) {
      seen.add(key);
      const json = JSON.stringify(value);
      if (this.#written.get(key) === json) continue;
      this.#written.set(key, json);
      text += `${JSON.stringify({ at, ...value })}\n`;
    }
    for (const key of [...this.#written.keys()]) {
      if (seen.has(key)) continue;
      this.#written.delete(key);
      text += `${JSON.stringify({ at, ...this.#removed(key) })}\n`;
    }
    if (text !== '') this.#out.write(text);
  }
}
