// startProvider({ database }) refuses a setting it cannot use before anything opens: no data folder,
// no wallet, no listening port (a half-started node would answer requests with books it cannot keep).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ProviderDatabaseError } from '../src/storage/provider-database.ts';
import { startProvider, type StartProviderOptions } from '../src/start-provider.ts';

const root = mkdtempSync(join(tmpdir(), 'provider-database-start-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const NSEC = 'a'.repeat(64);
let folders = 0;
/** Options whose engine and mint are never reached: the database check comes first. */
const options = (extra: Partial<StartProviderOptions>): StartProviderOptions => ({
  engine: 'llama.cpp', upstream: 'http://127.0.0.1:9', mints: ['http://127.0.0.1:9'], dataDir: join(root, `node-${folders++}`), nsec: NSEC, log: () => undefined, ...extra,
});

async function refused(extra: Partial<StartProviderOptions>): Promise<ProviderDatabaseError> {
  const o = options(extra);
  const error = await startProvider(o).then(
    () => new Error('started'),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ProviderDatabaseError);
  expect(existsSync(o.dataDir)).toBe(false); // nothing was created
  return error as ProviderDatabaseError;
}

/** A loopback port nobody listens on (taken, then given back). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('startProvider({ database }) at start', () => {
  it('refuses a URL that is not postgres://host/dbname, never showing its password', async () => {
    for (const url of ['mysql://u:hunter2@db/p', 'postgres://u:hunter2@db', 'postgres:///p', 'not a url', '/var/lib/routstr/payee.db']) {
      const error = await refused({ database: url });
      expect(error.code, url).toBe('invalid_database_url');
      expect(error.message).not.toContain('hunter2');
    }
  });

  it('refuses a database nobody answers on, naming it without its password', async () => {
    const port = await closedPort();
    const error = await refused({ database: `postgres://routstr:hunter2@127.0.0.1:${port}/provider` });
    expect(error.code).toBe('database_unreachable');
    expect(error.message).toContain(`postgres://routstr:***@127.0.0.1:${port}/provider`);
    expect(error.message).toMatch(/ECONNREFUSED/);
    expect(error.message).not.toContain('hunter2');
  });

  it('needs the shared announcement key, one wallet location, and database for the cluster settings', async () => {
    const url = 'postgres://127.0.0.1:9/provider';
    expect((await refused({ database: url, nsec: undefined })).message).toMatch(/needs nsec/);
    expect((await refused({ database: url, walletPath: join(root, 'wallet.db') })).message).toMatch(/not both/);
    expect((await refused({ cluster: { leaseS: 3 } })).message).toMatch(/cluster settings need database/);
  });
});
