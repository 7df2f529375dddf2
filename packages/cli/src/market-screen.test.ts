// The text of the market screens: numbers, ages, sparklines, and untrusted provider strings that
// must not reach the terminal as control sequences.
import { describe, expect, it } from 'vitest';
import type { ModelBook } from './market-rows.ts';
import { age, bookLines, compact, grouped, printable, sparkline } from './market-screen.ts';

describe('market screen text', () => {
  it('formats prices compactly and sats grouped', () => {
    expect([compact(950), compact(9_999), compact(12_345), compact(1_500_000), compact(300_000_000), compact(1_250_000_000)]).toEqual(['950', '9999', '12.3k', '1.5M', '300M', '1.25G']);
    expect([grouped(938), grouped(3_750), grouped(1_234_567)]).toEqual(['938', '3 750', '1 234 567']);
  });

  it('shows tick ages in s, m, h and "-" for never', () => {
    expect([age(null, 0), age(0, 999), age(0, 59_000), age(0, 61_000), age(0, 7_200_000), age(10, 0)]).toEqual(['-', '0s', '59s', '1m', '2h', '0s']);
  });

  it('scales the sparkline between the minimum and the maximum, and keeps the last 16 points', () => {
    expect(sparkline([])).toBe('');
    expect(sparkline([5, 5])).toBe('▁▁');
    expect(sparkline([1, 8, 4.5])).toBe('▁█▅');
    expect([...sparkline(Array.from({ length: 30 }, (_, i) => i))]).toHaveLength(16);
  });

  it('strips control characters from provider-supplied names and URLs (a name cannot clear the screen or retitle the terminal)', () => {
    expect(printable('evil\x1b[2J\x1b]0;pwned\x07\r\nname\u009b31m')).toBe('evil[2J]0;pwnedname31m');
    const book: ModelBook = {
      model: 'm\x1b[2J',
      asks: [
        { provider: '38421:ab:d', pubkey: 'ab', name: '<script>\x1b[31m', url: 'http://x/\x1b[H', promptMsatPerMtok: 1, completionMsatPerMtok: 2, typicalRequestMsat: 2, typicalRequestSat: 1, source: 'tick', load: 0.5, latencyMs: 12, updatedAt: 0 },
      ],
      ticks: [],
    };
    const text = bookLines(book, { relays: 1, now: 0, sort: 'price' }).join('\n');
    expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
    expect(text).toContain('<script>[31m');
    expect(text).toContain('50%');
    expect(text).toContain('12ms');
  });
});
