// The browser fixture fails, with the fix in its message, where Chromium is not installed: the
// market page's acceptance must not pass by skipping.
import { expect, it } from 'vitest';
import { launchChromium } from './chromium.ts';

it('fails with the install command when chromium is missing, instead of skipping', async () => {
  await expect(launchChromium('/nonexistent/chromium')).rejects.toThrow(/Chromium is not installed at \/nonexistent\/chromium: run `apt-get install -y chromium`/);
});
