// Issue 13 point 15: `routstr-kit provider` never prints a secret, and the files holding keys,
// mnemonics and proofs are the user's alone.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateSecretKey, nip19 } from 'nostr-tools';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMint, type RunningMint } from '@routstr-kit/devnet';
import { ConfigError } from '@routstr-kit/core';
import { resolveProviderSettings } from '../src/provider-command.ts';

const bin = fileURLToPath(new URL('../src/bin.ts', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'provider-secrets-'));
const mode = (path: string): string => (statSync(path).mode & 0o777).toString(8);

/** Runs `routstr-kit provider` to its exit. */
function provider(args: string[], env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, [bin, 'provider', '--engine', 'openai', '--upstream', 'http://127.0.0.1:9', ...args], {
    env: { ...process.env, ROUTSTR_KIT_NSEC: '', ROUTSTR_KIT_MNEMONIC: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => (output += String(d)));
  child.stderr.on('data', (d) => (output += String(d)));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, output })));
}

/** A real nsec with one character of its data part changed: a typo. */
function mistypedNsec(): { typo: string; expectedChecksum: string } {
  const nsec = nip19.nsecEncode(generateSecretKey());
  const typo = `${nsec.slice(0, 20)}${nsec[20] === 'q' ? 'p' : 'q'}${nsec.slice(21)}`;
  // what nostr-tools says the checksum should have been (the old error printed it)
  const said = (() => {
    try {
      nip19.decode(typo as `nsec1${string}`);
      return '';
    } catch (e) {
      return /expected "([a-z0-9]+)"/.exec((e as Error).message)?.[1] ?? '';
    }
  })();
  expect(said).toHaveLength(6);
  return { typo, expectedChecksum: said };
}

describe('routstr-kit provider keeps secrets', () => {
  let mint: RunningMint;
  beforeAll(async () => {
    mint = await startMint();
  });
  afterAll(async () => {
    await mint?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('a mistyped ROUTSTR_KIT_NSEC: a configuration error naming the variable, never the value or a checksum', async () => {
    const { typo, expectedChecksum } = mistypedNsec();
    const { code, output } = await provider(['--mint', mint.url, '--data-dir', join(tmp, 'typo')], { ROUTSTR_KIT_NSEC: typo });
    expect(code).toBe(2);
    expect(output).toContain('ROUTSTR_KIT_NSEC is not a usable Nostr secret key');
    expect(output).not.toContain(typo);
    expect(output).not.toContain(typo.slice(5, 30));
    expect(output).not.toContain(typo.slice(-6));
    expect(output).not.toContain(expectedChecksum);
    // nothing was created for a configuration that cannot start
    expect(existsSync(join(tmp, 'typo'))).toBe(false);
  });

  it('other unreadable keys (hex of the wrong length, an npub) are refused without the value', async () => {
    const hex = Buffer.from(generateSecretKey()).toString('hex').slice(0, 63);
    const npub = nip19.npubEncode('ab'.repeat(32));
    for (const value of [hex, npub]) {
      const { code, output } = await provider(['--mint', mint.url, '--data-dir', join(tmp, 'other')], { ROUTSTR_KIT_NSEC: value });
      expect(code).toBe(2);
      expect(output).toContain('ROUTSTR_KIT_NSEC is not a usable Nostr secret key');
      expect(output).not.toContain(value);
      expect(output).not.toContain(value.slice(5, 30));
    }
  });

  it('a mistyped ROUTSTR_KIT_MNEMONIC is refused without its words', async () => {
    // a BIP-39 test vector with its last word changed (the checksum no longer holds)
    const mnemonic = 'legal winner thank year wave sausage worth useful legal winner thank zebra';
    const { code, output } = await provider(['--mint', mint.url, '--data-dir', join(tmp, 'mnemonic')], { ROUTSTR_KIT_MNEMONIC: mnemonic });
    expect(code).not.toBe(0);
    expect(output).toContain('not a valid BIP-39 English mnemonic');
    for (const word of ['sausage', 'zebra', 'winner thank']) expect(output).not.toContain(word);
  });

  it('a broken config file is reported by position, never by its text (a pasted secret stays unprinted)', () => {
    const secret = nip19.nsecEncode(generateSecretKey());
    const file = join(tmp, 'broken.json');
    writeFileSync(file, `{"engine": "vllm", ${secret}}`);
    let message = '';
    try {
      resolveProviderSettings(['--config', file], {});
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      message = (error as Error).message;
    }
    expect(message).toMatch(/config file .*broken\.json.*not valid JSON \((position \d+|line \d+ column \d+)\)/);
    expect(message).not.toContain(secret.slice(0, 12));
  });

  it('the data folder it creates is 0700 and the wallet, payee and key files in it 0600', async () => {
    // two levels the kit creates; the engine is unreachable, so it stops after opening its files
    const dataDir = join(tmp, 'made', 'data');
    const { code } = await provider(['--mint', mint.url, '--data-dir', dataDir], {});
    expect(code).toBe(1);
    expect(mode(join(tmp, 'made'))).toBe('700');
    expect(mode(dataDir)).toBe('700');
    for (const name of ['wallet.db', 'payee.db', 'nostr-secret-key']) expect(mode(join(dataDir, name)), name).toBe('600');
    for (const name of ['wallet.db-wal', 'wallet.db-shm', 'payee.db-wal', 'payee.db-shm']) {
      if (existsSync(join(dataDir, name))) expect(mode(join(dataDir, name)), name).toBe('600');
    }
  });
});
