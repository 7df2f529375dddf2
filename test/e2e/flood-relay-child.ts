// Child process for the market-flood test: a devnet relay and the attacker that floods it, so
// the relay's signature checks and the signing run beside the buyer, not on its event loop.
// Prints {"url"} once listening; on a {"op":"flood"} line on stdin it publishes a marker
// announcement, the flood, then a new version of the marker's announcement (with an ask for the
// model "flood-marker"), printing {"oks"} halfway and {"done"}.
import { createInterface } from 'node:readline';
import { generateSecretKey } from 'nostr-tools/pure';
import { finalizeEvent } from 'nostr-tools/wasm';
import WebSocket from 'ws';
import { announcementTemplate, buildPriceTick, loadWasmVerifier, msatPerMtok } from '@routstr-kit/core';
import { startRelay } from '@routstr-kit/devnet';

interface FloodCommand {
  op: 'flood';
  keys: number;
  announcementsPerKey: number;
  target: string;
  markerUrl: string;
  mint: string;
  model: string;
}

const relay = await startRelay();
await loadWasmVerifier(); // also arms nostr-tools' wasm signer
process.stdout.write(`${JSON.stringify({ url: relay.url })}\n`);

/** Every event of the flood, signed, as EVENT messages: per key `announcementsPerKey` cheap announcements and one tick. */
function signFlood(c: FloodCommand): string[] {
  const now = Math.floor(Date.now() / 1000);
  const cheap = [{ model: c.model, prompt: msatPerMtok(1), completion: msatPerMtok(1) }];
  const reference = buildPriceTick({ d: 'x', url: 'http://x', expiration: now + 3600, seq: 1, load: 0, models: cheap, createdAt: now }, generateSecretKey());
  const events: string[] = [];
  for (let k = 0; k < c.keys; k++) {
    const sk = generateSecretKey();
    let pubkey = '';
    for (let d = 0; d < c.announcementsPerKey; d++) {
      const template = announcementTemplate({ d: `d${d}`, urls: [`${c.target}/k${k}d${d}`], mints: [c.mint], version: '0.4.5', name: 'cheap', about: 'fake', asks: cheap, createdAt: now });
      const event = finalizeEvent(template, sk);
      pubkey = event.pubkey;
      events.push(JSON.stringify(['EVENT', event]));
    }
    const tags = reference.tags.map((t) => (t[0] === 'a' ? ['a', `38421:${pubkey}:d0`] : t[0] === 'u' ? ['u', `${c.target}/k${k}d0`] : t));
    events.push(JSON.stringify(['EVENT', finalizeEvent({ kind: reference.kind, created_at: now, tags, content: '' }, sk)]));
  }
  return events;
}

/** Sends `events` in order on one connection without waiting between them; `onOk` sees the running count of OKs. */
async function send(events: string[], onOk: (count: number) => void): Promise<void> {
  const ws = new WebSocket(relay.url);
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  let oks = 0;
  const done = new Promise<void>((resolve) => {
    ws.on('message', (data: Buffer) => {
      if (!String(data).startsWith('["OK"')) return;
      oks += 1;
      onOk(oks);
      if (oks === events.length) resolve();
    });
  });
  for (const e of events) ws.send(e);
  await done;
  ws.close();
}

async function flood(c: FloodCommand): Promise<void> {
  const marker = generateSecretKey();
  const startedAt = Math.floor(Date.now() / 1000);
  const markerVersion = (createdAt: number, asks: { model: string; prompt: ReturnType<typeof msatPerMtok>; completion: ReturnType<typeof msatPerMtok> }[]) =>
    finalizeEvent(announcementTemplate({ d: 'marker', urls: [c.markerUrl], mints: [c.mint], version: '0.4.5', name: 'marker', about: 'end of flood', asks, createdAt }), marker);
  const markerAnnouncement = markerVersion(startedAt - 1, []);
  await send([JSON.stringify(['EVENT', markerAnnouncement])], () => undefined);
  const events = signFlood(c);
  process.stdout.write(`${JSON.stringify({ signed: events.length, marker: `38421:${markerAnnouncement.pubkey}:marker` })}\n`);
  await send(events, (oks) => {
    if (oks === Math.floor(events.length / 2)) process.stdout.write(`${JSON.stringify({ oks })}\n`);
  });
  // after every flood event: the marker's next version, so the buyer knows it has read them all
  const last = markerVersion(Math.max(startedAt, Math.floor(Date.now() / 1000)), [{ model: 'flood-marker', prompt: msatPerMtok(1), completion: msatPerMtok(1) }]);
  await send([JSON.stringify(['EVENT', last])], () => undefined);
  process.stdout.write(`${JSON.stringify({ done: events.length })}\n`);
}

for await (const line of createInterface({ input: process.stdin })) {
  const command = JSON.parse(line) as FloodCommand;
  if (command.op === 'flood') await flood(command);
}
await relay.stop();
