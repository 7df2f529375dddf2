/**
 * Test support (not exported): a provider's HTTP surface on loopback that serves recorded
 * `/v1/info` and `/v1/models` bodies, which a test can swap for broken ones.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

const fixtures = new URL('../../../../fixtures/routstr/', import.meta.url);

/** The recorded bodies, parsed. */
export function recordedBodies(): { info: Record<string, unknown>; models: { data: Record<string, unknown>[] } } {
  return {
    info: JSON.parse(readFileSync(new URL('v1_info_constructed.json', fixtures), 'utf8')) as Record<string, unknown>,
    models: JSON.parse(readFileSync(new URL('v1_models_constructed.json', fixtures), 'utf8')) as { data: Record<string, unknown>[] },
  };
}

/** The recorded `/v1/models` body with one model re-priced (sats per token) and optionally renamed. */
export function modelsBody(models: { id?: string; prompt: number; completion: number }[]): string {
  const template = recordedBodies().models.data[0] as Record<string, unknown>;
  const data = models.map((m) => ({
    ...template,
    id: m.id ?? template['id'],
    sats_pricing: { ...(template['sats_pricing'] as Record<string, number>), prompt: m.prompt, completion: m.completion },
  }));
  return JSON.stringify({ data });
}

/** The recorded `/v1/info` body with other mints. */
export function infoBody(mints?: string[]): string {
  const info = recordedBodies().info;
  return JSON.stringify(mints ? { ...info, mints } : info);
}

export interface RecordedProvider {
  readonly url: string;
  /** Bodies by path (`/v1/info`, `/v1/models`); a number answers with that status instead. */
  readonly routes: Map<string, string | number>;
  readonly hits: Map<string, number>;
  stop(): Promise<void>;
}

/** Starts a loopback server answering `routes`. */
export async function startRecordedProvider(routes: Record<string, string | number>): Promise<RecordedProvider> {
  const table = new Map(Object.entries(routes));
  const hits = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const path = req.url ?? '/';
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const body = table.get(path);
    if (body === undefined) {
      res.writeHead(404).end();
    } else if (typeof body === 'number') {
      res.writeHead(body, { 'content-type': 'application/json' }).end('{"detail":"down"}');
    } else {
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    routes: table,
    hits,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
