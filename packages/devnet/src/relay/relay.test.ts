import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { finalizeEvent, generateSecretKey, getPublicKey, type Event, type EventTemplate } from 'nostr-tools';
import { SimplePool, useWebSocketImplementation } from 'nostr-tools/pool';
import { Relay } from 'nostr-tools/relay';
import { startRelay, type RunningRelay } from './index.ts';

useWebSocketImplementation(WebSocket);

const now = () => Math.floor(Date.now() / 1000);

function sign(template: Partial<EventTemplate> & { kind: number }, sk: Uint8Array): Event {
  return finalizeEvent({ created_at: now(), tags: [], content: '', ...template }, sk);
}

/** Publishes over a raw relay connection and returns the relay's OK verdict (accepted, message). */
async function publishRaw(url: string, event: unknown): Promise<{ ok: boolean; message: string }> {
  const ws = new WebSocket(url);
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const verdict = await new Promise<{ ok: boolean; message: string }>((resolve) => {
    ws.on('message', (data) => {
      const msg = JSON.parse(String(data)) as unknown[];
      if (msg[0] === 'OK') resolve({ ok: msg[2] as boolean, message: msg[3] as string });
      if (msg[0] === 'NOTICE') resolve({ ok: false, message: msg[1] as string });
    });
    ws.send(JSON.stringify(['EVENT', event]));
  });
  ws.close();
  return verdict;
}

