/**
 * Watches a paid SSE stream as it passes to the caller unchanged: the usage (trailer chunk), the
 * cost the node reports, and our change comment `: x-cashu <token>`.
 */
import { readReportedCost, readSseLine } from '../../protocol/index.ts';

export class SseTap {
  #decoder = new TextDecoder();
  #buffer = '';
  /** The change token from a `: x-cashu` comment, once seen. */
  changeToken: string | undefined;
  /** The last `usage` object seen. */
  usage: unknown;
  /** Cost the node reported (usage.cost, metadata.routstr), msats. */
  costMsat: number | undefined;
  /** `usage.remaining_balance_msats` / metadata (sessions). */
  remainingMsat: number | undefined;
  /** Bytes seen. */
  bytes = 0;
  /** Called with the change token as soon as its line is complete. */
  onChange: ((token: string) => void) | undefined;

  /** Feeds one chunk of the body; returns the complete lines it finished (each with its newline). */
  push(chunk: Uint8Array): string[] {
    this.bytes += chunk.byteLength;
    this.#buffer += this.#decoder.decode(chunk, { stream: true });
    const lines: string[] = [];
    let nl: number;
    while ((nl = this.#buffer.indexOf('\n')) !== -1) {
      const line = this.#buffer.slice(0, nl + 1);
      this.#buffer = this.#buffer.slice(nl + 1);
      this.#line(line);
      lines.push(line);
    }
    return lines;
  }

  /** Flushes a last line without a newline; returns it ('' when none). */
  end(): string {
    this.#buffer += this.#decoder.decode();
    const rest = this.#buffer;
    if (rest !== '') this.#line(rest);
    this.#buffer = '';
    return rest;
  }

  /** True for the `data: [DONE]` line that ends an OpenAI stream. */
  static isDone(line: string): boolean {
    return readSseLine(line).kind === 'done';
  }

  #line(raw: string): void {
    const line = readSseLine(raw.replace(/\r?\n$/, ''));
    if (line.kind === 'x-cashu') {
      this.changeToken = line.token;
      this.onChange?.(line.token);
      return;
    }
    if (line.kind !== 'data' || typeof line.json !== 'object' || line.json === null) return;
    const chunk = line.json as Record<string, unknown>;
    const usage = chunk['usage'];
    if (typeof usage === 'object' && usage !== null) {
      this.usage = usage;
      try {
        this.costMsat = readReportedCost(chunk)?.totalMsat ?? this.costMsat;
      } catch {
        // a malformed cost leaves the last good one
      }
      const remaining = (usage as Record<string, unknown>)['remaining_balance_msats'];
      if (typeof remaining === 'number' && Number.isSafeInteger(remaining)) this.remainingMsat = remaining;
    }
  }
}
