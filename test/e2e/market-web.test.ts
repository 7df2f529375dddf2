// Issue 18, acceptance 2: the market-data service's web page in headless Chromium, on the devnet.
// The page lists the devnet's model with its prices, shows a dynamic node's new price within 1 s
// of its tick without a reload, draws the model's charts, and shows a provider's hostile name as
// text. Screenshots go to test-results/market-web/.
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startMarketDataService, type MarketDataService } from '@routstr-kit/market-data';
import type { RunningProvider } from '@routstr-kit/provider';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import type { Market } from '@routstr-kit/core';
import { launchChromium } from './chromium.ts';
import { startPricedDevnet, type NodeSpec, type PricedDevnet } from '@routstr-kit/devnet/priced-nodes';

const SHOTS = fileURLToPath(new URL('../../test-results/market-web/', import.meta.url));
// announced by a real node on the devnet relay; executed, it would set window.__injected
const HOSTILE_NAME = '<script>window.__injected = 1</script><img src=x onerror="window.__injected = 2">';
const DYNAMIC = { powerWatts: 100, electricityMsatPerKwh: 100_000, tokensPerSecond: 100, margin: 2_500_000_000, alpha: 1, maxStep: 1 };
const BEST_ASK_RGB = [0x5b, 0x3c, 0xc4]; // charts.js BEST_ASK_COLOUR
const DEPTH_RGB = [0x1e, 0x7b, 0x34]; // charts.js DEPTH_COLOUR

const number = (n: number): string => new Intl.NumberFormat('en-US').format(n);

let net: PricedDevnet;
/** A market that has seen every node (provider ids come from it). */
let market: Market;
let service: MarketDataService;
let browser: Browser;
let page: Page;
const pageErrors: string[] = [];

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  browser = await launchChromium();
  net = await startPricedDevnet();
  for (const spec of [
    // the fixed node asks far above the dynamic one: the dynamic node's price is the best ask
    { name: HOSTILE_NAME, price: { prompt: 30_000_000_000, completion: 150_000_000_000 } },
    { name: 'dynamic', dynamic: DYNAMIC },
  ] satisfies NodeSpec[]) await net.startNode(spec);
  market = await net.openMarket();
  service = await startMarketDataService({ relays: [net.devnet.relayUrl], store: ':memory:', providerAddresses: 'loopback' });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on('pageerror', (error) => pageErrors.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error') pageErrors.push(message.text());
  });
});

// a CSP violation or a script error fails the test it happened in
afterEach(() => {
  expect(pageErrors.splice(0)).toEqual([]);
});

afterAll(async () => {
  await browser?.close();
  await service?.close();
  await net?.stop();
});

/** The models-table cell of `field` for the devnet's model. */
const cell = (field: string) => page.locator(`#models tr[data-model="${net.model}"] td[data-field="${field}"]`);

/** How many pixels of the canvases inside `selector` are (about) the colour `rgb`. */
function pixelsOf(selector: string, rgb: number[]): Promise<number> {
  return page.locator(`${selector} canvas`).evaluateAll((canvases, [r, g, b]) => {
    let count = 0;
    for (const canvas of canvases) {
      const data: Uint8ClampedArray = canvas.getContext('2d')?.getImageData(0, 0, canvas.width, canvas.height).data ?? new Uint8ClampedArray();
      for (let i = 0; i < data.length; i += 4) {
        if (Math.abs(data[i]! - r!) < 24 && Math.abs(data[i + 1]! - g!) < 24 && Math.abs(data[i + 2]! - b!) < 24 && data[i + 3]! > 200) count += 1;
      }
    }
    return count;
  }, rgb);
}

/** Runs an expression in the page (the test's TypeScript has no DOM types). */
const inPage = <T>(expression: string): Promise<T> => page.evaluate(expression) as Promise<T>;

it('lists the devnet model with its best ask and both providers', async () => {
  const dynamic = net.providers.get('dynamic') as RunningProvider;
  const idle = dynamic.board.current().get(net.model);
  expect(idle).toBeDefined();
  const response = await page.goto(service.url);
  expect(response?.headers()['content-type']).toBe('text/html; charset=utf-8');
  expect(response?.headers()['content-security-policy']).toMatch(/^default-src 'none'; script-src 'self';/);
  await page.locator('#live[data-state="open"]').waitFor();
  await page.locator(`#models tr[data-model="${net.model}"]`).waitFor();
  await expect.poll(() => cell('providers').textContent()).toBe('2');
  await expect.poll(() => page.locator('#providers tbody tr').count(), { timeout: 10_000 }).toBe(2);
  expect(await cell('model').textContent()).toBe(net.model);
  expect(await cell('prompt').textContent()).toBe(number(idle!.prompt));
  expect(await cell('completion').textContent()).toBe(number(idle!.completion));
  const typicalSat = Math.ceil((1000 * idle!.prompt + 500 * idle!.completion) / 1_000_000 / 1000);
  expect(await cell('typical').textContent()).toBe(`${number(typicalSat)} sat`);
  expect(await cell('median').textContent()).toMatch(/^[\d,]+ sat$/);
  expect(await cell('spread').textContent()).toMatch(/^[\d,]+ msat$/);
  await page.screenshot({ path: `${SHOTS}models.png`, fullPage: true });

  // the filter hides models whose id does not contain its text
  const row = page.locator(`#models tr[data-model="${net.model}"]`);
  await page.locator('#models-filter').fill('no-such-model');
  expect(await row.isHidden()).toBe(true);
  await page.locator('#models-filter').fill(net.model.slice(0, 4).toUpperCase());
  expect(await row.isVisible()).toBe(true);
  await page.locator('#models-filter').fill('');
});

