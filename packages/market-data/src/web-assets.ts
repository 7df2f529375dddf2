/**
 * The market page's static files, served by the service itself: a fixed table of paths, so a
 * request can name nothing outside it (no path is ever joined from the URL). uPlot comes from
 * the installed `uplot` package, resolved at runtime; nothing is loaded from a CDN.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** A static file as the server sends it. */
export interface WebAsset {
  readonly body: Uint8Array | string;
  readonly contentType: string;
  /** Headers to send with it (Content-Security-Policy, nosniff, caching). */
  readonly headers: Readonly<Record<string, string>>;
}

/**
 * What the page may do: its own scripts, styles and API, nothing else. uPlot styles its elements
 * through the CSSOM (element.style), which style-src does not restrict; no inline script or style.
 */
export const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const HTML = 'text/html; charset=utf-8';
const JS = 'text/javascript; charset=utf-8';
const CSS = 'text/css; charset=utf-8';

// src/ and dist/ both sit one level below the package root, beside web/
const webFile = (name: string) => (): string => fileURLToPath(new URL(`../web/${name}`, import.meta.url));
const uplotFile = (name: string) => (): string => createRequire(import.meta.url).resolve(`uplot/dist/${name}`);

const FILES: ReadonlyMap<string, { file: () => string; contentType: string }> = new Map([
  ['/', { file: webFile('index.html'), contentType: HTML }],
  ['/index.html', { file: webFile('index.html'), contentType: HTML }],
  ['/style.css', { file: webFile('style.css'), contentType: CSS }],
  ['/app.js', { file: webFile('app.js'), contentType: JS }],
  ['/dom.js', { file: webFile('dom.js'), contentType: JS }],
  ['/format.js', { file: webFile('format.js'), contentType: JS }],
  ['/charts.js', { file: webFile('charts.js'), contentType: JS }],
  ['/models-view.js', { file: webFile('models-view.js'), contentType: JS }],
  ['/model-view.js', { file: webFile('model-view.js'), contentType: JS }],
  ['/providers-view.js', { file: webFile('providers-view.js'), contentType: JS }],
  ['/uplot.js', { file: uplotFile('uPlot.esm.js'), contentType: JS }],
  ['/uplot.css', { file: uplotFile('uPlot.min.css'), contentType: CSS }],
]);

/** The page's file at `pathname` (no query), or undefined (404) for anything not in the table. */
export function webAsset(pathname: string): WebAsset | undefined {
  const entry = FILES.get(pathname);
  if (!entry) return undefined;
  return {
    body: readFileSync(entry.file()),
    contentType: entry.contentType,
    headers: {
      'content-security-policy': CONTENT_SECURITY_POLICY,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      // the page is small and changes with the package: always revalidate
      'cache-control': 'no-cache',
    },
  };
}
