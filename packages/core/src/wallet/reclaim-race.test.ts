// Regression: a reclaim that raced the recipient's redeem threw "Token already spent" out of
// reclaim() (and so out of openWallet's recovery: the buyer could not reopen its wallet). Found by the
// in-flight crash test (test/e2e/crash-in-flight.test.ts). Here the race is made exact: a proxy in
// front of the mint lets the recipient redeem the token right after the sender's state check said
// "unspent" and before the sender's swap.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMint, type RunningMint } from '@routstr-kit/devnet/mint';
import { sat } from '../money/index.ts';
import { storeBackends } from '../storage/store-backends.ts';
import { openWallet } from './open-wallet.ts';
import type { EcashWallet } from './wallet.ts';

const backends = storeBackends('reclaim-race');
let mint: RunningMint;
let proxy: Server;
let proxyUrl: string;
/** Runs once, after the mint answered the next /v1/checkstate and before that answer is passed on. */
let afterCheckState: (() => Promise<void>) | undefined;

beforeAll(async () => {
  mint = await startMint();
  proxy = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const upstream = await fetch(`${mint.url}${req.url ?? '/'}`, {
          method: req.method ?? 'GET',
          headers: { 'content-type': 'application/json' },
          ...(req.method === 'POST' ? { body: Buffer.concat(chunks) } : {}),
        });
        const body = Buffer.from(await upstream.arrayBuffer());
        if (req.url === '/v1/checkstate' && afterCheckState) {
          const hook = afterCheckState;
          afterCheckState = undefined;
          await hook();
        }
        res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'application/json' });
        res.end(body);
      })();
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => proxy.close(() => resolve()));
  await mint.stop();
});

describe.each(backends)('on $name', (backend) => it('reclaim racing the recipient\'s redeem: the token is marked spent, nothing thrown, value conserved', async () => {
  const sender: EcashWallet = await openWallet({ path: await backend.fresh('sender'), mints: [proxyUrl] });
  const recipient: EcashWallet = await openWallet({ path: await backend.fresh('recipient'), mints: [proxyUrl] });
  try {
    await (await sender.fund(sat(50))).complete();
    const sent = await sender.send(sat(20), { purpose: 'race' });
    afterCheckState = async () => {
      expect(await recipient.receive(sent.token)).toBe(20);
    };
    expect(await sender.reclaim(sent.entry)).toBe(0);
    expect(afterCheckState).toBeUndefined(); // the race did happen
    expect(sender.journal().find((e) => e.id === sent.entry.id)?.status).toBe('spent');
    expect(sender.pendingBalance()).toBe(0);
    expect(sender.balance() + recipient.balance()).toBe(50);
  } finally {
    sender.close();
    recipient.close();
  }
}));
