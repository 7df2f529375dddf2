/**
 * The node's Nostr secret key from configuration. A mistyped key must not end up in a terminal or
 * a log: nostr-tools' bech32 errors quote the whole value and the checksum it should have had, so
 * every error here names the setting and the fault, never the value.
 */
import { nip19 } from 'nostr-tools';

/** A secret key setting that cannot be read; the message never contains the value. */
export class InvalidSecretKey extends Error {
  constructor(setting: string, fault: string) {
    super(`${setting} is not a usable Nostr secret key: ${fault}; expected nsec1… or 64 hex characters (the value is not shown)`);
    this.name = 'InvalidSecretKey';
  }
}

/** Decodes an nsec1… or 64-hex secret key; throws InvalidSecretKey (naming `setting`) otherwise. */
export function parseSecretKey(value: string, setting = 'the nsec'): Uint8Array {
  const v = value.trim();
  if (/^[0-9a-fA-F]{64}$/.test(v)) return new Uint8Array(Buffer.from(v, 'hex'));
  if (!v.toLowerCase().startsWith('nsec1')) throw new InvalidSecretKey(setting, 'it is neither nsec1… nor 64 hex characters');
  let decoded: { type: string; data: unknown };
  try {
    decoded = nip19.decode(v);
  } catch {
    throw new InvalidSecretKey(setting, 'it does not decode (a mistyped character fails the bech32 checksum)');
  }
  if (decoded.type !== 'nsec') throw new InvalidSecretKey(setting, `it decodes as ${decoded.type}, not nsec`);
  return decoded.data as Uint8Array;
}
