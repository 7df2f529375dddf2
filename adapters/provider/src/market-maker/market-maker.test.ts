import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { finalizeEvent, generateSecretKey, getPublicKey } from 'nostr-tools';
import { msatPerMtok, parseAnnouncement, parsePriceTick, pythonJsonDumps } from '@routstr-kit/core';
import { startRelay, type RunningRelay } from '@routstr-kit/devnet';
import { MarketMakerConfigError, startMarketMaker, type MarketMaker, type MarketMakerOptions, type ModelPrice, type NodeLoad } from './index.ts';
import { RelayTape, testPool } from './relay-tape.ts';

const price = (model: string, prompt: number, completion: number): ModelPrice => ({ model, prompt: msatPerMtok(prompt), completion: msatPerMtok(completion) });
const PRICES = [price('tiny-llama', 1_000, 4_000), price('other-model', 2_000, 8_000)];
const MINTS = ['http://127.0.0.1:3338', 'https://mint.example.com/Bitcoin'];

/** The node's counters as the HTTP node would keep them, set by the test. */
function nodeLoad(capacity = 4): NodeLoad & { rejected: number } {
  return {
    capacity,
    inFlight: 0,
    queued: 0,
    rejected: 0,
    rejectedRecently() {
      return this.rejected;
    },
  };
}

