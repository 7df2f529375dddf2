// The LangChain example runs to completion against its own devnet (one command).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

describe('examples', () => {
  it('langchain-batch-summaries.ts: a batch held for price, filled after the tick, every summary paid at the lower price', () => {
    const r = spawnSync(process.execPath, [fileURLToPath(new URL('../../../examples/langchain-batch-summaries.ts', import.meta.url))], { encoding: 'utf8', timeout: 240_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/batch of 10 held for price/);
    expect(r.stdout.match(/^doc \d+: .* at 200000000 msat\/Mtok$/gm)).toHaveLength(10);
    const m = /^10 summaries for (\d+) sat; the wallet went down by (\d+) sat$/m.exec(r.stdout);
    // a missing or reworded summary line fails here rather than comparing undefined with undefined
    expect(m, r.stdout).not.toBeNull();
    const [, paid, spent] = m as RegExpExecArray;
    expect(Number(paid)).toBeGreaterThan(0);
    expect(paid).toBe(spent);
  });
});
