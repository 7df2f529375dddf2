import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openWallet, sat } from '@routstr-kit/core';
import { fakeInvoice, startDevnet } from '@routstr-kit/devnet';

/**
 * `routstr-kit demo`: a market on loopback and an agent paying for inference with ecash.
 * Stage 1 of the demo: devnet up, a funded wallet, a paid request, the provider cashing out.
 */
export async function demoCommand(_argv: string[]): Promise<number> {
  const say = (line: string): void => void process.stdout.write(line + '\n');
  const dir = mkdtempSync(join(tmpdir(), 'routstr-kit-demo-'));
  say('Starting the devnet (Nostr relay, Cashu mint, vLLM-flavoured llama.cpp engine)…');
  const devnet = await startDevnet({ engines: { vllm: { flavour: 'vllm' } } });
  const agent = await openWallet({ path: join(dir, 'agent.sqlite'), mints: [devnet.mintUrl], pollIntervalMs: 20 });
  const provider = await openWallet({ path: join(dir, 'provider.sqlite'), mints: [devnet.mintUrl], pollIntervalMs: 20 });
  try {
    say(`  relay  ${devnet.relayUrl}\n  mint   ${devnet.mintUrl}\n  engine ${devnet.engines['vllm']}`);

    const funding = await agent.fund(sat(1000));
    say(`\nAgent wallet: paying a Lightning invoice to fund it\n  ${funding.invoice}`);
    await funding.complete();
    say(`  balance ${agent.balance()} sat`);

    const price = sat(21);
    const payment = await agent.send(price, { purpose: 'chat completion', requestId: 'demo-1' });
    say(`\nAgent pays ${payment.amount} sat in ecash for one chat completion:\n  X-Cashu: ${payment.token.slice(0, 48)}…`);
    const received = await provider.receive(payment.token);
    agent.settle(payment.entry.id);
    say(`Provider redeemed the token at the mint: +${received} sat`);

    const engine = devnet.engines['vllm']!;
    const answer = (await (
      await fetch(`${engine}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: devnet.parts.engines['vllm']!.model, messages: [{ role: 'user', content: 'Hello, market!' }], max_tokens: 24 }),
      })
    ).json()) as { usage: { prompt_tokens: number; completion_tokens: number } };
    say(`Provider's engine served it: ${answer.usage.prompt_tokens} prompt + ${answer.usage.completion_tokens} completion tokens (random weights, so the text is gibberish)`);

    const withdrawal = await provider.withdraw(fakeInvoice(provider.balance()));
    say(`Provider cashes out over Lightning: ${withdrawal.amount} sat (${withdrawal.state})`);

    const total = agent.balance() + provider.balance() + withdrawal.amount + agent.feesPaid() + provider.feesPaid();
    say(`\nSummary: funded 1000 sat; agent holds ${agent.balance()}, provider withdrew ${withdrawal.amount}, fees ${agent.feesPaid() + provider.feesPaid()}.`);
    say(total === 1000 ? 'Nothing lost: every sat is accounted for.' : `MISMATCH: accounted ${total} of 1000 sat`);
    return total === 1000 ? 0 : 1;
  } finally {
    agent.close();
    provider.close();
    await devnet.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
