import { readFileSync } from 'node:fs';
import { finalizeEvent, generateSecretKey, getPublicKey, type Event } from 'nostr-tools';
import { buildAnnouncement, buildPriceTick, msatPerMtok } from '@routstr-kit/core';

const fixtures = new URL('../../../fixtures/routstr/', import.meta.url);
const INFO = readFileSync(new URL('v1_info_constructed.json', fixtures), 'utf8');
const MODELS = readFileSync(new URL('v1_models_constructed.json', fixtures), 'utf8');

/** The model id in the recorded `/v1/models` body. */
export const RECORDED_MODEL = (JSON.parse(MODELS) as { data: { id: string }[] }).data[0]!.id;

/** A `fetch` that answers every provider probe with the recorded bodies, without a network hop. */
export const recordedProbeFetch: typeof fetch = async (input) => {
  const url = String(input instanceof Request ? input.url : input);
  const body = url.endsWith('/v1/info') ? INFO : url.endsWith('/v1/models') ? MODELS : null;
  return body === null ? new Response('{}', { status: 404 }) : new Response(body, { headers: { 'content-type': 'application/json' } });
};

export interface SyntheticProvider {
  secretKey: Uint8Array;
  pubkey: string;
  d: string;
  url: string;
}

/** `count` providers with keys, d-tags and distinct loopback URLs. */
export function syntheticProviders(count: number): SyntheticProvider[] {
  return Array.from({ length: count }, (_, i) => {
    const secretKey = generateSecretKey();
    return { secretKey, pubkey: getPublicKey(secretKey), d: `bench-${i}`, url: `http://127.0.0.1:${20000 + i}` };
  });
}

/** A signed announcement with one ask for the recorded model. */
export function announcementOf(p: SyntheticProvider, prompt: number, completion: number): Event {
  return buildAnnouncement(
    { d: p.d, urls: [p.url], mints: ['http://127.0.0.1:1'], version: '0.1.0', name: p.d, about: 'bench', asks: [{ model: RECORDED_MODEL, prompt: msatPerMtok(prompt), completion: msatPerMtok(completion) }] },
    p.secretKey,
  ) as Event;
}

/** A signed price tick; JSON round-tripped so nostr-tools' cached verdict does not ride along. */
export function tickOf(p: SyntheticProvider, seq: number, prompt: number, completion: number, expiresInS = 120): Event {
  const tick = buildPriceTick(
    {
      d: p.d,
      url: p.url,
      expiration: Math.floor(Date.now() / 1000) + expiresInS,
      seq,
      load: (seq % 100) / 100,
      models: [{ model: RECORDED_MODEL, prompt: msatPerMtok(prompt), completion: msatPerMtok(completion) }],
    },
    p.secretKey,
  );
  return JSON.parse(JSON.stringify(tick)) as Event;
}

export { finalizeEvent };
