/**
 * `routstr-kit wallet …`: the buyer's wallet outside any framework, on the same file and settings
 * (core config: flags > ROUTSTR_KIT_* > config file > defaults) as createRoutstr, ChatRoutstr and
 * the MCP server. Results go to stdout (a token alone on its line for `send`), progress to stderr.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import qrcode from 'qrcode-terminal';
import { BUYER_SETTINGS, ConfigError, isPostgresUrl, openWallet, redactLocation, parseFlags, resolveKitConfig, sat, WalletError, walletFileIsEmpty, type EcashWallet, type Env, type KitConfig } from '@routstr-kit/core';

export const WALLET_USAGE = `usage: routstr-kit wallet <command> [--wallet <path>] [--mint <url>]... [--config <file.json>] [--json]
  balance          sats in the wallet, by mint
  fund <sat>       print a Lightning invoice (a QR code in a terminal), wait until it is paid, mint the sats
  receive <token>  redeem a Cashu token into the wallet
  send <sat>       print a Cashu token of <sat> sats (journaled before it is printed)
  history          the journal: every token and payment that left the wallet
  restore          rebuild a wallet from ROUTSTR_KIT_MNEMONIC (into a new or empty wallet file)
The wallet is the one every adapter pays from: ROUTSTR_KIT_WALLET (default ~/.routstr-kit/wallet.db) with
ROUTSTR_KIT_MINTS; see the README's Configuration table. ROUTSTR_KIT_MNEMONIC is read from the environment only.
`;

/** Where the command writes, and whether stdout is a terminal (for the QR code). */
export interface WalletIo {
  out: (text: string) => void;
  err: (text: string) => void;
  isTty: boolean;
  signal?: AbortSignal;
}

const processIo = (): WalletIo => ({ out: (t) => void process.stdout.write(t), err: (t) => void process.stderr.write(t), isTty: process.stdout.isTTY === true });

/** Runs one wallet command; resolves to the exit code (2: bad usage or setting, 1: the wallet or mint refused). */
export async function walletCommand(argv: string[], env: Env = process.env, io: WalletIo = processIo()): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.out(WALLET_USAGE);
    return 0;
  }
  if (argv.length === 0) {
    io.err(WALLET_USAGE);
    return 2;
  }
  let config: KitConfig;
  let positionals: string[];
  let json: boolean;
  let mint: string | undefined;
  try {
    const parsed = parseFlags(argv, BUYER_SETTINGS, { json: { type: 'boolean' } }, true);
    positionals = parsed.positionals;
    json = parsed.flags['json'] === true;
    config = resolveKitConfig({ flags: parsed.flags, env });
    // with several mints, `--mint` names the one to fund or pay from: the first given
    mint = parsed.flags['mint'] !== undefined ? config.mints[0] : undefined;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    io.err(`routstr-kit wallet: ${error.message}\n`);
    return 2;
  }
  const [command, arg, ...extra] = positionals;
  const usage = (message: string): number => {
    io.err(`routstr-kit wallet: ${message}\n\n${WALLET_USAGE}`);
    return 2;
  };
  if (extra.length > 0) return usage(`unexpected argument ${JSON.stringify(extra[0])}`);
  const needsArg = command === 'fund' || command === 'send' || command === 'receive';
  if (!['balance', 'fund', 'receive', 'send', 'history', 'restore'].includes(command ?? '')) return usage(`unknown command ${JSON.stringify(command)}`);
  if (needsArg && arg === undefined) return usage(`${command} needs ${command === 'receive' ? 'a token' : 'an amount in sats'}`);
  if (!needsArg && arg !== undefined) return usage(`${command} takes no argument`);
  const amount = command === 'fund' || command === 'send' ? Number(arg) : 0;
  if ((command === 'fund' || command === 'send') && (!Number.isSafeInteger(amount) || amount <= 0)) return usage(`the amount must be a positive whole number of sats, got ${JSON.stringify(arg)}`);
  if (command === 'restore') {
    if (config.mnemonic === undefined) return usage('restore reads the seed from ROUTSTR_KIT_MNEMONIC (environment only), which is not set');
    if (!walletFileIsEmpty(config.walletPath)) {
      io.err(`routstr-kit wallet: ${redactLocation(config.walletPath)} already holds a wallet; restore into a new file (--wallet <path> or ROUTSTR_KIT_WALLET)\n`);
      return 2;
    }
  }

  let wallet: EcashWallet | undefined;
  try {
    if (!isPostgresUrl(config.walletPath)) mkdirSync(dirname(config.walletPath), { recursive: true });
    wallet = await openWallet({ path: config.walletPath, mints: config.mints, ...(config.mnemonic !== undefined ? { mnemonic: config.mnemonic } : {}) });
    const print = (human: string, data: Record<string, unknown>): void => io.out(json ? `${JSON.stringify(data)}\n` : `${human}\n`);
    switch (command) {
      case 'balance':
        print(balanceText(wallet), balanceJson(wallet));
        break;
      case 'fund':
        await fund(wallet, amount, mint, io, print);
        break;
      case 'receive': {
        const received = await wallet.receive(arg!.trim());
        print(`received ${received} sat; balance ${wallet.balance()} sat`, { received_sat: received, ...balanceJson(wallet) });
        break;
      }
      case 'send': {
        const sent = await wallet.send(sat(amount), { purpose: 'cli send', ...(mint ? { mint } : {}) });
        io.err(`sent ${sent.amount} sat (journal ${sent.entry.id}); balance ${wallet.balance()} sat\n`);
        print(sent.token, { token: sent.token, amount_sat: sent.amount, journal_id: sent.entry.id, ...balanceJson(wallet) });
        break;
      }
      case 'history':
        history(wallet, json, io);
        break;
      case 'restore': {
        const restored = wallet.lastRecovery?.restoredFromSeed ?? 0;
        print(`restored ${restored} sat from the seed into ${redactLocation(config.walletPath)}; balance ${wallet.balance()} sat`, { restored_sat: restored, ...balanceJson(wallet) });
        break;
      }
    }
    return 0;
  } catch (error) {
    if (!(error instanceof WalletError) && !(error instanceof Error && error.name === 'AbortError')) throw error;
    io.err(`routstr-kit wallet ${command}: ${error.message}\n`);
    return 1;
  } finally {
    wallet?.close();
  }
}

