/**
 * Who may recover whose in-flight money. Wallet operations, journal entries and payer records
 * carry the owner (`<pid>:<uuid>`) that wrote them; recovery may touch a record only when that
 * owner is gone. Liveness lives in the store file itself (table `live_owners`), not in process
 * memory: every open wallet or payer registers a row and removes it on close, so two owners in
 * one process (or in two processes) on one file see each other as live, while a closed owner, or
 * one whose process died (crash, SIGKILL), is gone — even when a new process got the dead one's pid.
 *
 * On PostgreSQL the owners of one wallet may run on several hosts, where a pid says nothing: a row
 * also records the PostgreSQL backend of the registering store's connection (`pg_backend_pid()` and
 * its `backend_start`), and the owner is gone once that backend is (a killed process's connection
 * closes and its backend exits). On the registering host itself (same boot and pid namespace) a dead
 * process also reads gone at once, before the server has noticed its connection closed.
 */
import { readFileSync, readlinkSync } from 'node:fs';
import { AttachedTables, type DurableDatabase } from './durable-database.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS live_owners (
  owner TEXT PRIMARY KEY, pid INTEGER NOT NULL, process_started TEXT NOT NULL, registered_at INTEGER NOT NULL);
`;

const POSTGRES_SCHEMA = `
CREATE TABLE IF NOT EXISTS live_owners (
  owner TEXT PRIMARY KEY, pid BIGINT NOT NULL, process_started TEXT NOT NULL, host TEXT NOT NULL,
  backend_pid BIGINT NOT NULL, backend_start TEXT NOT NULL, registered_at BIGINT NOT NULL);
`;

/**
 * A backend's start as text that reads the same in every session: microseconds since the epoch
 * (`backend_start::text` follows each session's TimeZone and DateStyle, so two processes with
 * different settings would each read the other's owner as gone).
 */
const startOf = (column: string): string => `(extract(epoch from ${column}) * 1000000)::bigint::text`;

/** The owner's backend is still connected (a backend_start hidden from another role counts as a match). */
const BACKEND_LIVE = `EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = o.backend_pid
  AND (a.backend_start IS NULL OR ${startOf('a.backend_start')} = o.backend_start))`;

/** True while a process with this pid exists (EPERM: it exists, under another user). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * When the process with this pid started, as the kernel counts it (Linux `/proc/<pid>/stat`
 * field 22), or '' where that cannot be read: with the pid it names one process, so a reused pid
 * is told apart from the dead process that had it. Shared by all threads of a process.
 */
export function processStarted(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) may hold spaces and parentheses: count fields after its last ')'
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '';
  } catch {
    return '';
  }
}

/**
 * This host's pid space: the boot and the pid namespace (Linux), or '' where unreadable. Two
 * processes with the same one can check each other's pids.
 */
function pidSpace(): string {
  try {
    return `${readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()}/${readlinkSync('/proc/self/ns/pid')}`;
  } catch {
    return '';
  }
}

/** The live owners of one store file (or PostgreSQL namespace); see the module doc. */
export class OwnerRegistry extends AttachedTables {
  /** Owners this registry registered and has not released (released together on `releaseAll`). */
  readonly #mine = new Set<string>();
  readonly #pidSpace = pidSpace();

  constructor(host: DurableDatabase) {
    super(host, { sqlite: SCHEMA, postgres: POSTGRES_SCHEMA }, 'owners');
  }

  /** Marks `owner` (`<pid>:<uuid>` of this process) live; also drops the rows of owners that are gone. */
  register(owner: string): void {
    const pid = pidOf(owner);
    if (pid !== process.pid) throw new Error(`owner ${owner} is not of this process (${process.pid})`);
    if (this.dialect === 'postgres') {
      this.tx(() => {
        for (const row of this.all('SELECT owner FROM live_owners o WHERE NOT ' + BACKEND_LIVE)) this.run('DELETE FROM live_owners WHERE owner = ?', String(row['owner']));
        for (const row of this.all('SELECT owner, pid, process_started FROM live_owners WHERE host = ?', this.#pidSpace)) {
          if (this.#pidSpace !== '' && !processAlive(Number(row['pid']), String(row['process_started']))) this.run('DELETE FROM live_owners WHERE owner = ?', String(row['owner']));
        }
        this.run(
          `INSERT INTO live_owners (owner, pid, process_started, host, backend_pid, backend_start, registered_at)
           VALUES (?, ?, ?, ?, pg_backend_pid(), COALESCE((SELECT ${startOf('backend_start')} FROM pg_stat_activity WHERE pid = pg_backend_pid()), ''), ?)
           ON CONFLICT (owner) DO UPDATE SET pid = excluded.pid, process_started = excluded.process_started, host = excluded.host,
             backend_pid = excluded.backend_pid, backend_start = excluded.backend_start, registered_at = excluded.registered_at`,
          owner, pid, processStarted(pid), this.#pidSpace, Date.now(),
        );
      });
    } else {
      this.tx(() => {
        for (const row of this.all('SELECT owner, pid, process_started FROM live_owners')) {
          if (!processAlive(Number(row['pid']), String(row['process_started']))) {
            this.run('DELETE FROM live_owners WHERE owner = ?', String(row['owner']));
          }
        }
        this.run('INSERT OR REPLACE INTO live_owners (owner, pid, process_started, registered_at) VALUES (?, ?, ?, ?)', owner, pid, processStarted(pid), Date.now());
      });
    }
    this.#mine.add(owner);
  }

  /** Marks `owner` gone: what it left in flight becomes recoverable. A closed store is left as it is. */
  release(owner: string): void {
    this.#mine.delete(owner);
    if (!this.isOpen) return; // the store closed first: the next open finds the row and checks the process
    this.run('DELETE FROM live_owners WHERE owner = ?', owner);
  }

  /** Releases every owner registered through this registry (the store is about to close). */
  releaseAll(): void {
    for (const owner of [...this.#mine]) this.release(owner);
  }

  /** True when the owner that wrote a record is gone: never registered here, released, or its process died. */
  gone(owner: string): boolean {
    if (this.dialect === 'postgres') {
      const row = this.one(`SELECT pid, process_started, host, CASE WHEN ${BACKEND_LIVE} THEN 1 ELSE 0 END AS connected FROM live_owners o WHERE owner = ?`, owner);
      if (!row) return true;
      if (Number(row['connected']) !== 1) return true;
      // on its own host a dead process reads gone before the server notices its connection closed
      return this.#pidSpace !== '' && String(row['host']) === this.#pidSpace && !processAlive(Number(row['pid']), String(row['process_started']));
    }
    const row = this.one('SELECT pid, process_started FROM live_owners WHERE owner = ?', owner);
    if (!row) return true;
    return !processAlive(Number(row['pid']), String(row['process_started']));
  }
}

/** The pid part of an owner id `<pid>:<uuid>`. */
function pidOf(owner: string): number {
  return Number(owner.split(':')[0]);
}

/** The process that registered a row still runs: its pid exists and (where readable) started when it did. */
function processAlive(pid: number, started: string): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0 || !pidAlive(pid)) return false;
  if (started === '') return true;
  const now = processStarted(pid);
  return now === '' || now === started;
}
