/**
 * The text of `routstr-kit market`'s screens: the models table and one model's book, as lines
 * fitted to the terminal's width. Pure functions of the rows; provider-supplied strings are
 * stripped of control characters so a hostile name cannot drive the terminal.
 */
import type { BookAsk, ModelBook, ModelRow, SortOrder } from './market-rows.ts';
import type { TickEntry } from './market-watch.ts';

const SPARK_BLOCKS = '▁▂▃▄▅▆▇█';
const SPARK_WIDTH = 16;
const TICKS_SHOWN = 10;

/** Removes C0/C1 control characters (escape sequences, newlines) from untrusted text. */
export function printable(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, '');
}

// a cell one wider than its text keeps a space between columns; longer text is cut with an ellipsis
const pad = (s: string, n: number): string => (s.length >= n ? `${s.slice(0, n - 2)}… ` : s + ' '.repeat(n - s.length));
const lpad = (s: string, n: number): string => (s.length >= n ? s : ' '.repeat(n - s.length) + s);

/** 1234 → "1234", 1 500 000 → "1.5M", 300 000 000 → "300M" (three significant digits). */
export function compact(n: number): string {
  if (Math.abs(n) < 10_000) return String(n);
  const units = ['k', 'M', 'G', 'T', 'P'];
  let value = n;
  let unit = '';
  for (const u of units) {
    if (Math.abs(value) < 1_000) break;
    value /= 1_000;
    unit = u;
  }
  const digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2;
  return `${Number(value.toFixed(digits))}${unit}`;
}

/** A whole number with thin grouping: 1234567 → "1 234 567". */
export function grouped(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ' ');
}

/** Seconds, minutes or hours since `at`; "-" when never. */
export function age(at: number | null, now: number): string {
  if (at === null) return '-';
  const s = Math.max(0, Math.floor((now - at) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  return `${Math.floor(s / 3600)}h`;
}

/** The last values as unicode blocks scaled between their minimum and maximum. */
export function sparkline(values: readonly number[], width = SPARK_WIDTH): string {
  const shown = values.slice(-width);
  if (shown.length === 0) return '';
  const lo = Math.min(...shown);
  const hi = Math.max(...shown);
  const top = SPARK_BLOCKS.length - 1;
  return shown.map((v) => SPARK_BLOCKS[hi === lo ? 0 : Math.round(((v - lo) / (hi - lo)) * top)]).join('');
}

/** What the header line says. */
export interface ScreenContext {
  readonly relays: number;
  readonly now: number;
  readonly sort: SortOrder;
}

/** The models table. */
export function tableLines(rows: readonly ModelRow[], ctx: ScreenContext): string[] {
  const head = `${pad('MODEL', 28)}${lpad('PROMPT', 8)}${lpad('COMPL', 8)}${lpad('BEST sat', 10)}${lpad('MEDIAN', 9)}${lpad('SPREAD', 9)}${lpad('PROV', 6)}${lpad('TICK', 6)}  TREND`;
  const lines = [
    `routstr-kit market · ${ctx.relays} relay${ctx.relays === 1 ? '' : 's'} · ${rows.length} model${rows.length === 1 ? '' : 's'} · sorted by ${ctx.sort} · Ctrl-C quits`,
    '',
    head,
  ];
  for (const r of rows) {
    lines.push(
      `${pad(printable(r.id), 28)}${lpad(r.bestAsk ? compact(r.bestAsk.promptMsatPerMtok) : '-', 8)}${lpad(r.bestAsk ? compact(r.bestAsk.completionMsatPerMtok) : '-', 8)}` +
        `${lpad(r.bestAsk ? grouped(r.bestAsk.typicalRequestSat) : '-', 10)}${lpad(r.median ? grouped(r.median.typicalRequestSat) : '-', 9)}` +
        `${lpad(r.spreadMsat === null ? '-' : compact(r.spreadMsat), 9)}${lpad(String(r.providers), 6)}${lpad(age(r.lastTickAt, ctx.now), 6)}  ${sparkline(r.spark)}`,
    );
  }
  if (rows.length === 0) lines.push('(no asks yet: waiting for announcements and ticks)');
  lines.push('', 'PROMPT/COMPL: best ask, msat per million tokens · BEST/MEDIAN: a typical request (1 000 prompt + 500 completion tokens) in sat · SPREAD: 2nd best − best, msat');
  return lines;
}

function bookAskLine(a: BookAsk): string {
  const name = printable(a.name) || a.provider.split(':')[1]?.slice(0, 12) || a.provider;
  return (
    `${pad(name, 20)}${pad(a.source, 13)}${lpad(compact(a.promptMsatPerMtok), 9)}${lpad(compact(a.completionMsatPerMtok), 9)}` +
    `${lpad(grouped(a.typicalRequestSat), 10)}${lpad(a.load === null ? '-' : `${Math.round(a.load * 100)}%`, 7)}${lpad(a.latencyMs === null ? '-' : `${a.latencyMs}ms`, 9)}  ${printable(a.url)}`
  );
}

function tickLine(t: TickEntry, nameOf: (provider: string) => string, now: number): string {
  return `${lpad(age(t.at, now), 5)} ago  ${pad(nameOf(t.provider), 20)}${lpad(compact(t.promptMsatPerMtok), 9)}${lpad(compact(t.completionMsatPerMtok), 9)}${lpad(t.load === null ? '-' : `${Math.round(t.load * 100)}%`, 7)}`;
}

/** One model's book (depth by provider) and its recent ticks. */
export function bookLines(book: ModelBook, ctx: ScreenContext): string[] {
  const names = new Map(book.asks.map((a) => [a.provider, printable(a.name) || a.provider.slice(6, 18)]));
  const nameOf = (p: string): string => names.get(p) ?? p.slice(6, 18);
  const lines = [
    `routstr-kit market · ${printable(book.model)} · ${book.asks.length} ask${book.asks.length === 1 ? '' : 's'} · ${ctx.relays} relay${ctx.relays === 1 ? '' : 's'} · Ctrl-C quits`,
    '',
    `${pad('PROVIDER', 20)}${pad('SOURCE', 13)}${lpad('PROMPT', 9)}${lpad('COMPL', 9)}${lpad('TYP sat', 10)}${lpad('LOAD', 7)}${lpad('LATENCY', 9)}  URL`,
    ...book.asks.map(bookAskLine),
  ];
  if (book.asks.length === 0) lines.push('(no live asks for this model yet)');
  lines.push('', `RECENT TICKS (${book.ticks.length})`, `${lpad('', 5)}      ${pad('PROVIDER', 20)}${lpad('PROMPT', 9)}${lpad('COMPL', 9)}${lpad('LOAD', 7)}`);
  for (const t of book.ticks.slice(0, TICKS_SHOWN)) lines.push(tickLine(t, nameOf, ctx.now));
  if (book.ticks.length === 0) lines.push('(no ticks yet)');
  lines.push('', 'PROMPT/COMPL: msat per million tokens · TYP: a typical request (1 000 prompt + 500 completion tokens) in sat · LOAD from ticks · LATENCY from probes');
  return lines;
}
