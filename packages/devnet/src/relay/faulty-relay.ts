/**
 * A fault-injecting TCP proxy in front of a relay, for tests of what clients do when the relay
 * misbehaves: stall the WebSocket handshake, drop every connection, restart (stop listening and
 * listen again on the same port), or answer the handshake and then send garbage frames.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/** What the proxy does with new connections. */
export type RelayFault =
  /** pipe to the relay */
  | 'pass'
  /** accept TCP, never answer the handshake */
  | 'stall'
  /** pass the handshake, then send frames no relay would: non-JSON text, binary, a reserved opcode */
  | 'garbage';

export interface FaultyRelay {
  /** `ws://127.0.0.1:port`, stable across `restart()` */
  readonly url: string;
  /** Applies to connections made from now on. */
  setFault(fault: RelayFault): void;
  /** Destroys every open connection (the relay process lives on). */
  drop(): void;
  /** Stops listening, drops everything, then listens again on the same port. */
  restart(): Promise<void>;
  /** Connections accepted so far, per fault in force when they came. */
  connections(): Record<RelayFault, number>;
  /** Resolves when `count` connections in total have been accepted under `fault`. */
  waitForConnections(fault: RelayFault, count: number): Promise<void>;
  stop(): Promise<void>;
}

// a text frame "garbage{" , a binary frame, then opcode 0x3 (reserved): ws closes with 1002
const GARBAGE = Buffer.concat([
  Buffer.from([0x81, 8]),
  Buffer.from('garbage{'),
  Buffer.from([0x82, 3, 1, 2, 3]),
  Buffer.from([0x83, 0]),
]);

/** Starts a proxy on loopback that forwards to the relay at `upstream` (`ws://host:port`). */
export async function startFaultyRelay(upstream: string): Promise<FaultyRelay> {
  const target = new URL(upstream);
  const targetPort = Number(target.port);
  let fault: RelayFault = 'pass';
  const counts: Record<RelayFault, number> = { pass: 0, stall: 0, garbage: 0 };
  const waiters = new Set<{ fault: RelayFault; count: number; resolve: () => void }>();
  const sockets = new Set<Socket>();

  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  };

  const onConnection = (client: Socket) => {
    track(client);
    const mode = fault;
    counts[mode] += 1;
    for (const w of waiters) {
      if (w.fault === mode && counts[mode] >= w.count) {
        waiters.delete(w);
        w.resolve();
      }
    }
    if (mode === 'stall') return; // read nothing, answer nothing
    const relay = connect(targetPort, target.hostname);
    track(relay);
    client.on('close', () => relay.destroy());
    relay.on('close', () => client.destroy());
    client.pipe(relay);
    if (mode === 'pass') {
      relay.pipe(client);
      return;
    }
    // garbage: forward the handshake answer, then our frames instead of the relay's
    let head = Buffer.alloc(0);
    let answered = false;
    relay.on('data', (chunk: Buffer) => {
      if (answered) return;
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      answered = true;
      client.write(head.subarray(0, end + 4));
      client.write(GARBAGE);
    });
  };

  let server: Server = createServer(onConnection);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  const drop = () => {
    for (const s of sockets) s.destroy();
  };
  const closeServer = () =>
    new Promise<void>((resolve) => {
      drop();
      server.close(() => resolve());
    });

  return {
    url: `ws://127.0.0.1:${port}`,
    setFault(next) {
      fault = next;
    },
    drop,
    async restart() {
      await closeServer();
      server = createServer(onConnection);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, '127.0.0.1', () => resolve());
      });
    },
    connections: () => ({ ...counts }),
    waitForConnections(mode, count) {
      if (counts[mode] >= count) return Promise.resolve();
      return new Promise((resolve) => waiters.add({ fault: mode, count, resolve }));
    },
    stop: closeServer,
  };
}
