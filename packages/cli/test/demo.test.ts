import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../src/bin.ts', import.meta.url));

describe('routstr-kit demo', () => {
  it('runs the market, the agent and the limit batch by itself and ends with a balanced summary', async () => {
    const child = spawn(process.execPath, [bin, 'demo'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CI: '1' } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(err).not.toMatch(/routstr-kit:/);
    expect(code).toBe(0);
    // plain lines without a TTY: the book, the fills and the batch's progress, then the summary
    expect(out).toMatch(/book \(msat per batch request, limit \d+\)/);
    expect(out).toMatch(/agent round 1: \d+ market buys/);
    expect(out).toMatch(/batch (waiting|paused): best ask \d+ msat > limit/);
    expect(out).toMatch(/batch buying: dynamic at \d+ msat/);
    expect(out).toContain('Summary');
    expect(out).toMatch(/batch: batch \S+ (completed|expired)/);
    expect(out).toMatch(/change returned by the nodes: \d+ sat/);
    expect(out).toMatch(/funded 5000 sat = wallet \d+ \+ provider revenues \d+ \+ fees \d+ = 5000 sat/);
    expect(out).toContain('nothing lost');
  }, 150_000);
});
