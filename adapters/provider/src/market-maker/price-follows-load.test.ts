import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSecretKey, getPublicKey } from 'nostr-tools';
import { parsePriceTick, type PriceTick } from '@routstr-kit/core';
import { startEngine, startRelay, type EngineState, type RunningEngine, type RunningRelay } from '@routstr-kit/devnet';
import { startMarketMaker, type MarketMaker, type NodeLoad } from './index.ts';
import { RelayTape, testPool } from './relay-tape.ts';

const MODEL = 'tiny-llama';

/** Resolves when the engine's state satisfies `match` (checked now and on every change). */
function engineState(engine: RunningEngine, match: (s: EngineState) => boolean): Promise<EngineState> {
  return new Promise((resolve) => {
    if (match(engine.state())) return resolve(engine.state());
    const off = engine.onStateChange((s) => {
      if (match(s)) {
        off();
        resolve(s);
      }
    });
  });
}

describe('dynamic price follows the load of a vLLM-flavoured engine', () => {
  let relay: RunningRelay;
  let engine: RunningEngine;
  let maker: MarketMaker;
  const pool = testPool();
  const requests: AbortController[] = [];

  /** Starts a long generation straight at the engine; it runs until aborted. */
  function generate(): void {
    const controller = new AbortController();
    requests.push(controller);
    fetch(`${engine.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'count' }], max_tokens: 1500 }),
      signal: controller.signal,
    })
      .then((r) => r.text())
      .catch(() => undefined);
  }

  function abortAll(): void {
    for (const c of requests.splice(0)) c.abort();
  }

  beforeAll(async () => {
    [relay, engine] = await Promise.all([startRelay(), startEngine({ flavour: 'vllm', maxConcurrency: 2 })]);
  });
  afterAll(async () => {
    abortAll();
    await maker?.stop();
    pool.destroy();
    await Promise.all([relay?.stop(), engine?.stop()]);
  });

  it('raises the price under concurrent requests, ticks each move, stays put within the band, falls to the floor when idle', async () => {
    const sk = generateSecretKey();
    const pk = getPublicKey(sk);
    // The HTTP node is bypassed here: its own counters stay at zero and the load comes from vLLM's /metrics.
    const load: NodeLoad = { capacity: 2, inFlight: 0, queued: 0, rejectedRecently: () => 0 };
    let offsetMs = 0;
    const tape = await RelayTape.open(pool, relay.url, { kinds: [28421], authors: [pk] });
    maker = await startMarketMaker({
      board: {
        mode: 'dynamic',
        // energy = 300 W × 1.2 ÷ 20 tok/s = 18 J/token = 5 kWh/Mtok × 100 000 msat/kWh = 500 000 msat/Mtok: the floor
        powerWatts: 300,
        pue: 1.2,
        electricityMsatPerKwh: 100_000,
        tokensPerSecond: 20,
        measureThroughput: false,
        margin: 100_000,
        alpha: 0.5,
        hysteresis: 0.05,
        maxStep: 0.25,
      },
      models: [MODEL],
      load,
      telemetry: { vllmMetricsUrls: [`${engine.url}/metrics`] },
      nostr: { relays: [relay.url], secretKey: sk, urls: ['http://127.0.0.1:8000'], mints: ['http://127.0.0.1:3338'], version: '0.4.5', name: 'Kit Node', about: 'dynamic' },
      tick: { heartbeatS: 0, intervalMs: 0, expirationS: 60 },
      announce: { minIntervalS: 0 },
      log: () => {},
      clock: () => Date.now() + offsetMs,
    });
    const completion = () => maker.current().get(MODEL)!.completion;
    const floor = maker.state().pricing![MODEL]!.low;
    expect(floor).toBe(500_000);
    expect(completion()).toBe(floor);
    expect(maker.state().ticksPublished).toBe(0);

    // One request at half the engine's slots: utilisation rises, the price stays at the floor, no tick.
    generate();
    await engineState(engine, (s) => s.running === 1);
    for (let i = 0; i < 3; i++) await maker.sampleNow();
    expect(maker.state().utilisation!.value).toBeGreaterThanOrEqual(0.5);
    expect(maker.state().reading!.vllm?.running).toBe(1);
    expect(completion()).toBe(floor);
    expect(maker.state().ticksPublished).toBe(0);

    // Six concurrent requests on two slots: four queue, utilisation surges, the price climbs tick by tick.
    for (let i = 0; i < 5; i++) generate();
    await engineState(engine, (s) => s.running === 2 && s.waiting === 4);
    const rising: PriceTick[] = [];
    for (let i = 0; i < 40 && completion() < 2 * floor; i++) {
      const before = maker.state().ticksPublished;
      await maker.sampleNow();
      const s = maker.state();
      if (s.ticksPublished > before) {
        expect(s.lastTick!.reason).toBe('price');
        rising.push(parsePriceTick(await tape.next((e) => e.id === s.lastTick!.id)));
      }
    }
    expect(completion()).toBeGreaterThanOrEqual(2 * floor);
    expect(maker.state().utilisation!.value).toBeGreaterThan(1);
    expect(rising.length).toBeGreaterThanOrEqual(2);
    const risingPrices = rising.map((t) => t.models[0]!.completion);
    expect(risingPrices).toEqual([...risingPrices].sort((a, b) => a - b));
    expect(risingPrices.at(-1)).toBe(completion());
    expect(rising.every((t) => t.load === 1)).toBe(true);
    expect(maker.state().reading!.tokensPerSecond ?? 0).toBeGreaterThan(0);
    // the tick a buyer saw is a quote the node honours
    const quoted = await maker.quote(rising.at(-1)!.id, MODEL);
    expect(quoted.ok && quoted.prices.get(MODEL)?.completion).toBe(completion());

    // Let the surge settle: once a sample moves nothing, the target is within the band and no tick goes out.
    let settled = false;
    for (let i = 0; i < 40 && !settled; i++) {
      const before = maker.state().ticksPublished;
      await maker.sampleNow();
      settled = maker.state().ticksPublished === before;
    }
    expect(settled).toBe(true);
    const held = maker.state();
    const { completion: heldPrice, target } = held.pricing![MODEL]!;
    expect(Math.abs(target - heldPrice)).toBeLessThanOrEqual(0.05 * heldPrice);
    expect(held.reading!.vllm!.running + held.reading!.vllm!.waiting).toBeGreaterThanOrEqual(4);

    // Idle: abort everything; the price steps down to the floor.
    abortAll();
    await engineState(engine, (s) => s.running === 0 && s.waiting === 0);
    for (let i = 0; i < 40 && completion() > floor; i++) await maker.sampleNow();
    expect(completion()).toBe(floor);
    expect(maker.state().utilisation!.value).toBe(0);
    const last = maker.state().lastTick!;
    const lastSeen = parsePriceTick(await tape.next((e) => e.id === last.id));
    expect(lastSeen.models[0]!.completion).toBe(floor);
    expect(lastSeen.load).toBe(0);

    // The announcement's asks follow the board (republished at most once a second: move the clock on).
    offsetMs += 1_000;
    await maker.sampleNow();
    const ask = ['model', MODEL, String(maker.current().get(MODEL)!.prompt), String(floor)];
    expect(maker.announcement()!.tags.find((t) => t[0] === 'model')).toEqual(ask);
    const stored = await pool.querySync([relay.url], { kinds: [38421], authors: [pk] });
    expect(stored.map((e) => e.tags.find((t) => t[0] === 'model'))).toEqual([ask]);

    // Every tick on the relay is one the market maker published on a price move, in seq order.
    const seqs = tape.events.map((e) => parsePriceTick(e).seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(tape.events).toHaveLength(maker.state().ticksPublished);
    tape.close();
  });
});
