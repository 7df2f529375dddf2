/**
 * Test support (not exported): signed announcements and ticks for market tests, and a publisher
 * that waits for the relay's OK.
 */
import { getPublicKey } from 'nostr-tools/pure';
import WebSocket from 'ws';
import { msatPerMtok } from '../money/index.ts';
import { buildAnnouncement, buildPriceTick, type NostrEvent } from '../protocol/index.ts';

export const nowS = (): number => Math.floor(Date.now() / 1000);

/** The market's id of the provider `sk` announces under `d`. */
export const address = (sk: Uint8Array, d = 'node'): string => `38421:${getPublicKey(sk)}:${d}`;

/** A signed 38421 for `url` with optional asks (msat/Mtok). */
export function announce(sk: Uint8Array, url: string, extra: { d?: string; asks?: { model: string; prompt: number; completion: number }[]; createdAt?: number } = {}): NostrEvent {
  return buildAnnouncement(
    {
      d: extra.d ?? 'node',
      urls: [url],
      mints: ['https://mint.minibits.cash/Bitcoin'],
      version: '0.4.5',
      name: 'ARoutstrNode',
      about: 'A Routstr Node',
      asks: (extra.asks ?? []).map((a) => ({ model: a.model, prompt: msatPerMtok(a.prompt), completion: msatPerMtok(a.completion) })),
      createdAt: extra.createdAt ?? nowS(),
    },
    sk,
  );
}

/** A signed 28421 for gpt-4o-mini. */
export function tick(sk: Uint8Array, url: string, seq: number, prompt: number, completion: number, expiration = nowS() + 60): NostrEvent {
  return buildPriceTick(
    { d: 'node', url, expiration, seq, load: 0.5, models: [{ model: 'gpt-4o-mini', prompt: msatPerMtok(prompt), completion: msatPerMtok(completion) }] },
    sk,
  );
}

/** Publishes on the relay and waits for its OK. */
export async function publish(relayUrl: string, events: NostrEvent[]): Promise<void> {
  const ws = new WebSocket(relayUrl);
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  for (const event of events) {
    const ok = new Promise<unknown[]>((resolve) => {
      const onMessage = (data: Buffer) => {
        const msg = JSON.parse(String(data)) as unknown[];
        if (msg[0] === 'OK' && msg[1] === event.id) {
          ws.off('message', onMessage);
          resolve(msg);
        }
      };
      ws.on('message', onMessage);
    });
    ws.send(JSON.stringify(['EVENT', event]));
    const answer = await ok;
    if (answer[2] !== true) throw new Error(`relay refused ${event.id}: ${String(answer[3])}`);
  }
  ws.close();
}
