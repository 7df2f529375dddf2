/**
 * Test support: a nostr-tools subscriber that records what a relay delivers, in order, and lets a
 * test wait for a matching event instead of sleeping.
 */
import WebSocket from 'ws';
import { verifyEvent, type Event, type Filter } from 'nostr-tools';
import { AbstractSimplePool, type SubCloser } from 'nostr-tools/pool';

export function testPool(): AbstractSimplePool {
  return new AbstractSimplePool({ verifyEvent, websocketImplementation: WebSocket as unknown as typeof globalThis.WebSocket, maxWaitForConnection: 5_000 });
}

/** Every event a live subscription received, in arrival order. */
export class RelayTape {
  readonly events: Event[] = [];
  private readonly waiters: { match: (e: Event) => boolean; resolve: (e: Event) => void }[] = [];
  private sub: SubCloser | undefined;

  /** Subscribes and resolves once the relay has sent EOSE (so nothing published after is missed). */
  static async open(pool: AbstractSimplePool, relay: string, filter: Filter): Promise<RelayTape> {
    const tape = new RelayTape();
    await new Promise<void>((resolve) => {
      tape.sub = pool.subscribe([relay], filter, {
        onevent: (event) => tape.push(event),
        oneose: () => resolve(),
      });
    });
    return tape;
  }

  /** The first recorded or future event matching `match`. */
  next(match: (e: Event) => boolean): Promise<Event> {
    const seen = this.events.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => this.waiters.push({ match, resolve }));
  }

  close(): void {
    this.sub?.close();
  }

  private push(event: Event): void {
    this.events.push(event);
    for (const w of [...this.waiters]) {
      if (w.match(event)) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve(event);
      }
    }
  }
}
