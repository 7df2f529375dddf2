/**
 * A subscription kept alive on several relays. Each relay gets its own connection loop over
 * nostr-tools' `AbstractRelay`: connect (bounded), REQ, wait for the connection to end, back off,
 * connect again, forever until closed. nostr-tools' own reconnect gives up when the first
 * connection fails and waits 10 s or more; this loop retries a relay that was down or stalled
 * at start as well as one that dropped or restarted. Faults never throw: see relay-socket.ts.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { AbstractRelay } from 'nostr-tools/abstract-relay';
import type { Filter } from 'nostr-tools/filter';
import { guardedSocketClass } from './relay-socket.ts';

/** Reconnect backoff: the wait doubles from `minMs` up to `maxMs` while a relay keeps failing. */
export interface ReconnectOptions {
  /** First wait after a failure (default 1 000 ms). */
  readonly minMs?: number;
  /** Longest wait (default 60 000 ms). */
  readonly maxMs?: number;
}

export interface RelaySubscriptionOptions {
  readonly relays: readonly string[];
  readonly filters: Filter[];
  /** Receives every event (unverified: the feed verifies). */
  readonly onEvent: (event: unknown, relay: string) => void;
  /** Called once when every relay sent EOSE, timed out or failed its first connection. */
  readonly onSynced?: () => void;
  /** Called on every (re)connection of a relay, after its REQ went out. */
  readonly onConnected?: (relay: string) => void;
  /** Wait for a relay's EOSE at most this long (default 5 000 ms). */
  readonly eoseTimeoutMs?: number;
  /** A connection (TCP + WebSocket handshake) must be open within this (default 10 000 ms). */
  readonly connectTimeoutMs?: number;
  readonly reconnect?: ReconnectOptions;
  /** Largest frame taken from a relay (default 4 MiB). */
  readonly maxFrameBytes?: number;
  readonly signal?: AbortSignal;
  readonly websocketImplementation?: unknown;
}

/** A live subscription on several relays. */
export interface RelaySubscription {
  close(): void;
}

/** nostr-tools' relay, minus the log line per frame that is no Nostr message (binary, not a JSON array). */
class QuietRelay extends AbstractRelay {
  override _onmessage(event: MessageEvent): void {
    if (typeof event.data === 'string' && event.data.startsWith('[')) super._onmessage(event);
  }
}

interface LinkSettings {
  readonly options: RelaySubscriptionOptions;
  readonly socket: ReturnType<typeof guardedSocketClass>;
  readonly signal: AbortSignal;
  readonly synced: (relay: string) => void;
}

/** One REQ over one connection; resolves when the connection ends and says whether it reached EOSE. */
async function subscribeOnce(relay: AbstractRelay, url: string, s: LinkSettings): Promise<boolean> {
  let eosed = false;
  // the socket may have closed between the open and here (a relay that sends garbage right away);
  // nostr-tools' subscribe would then reject a promise nobody awaits
  if (!relay.connected) return false;
  const ended = new Promise<void>((resolve) => {
    relay.onclose = () => resolve();
    relay.subscribe(s.options.filters, {
      onevent: (event) => s.options.onEvent(event, url),
      oneose: () => {
        eosed = true;
        s.synced(url);
      },
      onclose: () => resolve(),
      eoseTimeout: s.options.eoseTimeoutMs ?? 5_000,
    });
  });
  s.options.onConnected?.(url);
  const onAbort = () => relay.close();
  s.signal.addEventListener('abort', onAbort, { once: true });
  try {
    await ended;
  } finally {
    s.signal.removeEventListener('abort', onAbort);
    relay.close();
  }
  return eosed;
}

async function keepSubscribed(url: string, s: LinkSettings): Promise<void> {
  const minMs = s.options.reconnect?.minMs ?? 1_000;
  const maxMs = s.options.reconnect?.maxMs ?? 60_000;
  let failures = 0;
  while (!s.signal.aborted) {
    let relay: AbstractRelay;
    try {
      relay = new QuietRelay(url, { verifyEvent: () => true, websocketImplementation: s.socket, enablePing: true });
    } catch {
      s.synced(url); // not a relay URL: nothing to retry
      return;
    }
    let reachedEose = false;
    // nostr-tools takes the abort as `signal.onabort = reject`: one controller per connection
    const connecting = new AbortController();
    const stopConnecting = () => connecting.abort();
    s.signal.addEventListener('abort', stopConnecting, { once: true });
    try {
      await relay.connect({ timeout: s.options.connectTimeoutMs ?? 10_000, abort: connecting.signal });
      s.signal.removeEventListener('abort', stopConnecting);
      reachedEose = await subscribeOnce(relay, url, s);
    } catch {
      relay.close();
    } finally {
      s.signal.removeEventListener('abort', stopConnecting);
    }
    s.synced(url);
    // a connection that synced resets the backoff; one that keeps failing waits longer each time
    failures = reachedEose ? 0 : failures + 1;
    const wait = Math.min(maxMs, minMs * 2 ** Math.max(0, failures - 1));
    try {
      await delay(wait * (0.8 + 0.4 * Math.random()), undefined, { signal: s.signal, ref: false });
    } catch {
      return; // closed
    }
  }
}

/** Subscribes to `filters` on each relay, one REQ per relay, reconnecting with backoff until closed. */
export function subscribeRelays(options: RelaySubscriptionOptions): RelaySubscription {
  const abort = new AbortController();
  const pendingSync = new Set(options.relays);
  let syncedAll = false;
  const markSynced = () => {
    if (!syncedAll) {
      syncedAll = true;
      options.onSynced?.();
    }
  };
  const settings: LinkSettings = {
    options,
    socket: guardedSocketClass(options.websocketImplementation, {
      handshakeTimeoutMs: options.connectTimeoutMs ?? 10_000,
      maxPayloadBytes: options.maxFrameBytes ?? 4 * 1024 * 1024,
    }),
    signal: abort.signal,
    synced: (relay) => {
      pendingSync.delete(relay);
      if (pendingSync.size === 0) markSynced();
    },
  };
  if (pendingSync.size === 0) markSynced();
  for (const relay of new Set(options.relays)) void keepSubscribed(relay, settings);
  const close = () => abort.abort();
  if (options.signal?.aborted) close();
  else options.signal?.addEventListener('abort', close, { once: true });
  return { close };
}
