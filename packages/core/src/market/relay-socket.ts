/**
 * The WebSocket every relay connection of the kit uses. nostr-tools closes a socket that is still
 * connecting when its connection timeout fires and detaches its `onerror` first; `ws` then emits
 * `error` on the next tick with no listener, which Node turns into an uncaught exception that
 * kills the process. Relay faults are expected on an open network, so the socket keeps an
 * `error` listener of its own for its whole life (nostr-tools learns of the failure from `close`),
 * bounds the handshake and the size of a frame.
 */
import WebSocket from 'ws';

export interface RelaySocketOptions {
  /** The opening handshake must finish within this (default 10 000 ms). */
  readonly handshakeTimeoutMs?: number;
  /** Largest frame accepted from a relay; a bigger one closes the connection (default 4 MiB). */
  readonly maxPayloadBytes?: number;
}

/** A WebSocket class to hand nostr-tools as `websocketImplementation` (it calls `new Impl(url)`). */
export type RelaySocketClass = typeof globalThis.WebSocket;

function ignoreError(): void {
  // the close that follows every error is what the relay code acts on
}

/**
 * A `ws` WebSocket class that never throws an unhandled `error`: relay faults (stalled handshake,
 * drop, garbage frames) become a closed connection, never a crash.
 */
export function relaySocketClass(options: RelaySocketOptions = {}): RelaySocketClass {
  const socketOptions = { handshakeTimeout: options.handshakeTimeoutMs ?? 10_000, maxPayload: options.maxPayloadBytes ?? 4 * 1024 * 1024 };
  class RelaySocket extends WebSocket {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(url, protocols, socketOptions);
      this.on('error', ignoreError);
    }
  }
  return RelaySocket as unknown as RelaySocketClass;
}

/**
 * The same guarantee for a caller-supplied implementation (a test's `ws`, a browser WebSocket):
 * subclasses it to hold an `error` listener from construction.
 */
export function guardedSocketClass(base: unknown, options: RelaySocketOptions = {}): RelaySocketClass {
  if (base === undefined || base === WebSocket) return relaySocketClass(options);
  const Base = base as new (url: string | URL, protocols?: string | string[]) => EventTarget & { on?: (event: string, listener: () => void) => unknown };
  class GuardedSocket extends Base {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(url, protocols);
      if (typeof this.on === 'function') this.on('error', ignoreError);
      else this.addEventListener('error', ignoreError);
    }
  }
  return GuardedSocket as unknown as RelaySocketClass;
}
