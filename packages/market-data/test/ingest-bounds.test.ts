// Relay input is untrusted: what the aggregator keeps stays bounded (models, ticks per model),
// events are verified and rate-limited per pubkey before they move the index.
import { buildAnnouncement, buildPriceTick, msatPerMtok } from '@routstr-kit/core';
import { generateSecretKey } from 'nostr-tools/pure';
import { afterEach, expect, it } from 'vitest';
import { openStream } from './sse-client.ts';
import { startMarketDataService, type BookResponse, type MarketDataService, type ModelsResponse } from '../src/index.ts';

const URL_ = 'http://127.0.0.1:9/';
const nowS = (): number => Math.floor(Date.now() / 1000);
const asks = (models: string[]) => models.map((model, i) => ({ model, prompt: msatPerMtok(1_000 + i), completion: msatPerMtok(2_000) }));
const announce = (sk: Uint8Array, models: string[], createdAt: number) =>
  buildAnnouncement({ d: 'node', urls: [URL_], mints: ['https://mint.example/'], version: '0.4.5', name: 'n', about: '', asks: asks(models), createdAt }, sk);
const tick = (sk: Uint8Array, seq: number, model: string, prompt: number) =>
  buildPriceTick({ d: 'node', url: URL_, expiration: nowS() + 60, seq, load: 0.25, models: [{ model, prompt: msatPerMtok(prompt), completion: msatPerMtok(2_000) }] }, sk);

let service: MarketDataService | undefined;
afterEach(async () => {
  await service?.close();
  service = undefined;
});

async function start(extra: { maxStreams?: number } = {}): Promise<MarketDataService> {
  service = await startMarketDataService({
    ...extra,
    relays: [],
    store: ':memory:',
    providerAddresses: 'any',
    maxModels: 2,
    maxTicksPerModel: 2,
    log: () => undefined,
    // no network: every probe fails at once, the announced asks stay in the book
    market: { tickIntervalMs: 0, probe: { fetch: () => Promise.reject(new Error('offline')), retries: 0 } },
  });
  return service;
}

const models = async (s: MarketDataService): Promise<string[]> => ((await (await fetch(`${s.url}/api/models`)).json()) as ModelsResponse).models.map((m) => m.id);

it('indexes at most maxModels models; a waiting model takes the place of one that left', async () => {
  const s = await start();
  const sk = generateSecretKey();
  expect(await s.market.ingestEvent(announce(sk, ['a', 'b', 'c'], nowS()))).toBe('accepted');
  await s.recordNow();
  expect(await models(s)).toEqual(['a', 'b']);
  expect((await fetch(`${s.url}/api/models/c/book`)).status).toBe(404);

  expect(await s.market.ingestEvent(announce(sk, ['b', 'c'], nowS() + 1))).toBe('accepted');
  await s.recordNow(); // a leaves, c is admitted to the free place
  await s.recordNow();
  expect(await models(s)).toEqual(['b', 'c']);
});

it('keeps maxTicksPerModel ticks per model, newest first', async () => {
  const s = await start();
  const sk = generateSecretKey();
  await s.market.ingestEvent(announce(sk, ['a'], nowS()));
  for (let seq = 1; seq <= 4; seq++) expect(await s.market.ingestEvent(tick(sk, seq, 'a', 5_000 + seq))).toBe('accepted');
  await s.recordNow();
  const book = (await (await fetch(`${s.url}/api/models/a/book`)).json()) as BookResponse;
  expect(book.ticks.map((t) => t.promptMsatPerMtok)).toEqual([5_004, 5_003]);
  expect(book.asks[0]).toMatchObject({ source: 'tick', promptMsatPerMtok: 5_004, load: 0.25 });
});

it('refuses forged events and rate-limits a flooding pubkey before anything reaches the index', async () => {
  const s = await start();
  const sk = generateSecretKey();
  await s.market.ingestEvent(announce(sk, ['a'], nowS()));
  const forged = { ...tick(sk, 1, 'a', 1), sig: 'f'.repeat(128) };
  expect(await s.market.ingestEvent(forged)).not.toBe('accepted');
  const outcomes = [];
  for (let seq = 2; seq < 200; seq++) outcomes.push(await s.market.ingestEvent(tick(sk, seq, 'a', 9_000 + seq)));
  expect(outcomes).toContain('rate-limited');
  await s.recordNow();
  const book = (await (await fetch(`${s.url}/api/models/a/book`)).json()) as BookResponse;
  // the forged price never showed; the last tick shown is one the bucket let through
  expect(book.ticks.every((t) => t.promptMsatPerMtok !== 1)).toBe(true);
  const accepted = outcomes.lastIndexOf('accepted') + 2;
  expect(book.ticks[0]?.promptMsatPerMtok).toBe(9_000 + accepted);
});

it('refuses stream connections beyond maxStreams with a 503', async () => {
  const s = await start({ maxStreams: 1 });
  const first = await openStream(`${s.url}/api/stream`);
  const second = await fetch(`${s.url}/api/stream`);
  expect(second.status).toBe(503);
  expect(((await second.json()) as { error: { message: string } }).error.message).toMatch(/too many/);
  first.close();
});
