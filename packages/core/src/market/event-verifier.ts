/**
 * Event verification with nostr-tools' wasm verifier (nostr-wasm, several times faster than the
 * pure one). The wasm module is compiled once per process and handed to nostr-tools; that is
 * the only module-level state in the market, and it holds no market data.
 */
import { getEventHash } from 'nostr-tools/pure';
import { setNostrWasm, verifyEvent as wasmVerifyEvent } from 'nostr-tools/wasm';
import { initNostrWasm } from 'nostr-wasm';
import type { NostrEvent } from '../protocol/index.ts';

/** Checks id and signature of an event whose shape is already known to be right. */
export type EventVerifier = (event: NostrEvent) => boolean;

let loading: Promise<EventVerifier> | undefined;

/** The wasm verifier, compiled on first use. */
export function loadWasmVerifier(): Promise<EventVerifier> {
  loading ??= initNostrWasm().then((nw) => {
    setNostrWasm(nw);
    return (event: NostrEvent) => wasmVerifyEvent(event);
  });
  return loading;
}

/** Why an event failed verification: its id does not hash its content (`tampered`), or the signature is bad (`forged`). */
export function classifyUnverified(event: NostrEvent): 'tampered' | 'forged' {
  try {
    return getEventHash(event) === event.id ? 'forged' : 'tampered';
  } catch {
    return 'tampered';
  }
}
