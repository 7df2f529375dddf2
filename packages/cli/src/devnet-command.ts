import { mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { EngineFlavour } from '@routstr-kit/devnet';
import { loadDevnet } from './optional-packages.ts';
import { waitForShutdownSignal } from './shutdown-signal.ts';

const FLAVOURS: readonly EngineFlavour[] = ['llama.cpp', 'vllm', 'ollama'];

/** `routstr-kit devnet up`: start the devnet, print and write its URLs, stay up until SIGINT/SIGTERM. */
export async function devnetCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      json: { type: 'boolean', default: false },
      out: { type: 'string' },
      engine: { type: 'string', multiple: true },
      'data-dir': { type: 'string' },
    },
  });
  if (positionals[0] !== 'up') {
    process.stderr.write('usage: routstr-kit devnet up [--json] [--out <file>] [--engine <name>=<flavour>]... [--data-dir <dir>]\n');
    return 2;
  }
  const engines = parseEngines(values.engine ?? ['llama=llama.cpp', 'vllm=vllm']);
  const dataDir = values['data-dir'] ? resolve(values['data-dir']) : undefined;
  if (dataDir) mkdirSync(dataDir, { recursive: true });

  const { startDevnet } = await loadDevnet('devnet up');
  const devnet = await startDevnet({
    engines,
    ...(dataDir ? { relay: { dbPath: join(dataDir, 'relay.sqlite') }, mint: { dbPath: join(dataDir, 'mint.sqlite') } } : {}),
  });
  const info = { relayUrl: devnet.relayUrl, mintUrl: devnet.mintUrl, engines: devnet.engines, pid: process.pid };
  const out = resolve(values.out ?? join('.routstr-kit', 'devnet.json'));
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify(info, null, 2) + '\n');

  if (values.json) {
    process.stdout.write(JSON.stringify({ ...info, file: out }) + '\n');
  } else {
    process.stdout.write(
      [
        'routstr-kit devnet is up',
        `  relay   ${devnet.relayUrl}`,
        `  mint    ${devnet.mintUrl}`,
        ...Object.entries(devnet.engines).map(([name, url]) => `  engine  ${url}  (${name})`),
        `  wrote   ${out}`,
        'Press Ctrl-C to stop.',
        '',
      ].join('\n'),
    );
  }

  const signal = await waitForShutdownSignal();
  await devnet.stop();
  rmSync(out, { force: true });
  if (!values.json) process.stdout.write(`devnet stopped (${signal})\n`);
  return 0;
}

function parseEngines(specs: string[]): Record<string, { flavour: EngineFlavour }> {
  const engines: Record<string, { flavour: EngineFlavour }> = {};
  for (const spec of specs) {
    const [name, flavour] = spec.split('=');
    if (!name || !flavour || !FLAVOURS.includes(flavour as EngineFlavour)) {
      throw new Error(`--engine expects <name>=<${FLAVOURS.join('|')}>, got "${spec}"`);
    }
    engines[name] = { flavour: flavour as EngineFlavour };
  }
  return engines;
}
