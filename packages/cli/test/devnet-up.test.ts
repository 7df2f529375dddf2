import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';

const bin = fileURLToPath(new URL('../src/bin.ts', import.meta.url));

interface DevnetInfo {
  relayUrl: string;
  mintUrl: string;
  engines: Record<string, string>;
  file: string;
}

async function startCli(out: string) {
  const child = spawn(process.execPath, [bin, 'devnet', 'up', '--json', '--out', out, '--engine', 'llama=llama.cpp'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += String(d)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const firstLine = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', resolve);
    void exited.then((code) => reject(new Error(`devnet up exited with ${code}: ${stderr}`)));
  });
  return { child, exited, info: JSON.parse(firstLine) as DevnetInfo };
}

describe('routstr-kit devnet up', () => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`serves relay, mint and engine, writes its URLs, and stops cleanly on ${signal}`, async () => {
      const out = join(mkdtempSync(join(tmpdir(), 'devnet-cli-')), 'devnet.json');
      const { child, exited, info } = await startCli(out);

      expect(info.file).toBe(out);
      expect(JSON.parse(readFileSync(out, 'utf8'))).toMatchObject({ relayUrl: info.relayUrl, mintUrl: info.mintUrl });

      const mintInfo = (await (await fetch(`${info.mintUrl}/v1/info`)).json()) as { nuts: Record<string, unknown> };
      expect(mintInfo.nuts).toHaveProperty('4');
      const models = (await (await fetch(`${info.engines['llama']}/v1/models`)).json()) as { data: unknown[] };
      expect(models.data.length).toBeGreaterThan(0);
      const ws = new WebSocket(info.relayUrl);
      await new Promise((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('error', reject);
      });
      ws.close();

      child.kill(signal);
      expect(await exited).toBe(0);
      expect(existsSync(out)).toBe(false);
      await expect(fetch(`${info.mintUrl}/v1/info`)).rejects.toThrow();
    });
  }
});
