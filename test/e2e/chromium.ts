// Test fixture: Debian's headless Chromium, driven by playwright-core. A missing browser is a
// failure with the fix in its message, never a skip: the page's acceptance needs a real browser.
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM_PATH = '/usr/bin/chromium';

/** Launches headless Chromium from /usr/bin/chromium; throws (never skips) when it is not installed. */
export async function launchChromium(executablePath = CHROMIUM_PATH): Promise<Browser> {
  if (!existsSync(executablePath)) {
    throw new Error(`Chromium is not installed at ${executablePath}: run \`apt-get install -y chromium\` as root (.ci/run does when it is missing)`);
  }
  // Chromium's sandbox refuses to run as root (CI containers)
  const args = process.getuid?.() === 0 ? ['--no-sandbox'] : [];
  return chromium.launch({ executablePath, headless: true, args });
}
