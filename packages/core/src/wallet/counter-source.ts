import type { CounterRange, CounterSource } from '@cashu/cashu-ts';
import type { WalletStore } from './store.ts';

/**
 * NUT-13 counters kept in the wallet store. Each reservation is its own committed
 * BEGIN IMMEDIATE transaction, so two processes on one file never derive the same secrets,
 * and a restart never reuses a counter the mint has already signed.
 */
export class StoreCounterSource implements CounterSource {
  private readonly store: WalletStore;

  constructor(store: WalletStore) {
    this.store = store;
  }

  async reserve(keysetId: string, n: number): Promise<CounterRange> {
    const start = this.store.reserveCounters(keysetId, n);
    return { start, count: n };
  }

  async reserveAt(keysetId: string, start: number, count: number): Promise<CounterRange> {
    this.store.reserveCountersAt(keysetId, start, count);
    return { start, count };
  }

  async advanceToAtLeast(keysetId: string, minNext: number): Promise<void> {
    this.store.advanceCounter(keysetId, minNext);
  }

  async snapshot(): Promise<Record<string, number>> {
    return this.store.counterSnapshot();
  }

  async setNext(keysetId: string, next: number): Promise<void> {
    this.store.tx(() => this.store.setCounterNext(keysetId, next));
  }
}
