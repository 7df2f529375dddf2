// Regression: the payer kept every receipt it ever wrote (`#receipts` grew without bound);
// `receipts()` is now a window of the most recent ones.
import { describe, expect, it } from 'vitest';
import { RECENT_RECEIPTS, RecentReceipts } from './receipt-book.ts';
import type { Receipt } from './receipt.ts';

const receipt = (n: number): Receipt => ({ requestId: `r${n}` }) as Receipt;

describe('RecentReceipts', () => {
  it('keeps the last `capacity` receipts, oldest first, however many are added', () => {
    const recent = new RecentReceipts(3);
    expect(recent.list()).toEqual([]);
    for (let i = 1; i <= 2; i++) recent.add(receipt(i));
    expect(recent.list().map((r) => r.requestId)).toEqual(['r1', 'r2']);
    for (let i = 3; i <= 10; i++) recent.add(receipt(i));
    expect(recent.list().map((r) => r.requestId)).toEqual(['r8', 'r9', 'r10']);
  });

  it('defaults to RECENT_RECEIPTS (1 000)', () => {
    const recent = new RecentReceipts();
    for (let i = 0; i < RECENT_RECEIPTS + 250; i++) recent.add(receipt(i));
    const list = recent.list();
    expect(list).toHaveLength(RECENT_RECEIPTS);
    expect(list[0]?.requestId).toBe('r250');
    expect(list.at(-1)?.requestId).toBe(`r${RECENT_RECEIPTS + 249}`);
  });
});
