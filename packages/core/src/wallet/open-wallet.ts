/**
 * Opening a wallet: the store (mnemonic kept in it, or checked against it), one cashu-ts wallet
 * per mint with deterministic NUT-13 secrets counted in the store, a NUT-09 restore when an empty
 * store is given a mnemonic, and a recovery pass before the wallet is handed out.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { Wallet as CashuWallet, normalizeMintUrl } from '@cashu/cashu-ts';
import { generateMnemonic, mnemonicToSeedSync, validateMnemonic } from '@scure/bip39';
import { wordlist } from '@scure/bip39/wordlists/english.js';
import { sat } from '../money/index.ts';
import { StoreCounterSource } from './counter-source.ts';
import { CurvePool, defaultCurveWorkers } from './curve-pool.ts';
import { DenominationInventory, resolveInventoryPolicy } from './denomination-inventory.ts';
import { isPostgresUrl } from '../storage/index.ts';
import { MnemonicMismatch, WalletError } from './errors.ts';
import type { MintContext } from './mint-context.ts';
import { WalletStore } from './store.ts';
import { EcashWallet } from './wallet.ts';
import type { OpenWalletOptions } from './wallet-types.ts';

/**
 * True when no wallet lives at `path` (a file or a `postgres://` URL) yet: no file, or a store that
 * never held proofs, counters or operations (a restore target).
 */
export function walletFileIsEmpty(path: string): boolean {
  if (!isPostgresUrl(path) && !existsSync(path)) return true;
  const store = new WalletStore(path);
  try {
    return store.isEmpty();
  } finally {
    store.close();
  }
}

/** Opens (or creates) a wallet store, connects its mints, restores from the seed if empty, and recovers. */
export async function openWallet(options: OpenWalletOptions): Promise<EcashWallet> {
  if (options.mints.length === 0) throw new WalletError('no_mints', 'openWallet needs at least one mint');
  const curveWorkers = options.curveWorkers ?? defaultCurveWorkers();
  if (!Number.isSafeInteger(curveWorkers) || curveWorkers < 0) {
    throw new WalletError('invalid_option', `curveWorkers must be a whole number ≥ 0, got ${String(options.curveWorkers)}`);
  }
  if (options.mnemonic !== undefined && !validateMnemonic(options.mnemonic.trim(), wordlist)) {
    throw new WalletError('invalid_mnemonic', 'not a valid BIP-39 English mnemonic');
  }
  const policy = resolveInventoryPolicy(options.inventory);
  const store = new WalletStore(options.path);
  let wallet: EcashWallet | undefined;
  let pool: CurvePool | undefined;
  try {
    const wasEmpty = store.isEmpty();
    const mnemonic = store.tx(() => {
      const stored = store.getMeta('mnemonic');
      const given = options.mnemonic?.trim();
      if (stored !== undefined) {
        if (given !== undefined && given !== stored) throw new MnemonicMismatch();
        return stored;
      }
      const phrase = given ?? generateMnemonic(wordlist, 128);
      store.setMeta('mnemonic', phrase);
      return phrase;
    });
    const seed = mnemonicToSeedSync(mnemonic);
    const counterSource = new StoreCounterSource(store);
    // No thread starts here: the pool starts its first worker when the first swap needs it.
    pool = curveWorkers > 0 ? new CurvePool({ size: curveWorkers, seed, counterSource }) : undefined;
    const contexts = new Map<string, MintContext>();
    for (const raw of options.mints) {
      const url = normalizeMintUrl(raw);
      const cashu = new CashuWallet(url, { unit: 'sat', bip39seed: seed, counterSource, secretsPolicy: 'deterministic' });
      await cashu.loadMint();
      store.saveKeysets(cashu.keyChain.getKeysets().map((k) => ({
        mint: url, id: k.id, unit: k.unit, active: k.isActive, inputFeePpk: k.fee,
      })));
      contexts.set(url, { url, cashu, swaps: pool ? pool.swapsFor(cashu) : cashu });
    }
    wallet = new EcashWallet({
      store,
      instanceId: randomUUID(),
      contexts,
      curvePool: pool,
      budgets: options.budgets,
      mnemonic,
      pollIntervalMs: options.pollIntervalMs ?? 250,
      inventory: policy ? new DenominationInventory(policy, store) : null,
    });
    wallet.markLive();
    const restored = wasEmpty && options.mnemonic !== undefined ? await wallet.restoreFromSeed(options.restoreGapLimit ?? 100) : sat(0);
    const report = await wallet.recover({ reclaimOutstanding: options.reclaimOnOpen ?? true });
    report.restoredFromSeed = restored;
    return wallet;
  } catch (error) {
    // closing the wallet also releases its owner row: what it left in flight becomes recoverable
    if (wallet) wallet.close();
    else {
      pool?.close();
      store.close();
    }
    throw error;
  }
}