describe('devnet relay', () => {
  let relay: RunningRelay;
  let pool: SimplePool;
  const sk = generateSecretKey();
  const pk = getPublicKey(sk);

  beforeAll(async () => {
    relay = await startRelay();
    pool = new SimplePool();
  });
  afterAll(async () => {
    pool.destroy();
    await relay.stop();
  });

  it('listens on loopback with a ws:// url', () => {
    expect(relay.url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/);
  });

  it('replaces an addressable 38421 by a newer one with the same d, keeps other d-tags', async () => {
    const older = sign({ kind: 38421, created_at: now() - 10, tags: [['d', 'provider-1'], ['u', 'http://a']], content: 'v1' }, sk);
    const newer = sign({ kind: 38421, tags: [['d', 'provider-1'], ['u', 'http://a']], content: 'v2' }, sk);
    const other = sign({ kind: 38421, tags: [['d', 'provider-2'], ['u', 'http://b']], content: 'other' }, sk);
    await Promise.all(pool.publish([relay.url], older));
    await Promise.all(pool.publish([relay.url], newer));
    await Promise.all(pool.publish([relay.url], other));

    const byD = await pool.querySync([relay.url], { kinds: [38421], authors: [pk], '#d': ['provider-1'] });
    expect(byD.map((e) => e.content)).toEqual(['v2']);
    const all = await pool.querySync([relay.url], { kinds: [38421], authors: [pk] });
    expect(all.map((e) => e.content).sort()).toEqual(['other', 'v2']);
    const superseded = await pool.querySync([relay.url], { ids: [older.id] });
    expect(superseded).toEqual([]);

    // An event older than the stored one for the same address is not stored.
    const stale = sign({ kind: 38421, created_at: now() - 100, tags: [['d', 'provider-1']], content: 'stale' }, sk);
    await Promise.all(pool.publish([relay.url], stale));
    const after = await pool.querySync([relay.url], { kinds: [38421], authors: [pk], '#d': ['provider-1'] });
    expect(after.map((e) => e.content)).toEqual(['v2']);
  });

  it('breaks a created_at tie by the lower id (NIP-01)', async () => {
    const at = now() - 5;
    const a = sign({ kind: 38421, created_at: at, tags: [['d', 'tie']], content: 'a' }, sk);
    const b = sign({ kind: 38421, created_at: at, tags: [['d', 'tie']], content: 'b' }, sk);
    const [low, high] = a.id < b.id ? [a, b] : [b, a];
    await Promise.all(pool.publish([relay.url], high));
    await Promise.all(pool.publish([relay.url], low));
    await Promise.all(pool.publish([relay.url], high));
    const got = await pool.querySync([relay.url], { kinds: [38421], '#d': ['tie'] });
    expect(got.map((e) => e.id)).toEqual([low.id]);
  });

  it('delivers an ephemeral 28421 to a live subscriber and never stores it', async () => {
    const tick = sign({ kind: 28421, tags: [['a', `38421:${pk}:provider-1`], ['seq', '1']], content: '' }, sk);
    const received = new Promise<Event>((resolve) => {
      const sub = pool.subscribe([relay.url], { kinds: [28421], authors: [pk] }, {
        onevent(event) {
          sub.close();
          resolve(event);
        },
        oneose() {
          void Promise.all(pool.publish([relay.url], tick));
        },
      });
    });
    expect((await received).id).toBe(tick.id);
    expect(await pool.querySync([relay.url], { kinds: [28421], authors: [pk] })).toEqual([]);
  });

  it('applies tag filters to live subscriptions too (checked on the raw wire: nostr-tools filters client-side)', async () => {
    const ws = new WebSocket(relay.url);
    await new Promise((resolve) => ws.once('open', resolve));
    const seen: string[] = [];
    const wanted = sign({ kind: 28421, tags: [['a', 'wanted']], content: 'wanted' }, sk);
    const unwanted = sign({ kind: 28421, tags: [['a', 'other']], content: 'other' }, sk);
    await new Promise<void>((resolve) => {
      ws.on('message', (data) => {
        const msg = JSON.parse(String(data)) as [string, string, Event];
        if (msg[0] === 'EOSE') {
          // The unwanted one goes first: if the relay leaked it, it would arrive before `wanted`.
          void Promise.all(pool.publish([relay.url], unwanted)).then(() => Promise.all(pool.publish([relay.url], wanted)));
        }
        if (msg[0] === 'EVENT') {
          seen.push(msg[2].content);
          if (msg[2].content === 'wanted') resolve();
        }
      });
      ws.send(JSON.stringify(['REQ', 'live', { kinds: [28421], '#a': ['wanted'] }]));
    });
    ws.close();
    expect(seen).toEqual(['wanted']);
  });

  it('rejects forged signatures, tampered content and substituted pubkeys, keeping the stored event', async () => {
    const good = sign({ kind: 38421, tags: [['d', 'forgery-target']], content: 'genuine' }, sk);
    await Promise.all(pool.publish([relay.url], good));

    // JSON round-trips: nostr-tools caches a verification verdict on the object itself.
    const forgedSig = { ...JSON.parse(JSON.stringify(sign({ kind: 38421, created_at: now() + 1, tags: [['d', 'forgery-target']], content: 'x' }, sk))) };
    forgedSig.sig = '0'.repeat(128);
    const tampered = JSON.parse(JSON.stringify(sign({ kind: 38421, created_at: now() + 1, tags: [['d', 'forgery-target']], content: 'genuine' }, sk)));
    tampered.content = 'tampered';
    const substituted = JSON.parse(JSON.stringify(sign({ kind: 38421, created_at: now() + 1, tags: [['d', 'forgery-target']], content: 'genuine' }, sk)));
    substituted.pubkey = getPublicKey(generateSecretKey());

    expect(await publishRaw(relay.url, forgedSig)).toEqual({ ok: false, message: 'invalid: signature is wrong' });
    expect(await publishRaw(relay.url, tampered)).toEqual({ ok: false, message: 'invalid: id is wrong' });
    expect(await publishRaw(relay.url, substituted)).toEqual({ ok: false, message: 'invalid: id is wrong' });
    const malformed = await publishRaw(relay.url, { kind: 'nope' });
    expect(malformed.ok).toBe(false);

    const stored = await pool.querySync([relay.url], { kinds: [38421], '#d': ['forgery-target'] });
    expect(stored.map((e) => e.id)).toEqual([good.id]);
    expect(relay.stats().eventsRejected).toBeGreaterThanOrEqual(3);
  });

  it('honours NIP-40: refuses expired events and stops serving events once they expire', async () => {
    const expired = sign({ kind: 1, tags: [['expiration', String(now() - 1)]], content: 'late' }, sk);
    expect((await publishRaw(relay.url, expired)).ok).toBe(false);

    let clock = now();
    const clocked = await startRelay({ now: () => clock });
    const shortLived = sign({ kind: 1, tags: [['expiration', String(clock + 60)]], content: 'short-lived' }, sk);
    await Promise.all(pool.publish([clocked.url], shortLived));
    expect((await pool.querySync([clocked.url], { ids: [shortLived.id] })).length).toBe(1);
    clock += 61;
    expect(await pool.querySync([clocked.url], { ids: [shortLived.id] })).toEqual([]);
    await clocked.stop();
  });

  it('honours NIP-09 deletion of an addressable event by its author only', async () => {
    const ann = sign({ kind: 38421, tags: [['d', 'to-delete']], content: 'doomed' }, sk);
    await Promise.all(pool.publish([relay.url], ann));
    const intruder = generateSecretKey();
    const foreignDeletion = sign({ kind: 5, tags: [['a', `38421:${pk}:to-delete`]], content: '' }, intruder);
    await Promise.all(pool.publish([relay.url], foreignDeletion));
    expect((await pool.querySync([relay.url], { kinds: [38421], '#d': ['to-delete'] })).length).toBe(1);

    const deletion = sign({ kind: 5, tags: [['a', `38421:${pk}:to-delete`]], content: '' }, sk);
    await Promise.all(pool.publish([relay.url], deletion));
    expect(await pool.querySync([relay.url], { kinds: [38421], '#d': ['to-delete'] })).toEqual([]);
  });

  it('works with a second independent client (nostr-tools Relay)', async () => {
    const conn = await Relay.connect(relay.url);
    const ev = sign({ kind: 38421, tags: [['d', 'direct']], content: 'direct' }, sk);
    await conn.publish(ev);
    const got = await pool.querySync([relay.url], { ids: [ev.id] });
    expect(got[0]?.content).toBe('direct');
    conn.close();
  });
});

describe('durable relay', () => {
  it('keeps stored events across a restart on the same file', async () => {
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dbPath = join(mkdtempSync(join(tmpdir(), 'relay-')), 'relay.sqlite');
    const sk = generateSecretKey();
    const ev = sign({ kind: 38421, tags: [['d', 'durable']], content: 'kept' }, sk);

    const first = await startRelay({ dbPath });
    const pool = new SimplePool();
    await Promise.all(pool.publish([first.url], ev));
    pool.destroy();
    await first.stop();

    const second = await startRelay({ dbPath });
    const pool2 = new SimplePool();
    const got = await pool2.querySync([second.url], { kinds: [38421], '#d': ['durable'] });
    pool2.destroy();
    await second.stop();
    expect(got.map((e) => e.id)).toEqual([ev.id]);
  });
});