it("shows the dynamic node's new price within 1 s of its tick, without a reload", async () => {
  const dynamic = net.providers.get('dynamic') as RunningProvider;
  const idle = dynamic.board.current().get(net.model)!;
  await inPage('window.__sameDocument = true');
  // load the dynamic node: with a paid stream in flight, its next sample raises the price and ticks
  const res = await fetch(`${dynamic.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${await depositToken()}` },
    body: JSON.stringify({ model: net.model, messages: [{ role: 'user', content: 'keep me busy' }], max_tokens: 100, stream: true }),
  });
  expect(res.status).toBe(200);
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  await reader.read(); // in flight now
  const state = await dynamic.marketMaker!.sampleNow(); // resolves once the tick is on the relay
  const busy = dynamic.board.current().get(net.model)!;
  // the acceptance: the new price is on the page within 1 s of the tick's publication
  // (a locator wait: waitForFunction's string form evaluates code, which the page's CSP forbids)
  const newPrice = new RegExp(`^${number(busy.completion)}$`); // digits and commas only
  await page.locator(`#models tr[data-model="${net.model}"] td[data-field="completion"]`, { hasText: newPrice }).waitFor({ timeout: 1000 });
  await reader.cancel();
  expect(busy.completion).toBeGreaterThan(idle.completion);
  expect(state.lastTick?.reason).toBe('price');
  expect(await cell('prompt').textContent()).toBe(number(busy.prompt));
  expect(await inPage('window.__sameDocument')).toBe(true);
  await page.screenshot({ path: `${SHOTS}models-after-tick.png`, fullPage: true });
});

it("draws the model's price history and depth charts", async () => {
  await page.locator(`#models tr[data-model="${net.model}"] td[data-field="model"] a`).click();
  await page.locator('#model-view').waitFor({ state: 'visible' });
  expect(await page.locator('#model-title').textContent()).toBe(net.model);
  await page.locator('#range').selectOption('900000');
  await page.locator('#interval').selectOption('1s');
  // history fills in second by second: wait until the best-ask line is drawn
  await page.locator('#history-chart canvas').first().waitFor();
  await expect.poll(() => pixelsOf('#history-chart', BEST_ASK_RGB), { timeout: 15_000 }).toBeGreaterThan(30);
  await expect.poll(() => pixelsOf('#depth-chart', DEPTH_RGB)).toBeGreaterThan(30);
  await expect.poll(() => page.locator('#book tbody tr').count()).toBe(2);
  await page.screenshot({ path: `${SHOTS}model.png`, fullPage: true });

  // the open book follows the market: idle again, the dynamic node's next sample lowers its price
  const dynamic = net.providers.get('dynamic') as RunningProvider;
  const busy = dynamic.board.current().get(net.model)!;
  await dynamic.marketMaker!.sampleNow();
  const after = dynamic.board.current().get(net.model)!;
  expect(after.completion).toBeLessThan(busy.completion);
  await page.locator('#book tbody tr', { hasText: 'dynamic' }).filter({ hasText: number(after.completion) }).waitFor({ timeout: 5000 });
  await page.locator('#ticks tbody tr', { hasText: number(after.completion) }).first().waitFor({ timeout: 5000 });

  // zoom: a drag across the chart narrows its time axis and redraws; a double-click resets it
  const chart = page.locator('#history-chart');
  const drawing = () => chart.locator('canvas').evaluate((canvas) => canvas.toDataURL() as string);
  const before = await drawing();
  const box = (await chart.locator('.u-over').boundingBox())!;
  await page.mouse.move(box.x + box.width * 0.4, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.7, box.y + box.height / 2, { steps: 5 });
  await page.mouse.up();
  expect(await chart.getAttribute('data-zoomed')).toBe('true');
  expect(await drawing()).not.toBe(before);
  await page.screenshot({ path: `${SHOTS}model-zoomed.png`, fullPage: true });
  await chart.locator('.u-over').dblclick();
  expect(await chart.getAttribute('data-zoomed')).toBe('false');

  // a narrower window narrows the charts
  const wide = (await chart.locator('canvas').boundingBox())!.width;
  await page.setViewportSize({ width: 900, height: 900 });
  await expect.poll(async () => (await chart.locator('canvas').boundingBox())!.width).toBeLessThan(wide);
  await page.setViewportSize({ width: 1280, height: 900 });
});

it('shows a provider name containing <script> as text', async () => {
  // on the model page's book, and in the providers table
  await expect.poll(() => page.locator('#book td.name', { hasText: '<script>' }).count()).toBe(1);
  expect(await page.locator('#book td.name', { hasText: '<script>' }).textContent()).toBe(HOSTILE_NAME);
  await inPage("location.hash = '#/'");
  await page.locator('#providers-view').waitFor({ state: 'visible' });
  const named = page.locator('#providers td.name', { hasText: '<script>' });
  await expect.poll(() => named.count()).toBe(1);
  expect(await named.textContent()).toBe(HOSTILE_NAME);
  expect(await page.locator('main script, main img').count()).toBe(0);
  expect(await inPage('window.__injected')).toBeUndefined();
  await page.screenshot({ path: `${SHOTS}providers.png`, fullPage: true });
});

/** A Cashu token that opens a key at the node (the load is paid like any other request). */
async function depositToken(): Promise<string> {
  const { wallet } = await net.newWallet(300, { name: 'loader' });
  return (await wallet.send(200 as Parameters<typeof wallet.send>[0], { purpose: 'load test deposit' })).token;
}
