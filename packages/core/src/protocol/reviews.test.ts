import { describe, expect, it } from 'vitest';
import { finalizeEvent, generateSecretKey } from 'nostr-tools';
import { ProtocolError, parseRecommendation, parseReview, reviewSentiment } from './index.ts';

const sk = generateSecretKey();
const sign = (kind: number, tags: string[][], content = '') => JSON.parse(JSON.stringify(finalizeEvent({ kind, created_at: 1_800_000_000, tags, content }, sk))) as unknown;
const node = 'e9eb22e388c21141da191c0ebd2d0ea679d3fc09ddca438fa8095d05d5552c94';

describe('kind 38425 reviews (parse only)', () => {
  it('reads the first t label lower-cased and every node', () => {
    const r = parseReview(sign(38425, [['d', node], ['t', 'LGTM'], ['t', 'avoid'], ['node', node], ['node', 'b'.repeat(64)]]));
    expect(r).toMatchObject({ label: 'lgtm', sentiment: 'positive', nodes: [node, 'b'.repeat(64)] });
  });

  it('classifies labels like the SDK', () => {
    expect(['trusted', 'verified', 'lgtm', 'lgtm2'].map(reviewSentiment)).toEqual(Array(4).fill('positive'));
    expect(['suspicious', 'avoid', 'blacklisted', 'removed'].map(reviewSentiment)).toEqual(Array(4).fill('negative'));
    expect(reviewSentiment('meh')).toBe('neutral');
    expect(reviewSentiment(undefined)).toBe('neutral');
  });

  it('rejects a review naming no node, or another kind', () => {
    expect(() => parseReview(sign(38425, [['t', 'lgtm']]))).toThrow(ProtocolError);
    expect(() => parseReview(sign(38421, [['t', 'lgtm'], ['node', node]]))).toThrow(ProtocolError);
  });
});

describe('kind 38000 recommendations (parse only)', () => {
  it('reads k, d, u and a addresses with relays', () => {
    const r = parseRecommendation(sign(38000, [['k', '38421'], ['d', 'my-list'], ['u', 'https://p.example'], ['a', `38421:${node}:e9eb22e388c2`, 'wss://relay.routstr.com']], 'good node'));
    expect(r).toMatchObject({ k: '38421', d: 'my-list', urls: ['https://p.example'], content: 'good node' });
    expect(r.addresses).toEqual([{ kind: 38421, pubkey: node, d: 'e9eb22e388c2', relay: 'wss://relay.routstr.com' }]);
  });

  it('names a malformed address tag', () => {
    try {
      parseRecommendation(sign(38000, [['k', '38421'], ['a', 'nonsense']]));
      throw new Error('expected a ProtocolError');
    } catch (e) {
      expect(e).toBeInstanceOf(ProtocolError);
      expect((e as ProtocolError).field).toBe('tags.1.1');
    }
  });
});
