/**
 * Who may recover whose in-flight money. Wallet operations, journal entries and payer records
 * carry the owner (`<pid>:<uuid>`) that wrote them; recovery may touch a record only when that
 * owner is gone. Liveness lives in the store file itself (table `live_owners`), not in process
 * memory: every open wallet or payer registers a row and removes it on close, so two owners in
 * one process (or in two processes) on one file see each other as live, while a closed owner, or
 * one whose process died (crash, SIGKILL), is gone — even when a new process got the dead one's pid.
 */
import { readFileSync } from 'node:fs';
import { AttachedTables, type DurableDatabase } from './durable-database.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS live_owners (
  owner TEXT PRIMARY KEY, pid INTEGER NOT NULL, process_started TEXT NOT NULL, registered_at INTEGER NOT NULL);
`;

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

/** The live owners of one store file; see the module doc. */
export class OwnerRegistry extends AttachedTables {
  /** Owners this registry registered and has not released (released together on `releaseAll`). */
  readonly #mine = new Set<string>();

  constructor(host: DurableDatabase) {
    super(host, SCHEMA);
  }

  /** Marks `owner` (`<pid>:<uuid>` of this process) live; also drops the rows of owners that are gone. */
  register(owner: string): void {
    const pid = pidOf(owner);
    if (pid !== process.pid) throw new Error(`owner ${owner} is not of this process (${process.pid})`);
    this.tx(() => {
      for (const row of this.db.prepare('SELECT owner, pid, process_started FROM live_owners').all()) {
        if (!processAlive(Number(row['pid']), String(row['process_started']))) {
          this.db.prepare('DELETE FROM live_owners WHERE owner = ?').run(String(row['owner']));
        }
      }
      this.db
        .prepare('INSERT OR REPLACE INTO live_owners (owner, pid, process_started, registered_at) VALUES (?, ?, ?, ?)')
        .run(owner, pid, processStarted(pid), Date.now());
    });
    this.#mine.add(owner);
  }

  /** Marks `owner` gone: what it left in flight becomes recoverable. A closed store is left as it is. */
  release(owner: string): void {
    this.#mine.delete(owner);
    if (!this.db.isOpen) return; // the store closed first: the next open finds the row and checks the process
    this.db.prepare('DELETE FROM live_owners WHERE owner = ?').run(owner);
  }

  /** Releases every owner registered through this registry (the store is about to close). */
  releaseAll(): void {
    for (const owner of [...this.#mine]) this.release(owner);
  }

  /** True when the owner that wrote a record is gone: never registered here, released, or its process died. */
  gone(owner: string): boolean {
    const row = this.db.prepare('SELECT pid, process_started FROM live_owners WHERE owner = ?').get(owner);
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