/** A clock the test moves (unix ms). */
function manualClock(startMs = Date.now()) {
  let now = startMs;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

describe('market maker on a devnet relay', () => {
  let relay: RunningRelay;
  const pool = testPool();
  const makers: MarketMaker[] = [];
  const logs: string[] = [];

  function nostr(secretKey: Uint8Array, extra: Partial<NonNullable<MarketMakerOptions['nostr']>> = {}): NonNullable<MarketMakerOptions['nostr']> {
    return { relays: [relay.url], secretKey, urls: ['http://127.0.0.1:8000'], mints: MINTS, version: '0.4.5', name: 'Kit Node', about: 'A node by routstr-kit', ...extra };
  }

  async function start(options: Partial<MarketMakerOptions> & Pick<MarketMakerOptions, 'nostr'>): Promise<MarketMaker> {
    const maker = await startMarketMaker({
      board: { mode: 'fixed', prices: PRICES },
      models: ['tiny-llama', 'other-model'],
      load: nodeLoad(),
      log: (m) => logs.push(m),
      ...options,
      tick: { intervalMs: 0, heartbeatS: 0, ...options.tick },
    });
    makers.push(maker);
    return maker;
  }

  beforeAll(async () => {
    relay = await startRelay();
  });
  afterAll(async () => {
    await Promise.all(makers.map((m) => m.stop()));
    pool.destroy();
    await relay.stop();
  });

  it('announces a 38421 that core, the SDK and otrta parse: routstr-core tag order, name/about JSON, configured mints, asks', async () => {
    const sk = generateSecretKey();
    const pk = getPublicKey(sk);
    const maker = await start({ nostr: nostr(sk, { urls: ['http://127.0.0.1:8000', 'http://abcdefghijklmnop.onion'] }) });

    const stored = await pool.querySync([relay.url], { kinds: [38421], authors: [pk] });
    expect(stored).toHaveLength(1);
    const event = stored[0]!;
    expect(event.id).toBe(maker.announcement()?.id);
    // core's parser verifies the signature and requires a non-empty u (the SDK's rule)
    const parsed = parseAnnouncement(event);
    expect(parsed.d).toBe(pk.slice(0, 12));
    expect(parsed.urls).toEqual(['http://127.0.0.1:8000', 'http://abcdefghijklmnop.onion']);
    expect(parsed.mints).toEqual(MINTS);
    expect(parsed.version).toBe('0.4.5');
    expect(parsed.asks).toEqual(PRICES);
    expect(event.tags.map((t) => t[0])).toEqual(['d', 'u', 'u', 'mint', 'mint', 'version', 'model', 'model']);
    // otrta: content must be JSON with string name and about; routstr-core writes it compact
    const content = JSON.parse(event.content) as Record<string, unknown>;
    expect(typeof content['name']).toBe('string');
    expect(typeof content['about']).toBe('string');
    expect(event.content).toBe('{"name":"Kit Node","about":"A node by routstr-kit"}');
    expect(event.content).toBe(pythonJsonDumps({ name: 'Kit Node', about: 'A node by routstr-kit' }, { compact: true, ensureAscii: true }));
    expect(maker.state().nostr?.d).toBe(pk.slice(0, 12));
  });

  it('reuses the d of our newest 38421 on the relays; a configured d wins', async () => {
    const sk = generateSecretKey();
    const pk = getPublicKey(sk);
    const old = (d: string, age: number) =>
      finalizeEvent({ kind: 38421, created_at: Math.floor(Date.now() / 1000) - age, tags: [['d', d], ['u', 'http://old.example']], content: '{"name":"x","about":"y"}' }, sk);
    await Promise.all(pool.publish([relay.url], old('older-node', 100)));
    await Promise.all(pool.publish([relay.url], old('newest-node', 10)));

    const reused = await start({ nostr: nostr(sk) });
    expect(reused.state().nostr?.d).toBe('newest-node');
    const byD = await pool.querySync([relay.url], { kinds: [38421], authors: [pk], '#d': ['newest-node'] });
    expect(byD.map((e) => e.id)).toEqual([reused.announcement()?.id]);
    expect(parseAnnouncement(byD[0]).urls).toEqual(['http://127.0.0.1:8000']);

    const configured = await start({ nostr: nostr(sk, { d: 'configured-id' }) });
    expect(configured.state().nostr?.d).toBe('configured-id');
    expect(parseAnnouncement(configured.announcement()).d).toBe('configured-id');
  });

  it('does not republish an equivalent announcement at start; republishes on a mint change and when it gets old', async () => {
    const sk = generateSecretKey();
    const pk = getPublicKey(sk);
    const clock = manualClock();
    const first = await start({ nostr: nostr(sk), clock: clock.now, announce: { refreshS: 600 } });
    const firstId = first.announcement()!.id;
    await first.stop();

    clock.advance(5_000);
    const second = await start({ nostr: nostr(sk), clock: clock.now, announce: { refreshS: 600 } });
    expect(second.announcement()?.id).toBe(firstId);

    const newMints = [...MINTS, 'https://mint2.example.com'];
    const changed = await second.updateListing({ mints: newMints });
    expect(changed?.id).not.toBe(firstId);
    const stored = await pool.querySync([relay.url], { kinds: [38421], authors: [pk] });
    expect(stored.map((e) => e.id)).toEqual([changed!.id]);
    expect(parseAnnouncement(stored[0]).mints).toEqual(newMints);
    // the same listing again changes nothing
    expect((await second.updateListing({ mints: newMints }))?.id).toBe(changed!.id);

    await second.sampleNow();
    expect(second.announcement()?.id).toBe(changed!.id);
    clock.advance(600_000);
    await second.sampleNow();
    const refreshed = second.announcement()!;
    expect(refreshed.id).not.toBe(changed!.id);
    expect(refreshed.created_at).toBeGreaterThanOrEqual(Math.floor(clock.now() / 1000));
    expect((await pool.querySync([relay.url], { kinds: [38421], authors: [pk] })).map((e) => e.id)).toEqual([refreshed.id]);
  });

  it('a fixed board never ticks on its own, whatever the load, except the heartbeat; each tick is a quote', async () => {
    const sk = generateSecretKey();
    const pk = getPublicKey(sk);
    const clock = manualClock();
    const load = nodeLoad(4);
    const tape = await RelayTape.open(pool, relay.url, { kinds: [28421], authors: [pk] });
    const maker = await start({ nostr: nostr(sk), clock: clock.now, load, tick: { heartbeatS: 30, expirationS: 90 } });

    // the heartbeat is due at start: an opening tick
    const opening = maker.state().lastTick!;
    expect(opening.reason).toBe('heartbeat');
    for (const [inFlight, queued, rejected] of [[4, 0, 0], [4, 6, 3], [0, 0, 0]] as const) {
      Object.assign(load, { inFlight, queued, rejected });
      const s = await maker.sampleNow();
      expect(s.prices).toEqual({ 'tiny-llama': PRICES[0], 'other-model': PRICES[1] });
    }
    expect(maker.state().utilisation?.value).toBe(0);
    expect(maker.state().ticksPublished).toBe(1);

    Object.assign(load, { inFlight: 4, queued: 0, rejected: 0 });
    clock.advance(30_000);
    await maker.sampleNow();
    const beat = maker.state().lastTick!;
    expect(beat.reason).toBe('heartbeat');
    const received = await tape.next((e) => e.id === beat.id);
    // nothing arrived between the opening tick and the heartbeat
    expect(tape.events.map((e) => e.id)).toEqual([opening.id, beat.id]);

    const tick = parsePriceTick(received);
    expect(tick.address).toBe(`38421:${pk}:${pk.slice(0, 12)}`);
    expect(tick.url).toBe('http://127.0.0.1:8000');
    expect(tick.seq).toBeGreaterThan(parsePriceTick(tape.events[0]).seq);
    expect(tick.load).toBe(1);
    expect(received.tags.find((t) => t[0] === 'load')).toEqual(['load', '1.000']);
    expect(tick.expiration).toBe(tick.createdAt + 90);
    expect(tick.models).toEqual(PRICES);

    const nowS = Math.floor(clock.now() / 1000);
    const quote = await maker.quote(tick.id, 'other-model');
    expect(quote.ok && quote.prices.get('other-model')).toEqual(PRICES[1]);
    expect(maker.quote(tick.id, 'no-such-model')).toEqual({ ok: false, reason: 'model_not_quoted' });
    expect(maker.quote(tick.id, 'tiny-llama', tick.expiration)).toEqual({ ok: false, reason: 'expired' });
    expect(maker.quote('0'.repeat(64), 'tiny-llama')).toEqual({ ok: false, reason: 'unknown' });
    clock.advance(90_000);
    expect(Math.floor(clock.now() / 1000)).toBeGreaterThanOrEqual(nowS + 90);
    expect(maker.quote(tick.id, 'tiny-llama')).toEqual({ ok: false, reason: 'expired' });
    tape.close();
  });

  it('keeps seq rising within a run and across a restart', async () => {
    const sk = generateSecretKey();
    const clock = manualClock();
    const first = await start({ nostr: nostr(sk), clock: clock.now });
    // a frozen clock still yields rising seqs
    const seqs = [];
    for (let i = 0; i < 3; i++) seqs.push((await first.publishTick())!.seq);
    expect(seqs).toEqual([seqs[0], seqs[0]! + 1, seqs[0]! + 2]);
    expect(seqs[0]).toBe(clock.now());
    await first.stop();

    // a restart a second later (nothing persisted): seq starts from the clock, above every earlier one
    clock.advance(1_000);
    const second = await start({ nostr: nostr(sk), clock: clock.now });
    const after = (await second.publishTick())!.seq;
    expect(after).toBeGreaterThan(seqs[2]!);
  });

  it('reports a missing nvidia-smi once and prices without it; dynamic pricing without any power figure is refused', async () => {
    logs.length = 0;
    const maker = await start({ nostr: undefined, telemetry: { nvidiaSmi: '/nonexistent/nvidia-smi' } });
    await maker.sampleNow();
    await maker.sampleNow();
    expect(logs.filter((l) => l.includes('nvidia-smi'))).toHaveLength(1);
    expect(maker.state().nvidiaSmiOff).toBe(true);
    expect(maker.state().samples).toBe(3);

    const refused = startMarketMaker({
      board: { mode: 'dynamic', electricityMsatPerKwh: 100_000, tokensPerSecond: 50, margin: 1_000 },
      models: ['tiny-llama'],
      load: nodeLoad(),
      telemetry: { nvidiaSmi: '/nonexistent/nvidia-smi' },
      tick: { intervalMs: 0 },
      log: () => {},
    });
    await expect(refused).rejects.toBeInstanceOf(MarketMakerConfigError);
    await expect(refused).rejects.toMatchObject({ code: 'no_power_reading' });
  });

  it('prices power from nvidia-smi: the power limit until a busy reading, then the draw while busy', async () => {
    // nvidia-smi cannot run here: a stand-in binary prints a real H100 capture under load (header form)
    const capture = fileURLToPath(new URL('../../../../fixtures/engines/nvidia-smi/nvsmi-loaded-header-units.csv', import.meta.url));
    const dir = mkdtempSync(join(tmpdir(), 'nvidia-smi-'));
    const binary = join(dir, 'nvidia-smi');
    writeFileSync(binary, `#!/bin/sh\ncat '${capture}'\n`);
    chmodSync(binary, 0o755);
    const load = nodeLoad(2);
    const maker = await start({
      nostr: undefined,
      load,
      models: ['tiny-llama'],
      board: { mode: 'dynamic', electricityMsatPerKwh: 100_000, tokensPerSecond: 1_000, margin: 10_000 },
      telemetry: { nvidiaSmi: binary },
    });
    const idle = maker.state();
    expect(idle.reading?.gpus?.[0]?.name).toBe('NVIDIA H100 80GB HBM3');
    expect(idle.pricing?.['tiny-llama']).toMatchObject({ powerWatts: 700, powerSource: 'nvidia-smi-limit' });
    // 700 W ÷ 1000 tok/s = 0.7 J/token = 700 000 J/Mtok = 0.19444 kWh/Mtok × 100 000 msat/kWh, rounded up
    expect(idle.pricing?.['tiny-llama']?.energy).toBe(19_445);
    load.inFlight = 1;
    const busy = await maker.sampleNow();
    expect(busy.reading?.utilisation.parts.gpu).toBe(1);
    expect(busy.pricing?.['tiny-llama']).toMatchObject({ powerWatts: 698.89, powerSource: 'nvidia-smi' });
    expect(busy.pricing?.['tiny-llama']?.energy).toBe(Math.ceil((698.89 / 1_000) * 1e6 / 3.6e6 * 100_000));
  });

  it('samples on its own at the configured interval and stops cleanly', async () => {
    const load = nodeLoad(1);
    const maker = await start({
      nostr: undefined,
      load,
      models: ['tiny-llama'],
      board: { mode: 'dynamic', powerWatts: 100, electricityMsatPerKwh: 100_000, tokensPerSecond: 100, margin: 100_000, alpha: 1, maxStep: 1 },
      tick: { intervalMs: 5 },
    });
    const idlePrice = maker.current().get('tiny-llama')!.completion;
    const raised = new Promise<number>((resolve) => {
      const off = maker.onChange((prices) => {
        off();
        resolve(prices.get('tiny-llama')!.completion);
      });
    });
    Object.assign(load, { inFlight: 1, queued: 2 });
    expect(await raised).toBeGreaterThan(idlePrice);
    expect(maker.state().running).toBe(true);
    await maker.stop();
    const samples = maker.state().samples;
    expect(maker.state().running).toBe(false);
    // stopped: a sample taken by hand is the only one that happens
    await maker.sampleNow();
    expect(maker.state().samples).toBe(samples + 1);
  });

  it('refuses a listing without an endpoint and a fixed board missing a model price', async () => {
    await expect(start({ nostr: nostr(generateSecretKey(), { urls: [] }) })).rejects.toMatchObject({ code: 'missing_url' });
    await expect(start({ nostr: undefined, models: ['tiny-llama', 'unpriced'] })).rejects.toMatchObject({ code: 'invalid_config' });
  });
});
