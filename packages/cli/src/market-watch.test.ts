// The watch keeps what the view needs from untrusted relay input within fixed caps.
import type { PriceTick } from '@routstr-kit/core';
import { expect, it } from 'vitest';
import { MarketWatch } from './market-watch.ts';

const tick = (address: string, models: string[], load: number): PriceTick =>
  ({ address, load, models: models.map((model) => ({ model, prompt: 1, completion: 2 })) }) as unknown as PriceTick;

it('stays bounded under a flood of providers, model names and ticks, keeping the newest', () => {
  const watch = new MarketWatch({ maxModels: 10, maxProviders: 5, ticksPerModel: 3, sparkPoints: 4 });
  for (let i = 0; i < 1_000; i++) watch.recordTick(tick(`p${i}`, [`m${i}`, 'shared'], (i % 100) / 100), i, (m) => m);
  expect(watch.loadOf('p0')).toBeUndefined();
  expect(watch.loadOf('p999')).toEqual({ load: 0.99, at: 999 });
  expect(watch.ticks('m0')).toEqual([]);
  expect(watch.ticks('shared').map((t) => t.provider)).toEqual(['p999', 'p998', 'p997']);
  expect(watch.lastTickAt('m999')).toBe(999);
  for (let i = 0; i < 100; i++) watch.recordBest('shared', 1_000 + i);
  watch.recordBest('shared', 1_099); // unchanged: no new point
  expect(watch.spark('shared')).toEqual([1_096, 1_097, 1_098, 1_099]);
  for (let i = 0; i < 50; i++) watch.recordBest(`flood-${i}`, i);
  expect(watch.spark('shared')).toEqual([]);
  expect(watch.spark('flood-49')).toEqual([49]);
});
