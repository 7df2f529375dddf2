// The AI SDK examples run to completion against their own devnet (one command each).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const run = (name: string) => spawnSync(process.execPath, [fileURLToPath(new URL(`../../../examples/${name}`, import.meta.url))], { encoding: 'utf8', timeout: 240_000 });

describe('examples', () => {
  it('ai-sdk-agent.ts: a tool loop, each step priced, receipts equal to the wallet spend', () => {
    const r = run('ai-sdk-agent.ts');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/step 1: weather\(/);
    const m = /(\d+) sat in receipts; the wallet went down by (\d+) sat/.exec(r.stdout);
    // a missing or reworded summary line fails here rather than comparing undefined with undefined
    expect(m, r.stdout).not.toBeNull();
    const [, receipts, spent] = m as RegExpExecArray;
    expect(Number(receipts)).toBeGreaterThan(0);
    expect(receipts).toBe(spent);
  });

  it('streaming-chat.ts: three streamed replies with their costs', () => {
    const r = run('streaming-chat.ts');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.match(/⤷ .* sat · session \d+ sat/g)).toHaveLength(3);
  });
});