function balanceJson(wallet: EcashWallet): { balance_sat: number; mints: Record<string, number> } {
  return { balance_sat: wallet.balance(), mints: Object.fromEntries(wallet.mints.map((m) => [m, wallet.balance(m)])) };
}

function balanceText(wallet: EcashWallet): string {
  return [`${wallet.balance()} sat`, ...wallet.mints.map((m) => `  ${m}: ${wallet.balance(m)} sat`)].join('\n');
}

async function fund(wallet: EcashWallet, amount: number, mint: string | undefined, io: WalletIo, print: (human: string, data: Record<string, unknown>) => void): Promise<void> {
  const funding = await wallet.fund(sat(amount), mint ? { mint } : {});
  io.err(`Pay this Lightning invoice to add ${funding.amount} sat from ${funding.mint}:\n`);
  if (io.isTty) qrcode.generate(funding.invoice, { small: true }, (code) => io.out(`${code}\n`));
  io.out(`${funding.invoice}\n`);
  io.err(`waiting for payment (mint quote ${funding.quoteId}; Ctrl-C stops waiting, the quote stays in the wallet)...\n`);
  // progress for a person watching; it only reports, the wait itself is the mint quote's state
  const started = Date.now();
  const progress = io.isTty ? setInterval(() => io.err(`  still waiting, ${Math.round((Date.now() - started) / 1000)} s\n`), 10_000) : undefined;
  try {
    const minted = await funding.complete(io.signal ? { signal: io.signal } : {});
    print(`funded ${minted} sat; balance ${wallet.balance()} sat`, { funded_sat: minted, quote_id: funding.quoteId, ...balanceJson(wallet) });
  } finally {
    clearInterval(progress);
  }
}

function history(wallet: EcashWallet, json: boolean, io: WalletIo): void {
  const entries = wallet.store.journal();
  if (json) {
    io.out(`${JSON.stringify({ entries: entries.map((e) => ({ id: e.id, at: new Date(e.createdAt).toISOString(), kind: e.kind, mint: e.mint, amount_sat: e.amount, purpose: e.purpose, request_id: e.requestId, status: e.status })) })}\n`);
    return;
  }
  if (entries.length === 0) {
    io.out('no payments yet\n');
    return;
  }
  for (const e of entries) {
    io.out(`${new Date(e.createdAt).toISOString()}  ${e.kind.padEnd(5)} ${String(e.amount).padStart(8)} sat  ${e.status.padEnd(11)} ${e.purpose}${e.requestId ? ` (${e.requestId})` : ''}  ${e.mint}\n`);
  }
}
