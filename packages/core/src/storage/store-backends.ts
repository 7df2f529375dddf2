// Test fixture: the two engines a store runs on, for describe.each — a fresh SQLite file in a temp
// folder, or a fresh database in one throwaway PostgreSQL cluster per test file (started on first use).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPostgresCluster, type PostgresCluster } from '@routstr-kit/devnet/postgres';
import { afterAll } from 'vitest';

export interface StoreBackend {
  readonly name: 'sqlite' | 'postgres';
  /** A location no store has used yet: a file path, or a new database's URL. */
  fresh(label: string): Promise<string>;
}

/** The two backends, sharing one temp folder and one PostgreSQL cluster for the calling test file; both removed after it. */
export function storeBackends(prefix: string): StoreBackend[] {
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
  let cluster: Promise<PostgresCluster> | undefined;
  let n = 0;
  afterAll(async () => {
    if (cluster) await (await cluster).stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return [
    { name: 'sqlite', fresh: async (label) => join(dir, `${label}-${n++}.db`) },
    {
      name: 'postgres',
      fresh: async (label) => {
        cluster ??= startPostgresCluster();
        return (await cluster).newDatabase(`${label.replace(/[^a-z0-9_]/gi, '_')}_${n++}`);
      },
    },
  ];
}
