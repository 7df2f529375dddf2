/**
 * Versioned schema migrations for the provider's PostgreSQL stores (the batch store, the market
 * maker's cluster tables, and later the payee and wallet): one `schema_version` table, a row per
 * applied migration of each component, migrated at open under an advisory lock so processes
 * starting together migrate once.
 */
import pg from 'pg';

/**
 * Applies the migrations of `component` the database lacks, in one transaction; returns the version it
 * ends at. `migrations[n - 1]` brings the component to version n: never edit one that shipped, add the
 * next. A database at a newer version than this code knows is refused (upgrade the node).
 */
export async function migrate(pool: pg.Pool, component: string, migrations: readonly string[]): Promise<number> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    // Serialises processes migrating the same database at once (released at commit).
    await client.query("SELECT pg_advisory_xact_lock(hashtext('routstr-kit schema_version'))");
    await client.query('CREATE TABLE IF NOT EXISTS schema_version (component TEXT NOT NULL, version INTEGER NOT NULL, applied_at BIGINT NOT NULL, PRIMARY KEY (component, version))');
    const { rows } = await client.query<{ v: number }>('SELECT COALESCE(MAX(version), 0)::int AS v FROM schema_version WHERE component = $1', [component]);
    const current = rows[0]?.v ?? 0;
    if (current > migrations.length) throw new Error(`the ${component} schema is at version ${current}, newer than this node knows (${migrations.length}): upgrade the node`);
    for (let v = current + 1; v <= migrations.length; v++) {
      await client.query(migrations[v - 1] as string);
      await client.query('INSERT INTO schema_version (component, version, applied_at) VALUES ($1, $2, $3)', [component, v, Math.floor(Date.now() / 1000)]);
    }
    await client.query('COMMIT');
    return migrations.length;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/**
 * A pool on `config` with `component` migrated; the pool is ended again if migrating fails. An idle
 * client's error (the server restarted, the connection was terminated) does not crash the process:
 * the next query reconnects.
 */
export async function openMigratedPool(config: pg.PoolConfig, component: string, migrations: readonly string[]): Promise<pg.Pool> {
  const pool = new pg.Pool(config);
  pool.on('error', () => undefined);
  try {
    await migrate(pool, component, migrations);
  } catch (error) {
    await pool.end();
    throw error;
  }
  return pool;
}
