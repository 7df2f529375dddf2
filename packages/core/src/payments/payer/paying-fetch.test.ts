import { describe, expect, it } from 'vitest';
import { paidRoute } from './paying-fetch.ts';
import { retryAfterMs } from './refund-route.ts';

describe('paidRoute', () => {
  it('pays for chat, completions and embeddings under any base, and nothing else', () => {
    expect(paidRoute('http://routstr.invalid/v1/chat/completions')).toBe('v1/chat/completions');
    expect(paidRoute('http://x/api/v1/completions')).toBe('v1/completions');
    expect(paidRoute('http://x/embeddings')).toBe('v1/embeddings');
    expect(paidRoute('http://x/v1/models')).toBeUndefined();
    expect(paidRoute('http://x/v1/wallet/refund')).toBeUndefined();
  });
});

describe('retryAfterMs', () => {
  it('reads delta-seconds and HTTP dates', () => {
    expect(retryAfterMs('2')).toBe(2000);
    expect(retryAfterMs('0.5')).toBe(500);
    expect(retryAfterMs(new Date(10_000).toUTCString(), 7_000)).toBe(3000);
    expect(retryAfterMs(null)).toBeUndefined();
    expect(retryAfterMs('soon')).toBeUndefined();
  });
});
