// Issue 15: one owner-liveness helper, its state in the store file, none in module memory.
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DurableDatabase } from './durable-database.ts';
import { OwnerRegistry, processStarted } from './owner-liveness.ts';

const dir = mkdtempSync(join(tmpdir(), 'owner-liveness-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const freshFile = (): string => join(dir, `o${n++}.db`);
const ownerOfThisProcess = (): string => `${process.pid}:${randomUUID()}`;

/** A pid whose process has exited: a child that ran and was reaped. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', '0']);
  return child.pid;
}

describe('OwnerRegistry', () => {
  it('two registries on one file in one process (two wallets or payers) see each other live until one releases', () => {
    const path = freshFile();
    const a = new DurableDatabase(path, '');
    const b = new DurableDatabase(path, '');
    const first = new OwnerRegistry(a);
    const second = new OwnerRegistry(b);
    const ownerA = ownerOfThisProcess();
    const ownerB = ownerOfThisProcess();
    first.register(ownerA);
    second.register(ownerB);
    expect(second.gone(ownerA)).toBe(false);
    expect(first.gone(ownerB)).toBe(false);
    first.release(ownerA);
    expect(second.gone(ownerA)).toBe(true);
    expect(first.gone(ownerB)).toBe(false);
    a.close();
    b.close();
  });

  it('releaseAll releases every owner registered through it (a wallet closing with its payer), and a closed store is no error', () => {
    const db = new DurableDatabase(freshFile(), '');
    const registry = new OwnerRegistry(db);
    const wallet = ownerOfThisProcess();
    const payer = ownerOfThisProcess();
    registry.register(wallet);
    registry.register(payer);
    registry.releaseAll();
    expect(registry.gone(wallet)).toBe(true);
    expect(registry.gone(payer)).toBe(true);
    registry.register(payer);
    db.close();
    expect(() => registry.release(payer)).not.toThrow();
  });

  it('an owner never registered (an older file, or a typo) is gone, and register refuses another process\'s owner', () => {
    const db = new DurableDatabase(freshFile(), '');
    const registry = new OwnerRegistry(db);
    expect(registry.gone(`${process.pid}`)).toBe(true);
    expect(registry.gone(ownerOfThisProcess())).toBe(true);
    expect(() => registry.register(`${deadPid()}:x`)).toThrow(/not of this process/);
    db.close();
  });

  it('the row of a process that died (SIGKILL leaves it behind) reads gone, and the next register sweeps it', () => {
    const db = new DurableDatabase(freshFile(), '');
    const registry = new OwnerRegistry(db);
    const dead = `${deadPid()}:${randomUUID()}`;
    db.db.prepare("INSERT INTO live_owners (owner, pid, process_started, registered_at) VALUES (?, ?, '', 0)").run(dead, Number(dead.split(':')[0]));
    expect(registry.gone(dead)).toBe(true);
    registry.register(ownerOfThisProcess());
    expect(db.db.prepare('SELECT count(*) AS n FROM live_owners WHERE owner = ?').get(dead)?.['n']).toBe(0);
    db.close();
  });

  it.skipIf(processStarted(process.pid) === '')('a dead process whose pid this process got again (a container restart) reads gone', () => {
    const db = new DurableDatabase(freshFile(), '');
    const registry = new OwnerRegistry(db);
    const earlier = ownerOfThisProcess();
    db.db.prepare("INSERT INTO live_owners (owner, pid, process_started, registered_at) VALUES (?, ?, '1', 0)").run(earlier, process.pid);
    expect(registry.gone(earlier)).toBe(true);
    const now = ownerOfThisProcess();
    registry.register(now);
    expect(registry.gone(now)).toBe(false);
    db.close();
  });
});
