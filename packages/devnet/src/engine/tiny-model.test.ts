import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildTinyModelGguf, ensureTinyModel, sha256Hex } from './tiny-model.ts';

describe('tiny GGUF model', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('is byte-identical every time it is generated, and the cached file is exactly those bytes', async () => {
    const a = buildTinyModelGguf();
    const b = buildTinyModelGguf();
    expect(sha256Hex(a)).toBe(sha256Hex(b));
    expect(a.subarray(0, 4).toString('latin1')).toBe('GGUF');
    expect(a.readUInt32LE(4)).toBe(3);

    const dir = await mkdtemp(join(tmpdir(), 'tiny-gguf-'));
    dirs.push(dir);
    const p1 = await ensureTinyModel({ cacheDir: dir });
    const p2 = await ensureTinyModel({ cacheDir: dir });
    expect(p2).toBe(p1);
    expect(sha256Hex(await readFile(p1))).toBe(sha256Hex(a));
  });

  it('replaces a stale or truncated cached file instead of reusing it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tiny-gguf-'));
    dirs.push(dir);
    const path = await ensureTinyModel({ cacheDir: dir });
    const { writeFile } = await import('node:fs/promises');
    await writeFile(path, Buffer.alloc(10));
    await ensureTinyModel({ cacheDir: dir });
    expect(sha256Hex(await readFile(path))).toBe(sha256Hex(buildTinyModelGguf()));
  });
});
