/** Wallet tools as plain functions over a core EcashWallet (no MCP here). Nothing here spends. */
import { sat, WalletError, type EcashWallet, type Payer } from '@routstr-kit/core';
import type { McpBudget } from './config.ts';
import { clip } from './bounded-echo.ts';
import { ToolError } from './tool-error.ts';

/** Balance by mint, pending sats, and the configured budget with what this server spent. */
export function walletBalance(wallet: EcashWallet, budget: McpBudget, payer: Payer) {
  return {
    balance_sat: wallet.balance(),
    by_mint: { ...wallet.balances() } as Record<string, number>,
    pending_sat: wallet.pendingBalance(),
    // change the nodes returned, kept durably and being redeemed in the background: still the wallet's
    incoming_sat: wallet.incomingBalance(),
    budget: {
      ...(budget.perRequestMaxSat !== undefined ? { per_request_max_sat: budget.perRequestMaxSat } : {}),
      ...(budget.totalSat !== undefined ? { total_sat: budget.totalSat } : {}),
      spent_sat: payer.spentSat(),
    },
  };
}

/** Redeems a Cashu token into the wallet. */
export async function walletReceive(wallet: EcashWallet, token: string) {
  try {
    const received = await wallet.receive(token.trim());
    return { received_sat: received as number, balance_sat: wallet.balance() as number };
  } catch (error) {
    if (error instanceof WalletError) throw new ToolError(error.code, `could not receive the token: ${clip(error.message)}; nothing was received`);
    throw new ToolError('receive_failed', `could not receive the token: ${clip(error instanceof Error ? error.message : String(error))}`);
  }
}

/**
 * Asks the first mint for a Lightning invoice of `amount_sat`, reports it through `onInvoice`,
 * and waits up to `waitMs` for payment. Collection goes on in the background after that
 * (until `background` aborts), so an invoice paid later still lands in the wallet.
 */
export async function walletFund(
  wallet: EcashWallet,
  input: { amount_sat: number; wait_s?: number | undefined },
  options: { onInvoice?: (invoice: string) => void; background: AbortSignal; signal?: AbortSignal },
) {
  let funding;
  try {
    funding = await wallet.fund(sat(input.amount_sat));
  } catch (error) {
    throw new ToolError(error instanceof WalletError ? error.code : 'fund_failed', `could not get an invoice: ${error instanceof Error ? error.message : String(error)}`);
  }
  options.onInvoice?.(funding.invoice);
  const paid = funding.complete({ signal: options.background }).then(
    () => true,
    () => false,
  );
  const waitMs = (input.wait_s ?? 50) * 1000;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const waited = await Promise.race([
    paid,
    new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), waitMs);
      options.signal?.addEventListener('abort', () => resolve(false), { once: true });
    }),
  ]);
  clearTimeout(timer);
  return { state: waited ? ('paid' as const) : ('unpaid' as const), invoice: funding.invoice, amount_sat: input.amount_sat, quote_id: funding.quoteId, mint: funding.mint, balance_sat: wallet.balance() as number };
}
