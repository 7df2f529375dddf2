import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { NostrRelay } from '@nostr-relay/core';
import { Validator } from '@nostr-relay/validator';
import type { Client } from '@nostr-relay/common';
import { WebSocketServer, WebSocket } from 'ws';
import { SqliteEventStore } from './event-store.ts';
import { SubscriptionFilter } from './subscription-filter.ts';

export interface RelayOptions {
  /** Interface to listen on; loopback by default. */
  host?: string;
  /** Port; 0 (default) picks a free one. */
  port?: number;
  /** node:sqlite file for stored events; in memory when omitted. */
  dbPath?: string;
  /** Clock in unix seconds used for NIP-40 expiry of stored events (tests move it). */
  now?: () => number;
}

export interface RunningRelay {
  /** `ws://host:port` */
  url: string;
  /** Counts of what the relay has seen, for tests and the demo. */
  stats(): RelayStats;
  stop(): Promise<void>;
}

export interface RelayStats {
  connections: number;
  eventsAccepted: number;
  eventsRejected: number;
}

/** Starts a NIP-01 relay (`@nostr-relay/core` behind `ws`) with replaceable, ephemeral and NIP-40 semantics. */
export async function startRelay(options: RelayOptions = {}): Promise<RunningRelay> {
  const host = options.host ?? '127.0.0.1';
  const store = new SqliteEventStore(options.dbPath ?? ':memory:', options.now);
  // filterResultCacheTtl 0: the default 1 s cache serves a replaced event to a REQ made right after.
  const relay = new NostrRelay(store, { filterResultCacheTtl: 0, logger: quietLogger });
  const validator = new Validator();
  const stats: RelayStats = { connections: 0, eventsAccepted: 0, eventsRejected: 0 };

  const http = createServer((req, res) => {
    // NIP-11 information document, for clients that probe it.
    if (req.headers.accept?.includes('application/nostr+json')) {
      res.writeHead(200, { 'content-type': 'application/nostr+json', 'access-control-allow-origin': '*' });
      res.end(JSON.stringify({ name: 'routstr-kit devnet relay', supported_nips: [1, 9, 11, 40], software: '@routstr-kit/devnet' }));
      return;
    }
    res.writeHead(426, { 'content-type': 'text/plain' });
    res.end('this is a Nostr relay: connect with a WebSocket\n');
  });
  const wss = new WebSocketServer({ server: http });

  wss.on('connection', (ws, req) => {
    stats.connections += 1;
    const subscriptions = new SubscriptionFilter();
    const client: Client = {
      get readyState() {
        return ws.readyState as Client['readyState'];
      },
      send(data: string) {
        if (!subscriptions.allowsOutgoing(data)) return;
        if (data.startsWith('["OK",')) {
          if (data.includes('",true,')) stats.eventsAccepted += 1;
          else stats.eventsRejected += 1;
        }
        ws.send(data);
      },
    };
    relay.handleConnection(client, req.socket.remoteAddress);
    ws.on('message', async (data) => {
      try {
        const message = await validator.validateIncomingMessage(data as Buffer);
        subscriptions.observeIncoming(message);
        await relay.handleMessage(client, message);
      } catch (error) {
        if (ws.readyState === WebSocket.OPEN) {
          ws.send(JSON.stringify(['NOTICE', `invalid: ${(error as Error).message}`]));
        }
      }
    });
    ws.on('close', () => relay.handleDisconnect(client));
    ws.on('error', () => ws.terminate());
  });

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(options.port ?? 0, host, () => resolve());
  });
  const { port } = http.address() as AddressInfo;

  return {
    url: `ws://${host}:${port}`,
    stats: () => ({ ...stats }),
    async stop() {
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await new Promise<void>((resolve) => http.close(() => resolve()));
      await relay.destroy();
      await store.destroy();
    },
  };
}

const quietLogger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: (...args: unknown[]) => {
    if (process.env['ROUTSTR_KIT_DEBUG']) console.error('[relay]', ...args);
  },
  setLogLevel: () => {},
};
