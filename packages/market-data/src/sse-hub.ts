/** Server-Sent Events clients of `/api/stream`: fan-out, a ping every 15 s, slow clients dropped. */
import type { ServerResponse } from 'node:http';

/** A client whose unsent backlog passes this is cut (it reconnects and refetches). */
const MAX_BACKLOG_BYTES = 1 << 20;

/** The open `/api/stream` connections. */
export class SseHub {
  readonly #clients = new Set<ServerResponse>();
  readonly #ping: ReturnType<typeof setInterval>;
  readonly #maxClients: number;

  constructor(pingMs = 15_000, maxClients = 1_000) {
    this.#maxClients = maxClients;
    this.#ping = setInterval(() => this.#write(': ping\n\n'), pingMs);
    this.#ping.unref();
  }

  /** Takes over `res` as an event stream until the client leaves; false (nothing written) when the hub is full. */
  add(res: ServerResponse): boolean {
    if (this.#clients.size >= this.#maxClients) return false;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-content-type-options': 'nosniff',
      'access-control-allow-origin': '*',
    });
    res.write(': connected\n\n');
    this.#clients.add(res);
    res.on('close', () => this.#clients.delete(res));
    return true;
  }

  /** Sends one event to every client. */
  send(event: string, data: unknown): void {
    if (this.#clients.size === 0) return;
    this.#write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  get size(): number {
    return this.#clients.size;
  }

  /** Ends every stream and stops the pings. */
  close(): void {
    clearInterval(this.#ping);
    for (const res of this.#clients) res.end();
    this.#clients.clear();
  }

  #write(frame: string): void {
    for (const res of this.#clients) {
      if (res.writableLength > MAX_BACKLOG_BYTES) {
        this.#clients.delete(res);
        res.destroy();
        continue;
      }
      res.write(frame);
    }
  }
}
