// `routstr-kit wallet …` on the devnet mint (its fake Lightning pays a quote at once): fund,
// balance, send, receive in another wallet, history, restore from the seed — value conserved to the sat.
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openWallet } from '@routstr-kit/core';
import { startMint, type RunningMint } from '@routstr-kit/devnet';
import { walletCommand, type WalletIo } from '../src/wallet-command.ts';

const bin = fileURLToPath(new URL('../src/bin.ts', import.meta.url));

/** Runs a wallet command in this process, capturing what it prints. */
async function run(argv: string[], env: Record<string, string>, isTty = false): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: WalletIo = { out: (t) => void (out += t), err: (t) => void (err += t), isTty };
  const code = await walletCommand(argv, env, io);
  return { code, out, err };
}

describe('routstr-kit wallet on the devnet mint', () => {
  let mint: RunningMint;
  let home: string;
  let envA: Record<string, string>;
  let envB: Record<string, string>;
  beforeAll(async () => {
    mint = await startMint();
    home = mkdtempSync(join(tmpdir(), 'wallet-cli-'));
    envA = { HOME: home, ROUTSTR_KIT_MINTS: mint.url, ROUTSTR_KIT_WALLET: join(home, 'a.db') };
    envB = { ...envA, ROUTSTR_KIT_WALLET: join(home, 'b.db') };
  });
  afterAll(async () => {
    await mint.stop();
  });

  it('fund prints the invoice (a QR code on a terminal) and mints once paid; balance shows it; send prints a token another wallet receives; history lists it', async () => {
    const funded = await run(['fund', '100'], envA, true);
    expect(funded.code, funded.err).toBe(0);
    expect(funded.out).toMatch(/^lnbc/m);
    expect(funded.out).toMatch(/[▀▄█]/); // the QR code, drawn in block characters
    expect(funded.out).toContain('funded 100 sat; balance 100 sat');
    expect(funded.err).toMatch(/waiting for payment/);

    const balance = await run(['balance', '--json'], envA);
    expect(JSON.parse(balance.out)).toEqual({ balance_sat: 100, mints: { [mint.url]: 100 } });

    const sent = await run(['send', '30'], envA);
    expect(sent.code, sent.err).toBe(0);
    const token = sent.out.trim();
    expect(token).toMatch(/^cashu[AB]/);
    expect(sent.out.split('\n').filter(Boolean)).toHaveLength(1); // the token alone: `routstr-kit wallet send 30 | …` works

    const received = await run(['receive', token, '--json'], envB);
    expect(received.code, received.err).toBe(0);
    expect(JSON.parse(received.out)).toMatchObject({ received_sat: 30, balance_sat: 30 });
    const balanceOf = async (env: Record<string, string>): Promise<number> => (JSON.parse((await run(['balance', '--json'], env)).out) as { balance_sat: number }).balance_sat;
    expect(await balanceOf(envA)).toBe(70);
    // conservation: the two wallets hold what was funded (the devnet mint charges no fees)
    expect((await balanceOf(envA)) + (await balanceOf(envB))).toBe(100);

    const history = await run(['history', '--json'], envA);
    const entries = (JSON.parse(history.out) as { entries: { kind: string; amount_sat: number; purpose: string; status: string }[] }).entries;
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ kind: 'token', amount_sat: 30, purpose: 'cli send' });
    expect((await run(['history'], envA)).out).toMatch(/token\s+30 sat .*cli send/);
    expect((await run(['history'], envB)).out).toBe('no payments yet\n');

    // a token already received is refused with the wallet's message, exit 1
    const again = await run(['receive', token], envB);
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/routstr-kit wallet receive: .*spent/i);
  });

  it('restore rebuilds the wallet from ROUTSTR_KIT_MNEMONIC into a new file, and refuses a file that holds a wallet', async () => {
    const funded = await run(['fund', '40'], { ...envA, ROUTSTR_KIT_WALLET: join(home, 'seeded.db') });
    expect(funded.code, funded.err).toBe(0);
    const seeded = await openWallet({ path: join(home, 'seeded.db'), mints: [mint.url] });
    const mnemonic = seeded.mnemonic();
    seeded.close();

    const restored = await run(['restore', '--json'], { ...envA, ROUTSTR_KIT_WALLET: join(home, 'restored.db'), ROUTSTR_KIT_MNEMONIC: mnemonic });
    expect(restored.code, restored.err).toBe(0);
    expect(JSON.parse(restored.out)).toMatchObject({ restored_sat: 40, balance_sat: 40 });
    expect(restored.out + restored.err).not.toContain(mnemonic);

    const occupied = await run(['restore'], { ...envA, ROUTSTR_KIT_MNEMONIC: mnemonic });
    expect(occupied.code).toBe(2);
    expect(occupied.err).toMatch(/already holds a wallet/);
    const noSeed = await run(['restore'], { ...envA, ROUTSTR_KIT_WALLET: join(home, 'other.db') });
    expect(noSeed.code).toBe(2);
    expect(noSeed.err).toMatch(/ROUTSTR_KIT_MNEMONIC/);
  });

  it('refuses bad usage and bad settings with exit 2 before opening anything', async () => {
    expect((await run(['fund', '1.5'], envA)).err).toMatch(/positive whole number of sats, got "1.5"/);
    expect((await run(['send'], envA)).code).toBe(2);
    expect((await run(['spend', '5'], envA)).err).toMatch(/unknown command "spend"/);
    const badMint = await run(['balance'], { ...envA, ROUTSTR_KIT_MINTS: 'ftp://mint' });
    expect(badMint.code).toBe(2);
    expect(badMint.err).toMatch(/invalid setting "mints" from environment variable ROUTSTR_KIT_MINTS: got "ftp:\/\/mint"/);
  });
});

describe('acceptance 8: each CLI entry point started with a bad setting exits non-zero naming it', () => {
  const cases: [string, string[]][] = [
    ['routstr-kit wallet', ['wallet', 'balance']],
    ['routstr-kit mcp', ['mcp']],
    ['routstr-kit provider', ['provider', '--engine', 'vllm', '--upstream', 'http://127.0.0.1:9']],
  ];
  for (const [name, argv] of cases) {
    it(`${name} with ROUTSTR_KIT_MODE=fast`, async () => {
      const home = mkdtempSync(join(tmpdir(), 'bad-setting-'));
      const child = spawn(process.execPath, [bin, ...argv], { env: { ...process.env, HOME: home, ROUTSTR_KIT_MODE: 'fast' }, stdio: ['ignore', 'pipe', 'pipe'] });
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      expect(code).toBe(2);
      expect(err).toContain('invalid setting "mode" from environment variable ROUTSTR_KIT_MODE: got "fast"; expected one of xcashu, session');
    });
  }
});
