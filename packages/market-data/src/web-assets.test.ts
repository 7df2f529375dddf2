// The page's static files: a fixed table, so no request path reaches a file outside it.
import { expect, it } from 'vitest';
import { CONTENT_SECURITY_POLICY, webAsset } from './web-assets.ts';

const text = (body: Uint8Array | string): string => (typeof body === 'string' ? body : new TextDecoder().decode(body));

it('serves the page, its modules and uPlot from the installed package, with their content types', () => {
  const page = webAsset('/');
  expect(page?.contentType).toBe('text/html; charset=utf-8');
  expect(text(page!.body)).toContain('<script type="module" src="/app.js"></script>');
  // every module the page imports is in the table, as JavaScript
  const modules = ['/app.js', '/dom.js', '/format.js', '/charts.js', '/models-view.js', '/model-view.js', '/providers-view.js', '/uplot.js'];
  for (const path of modules) expect(webAsset(path)?.contentType, path).toBe('text/javascript; charset=utf-8');
  const imports = modules.flatMap((path) => [...text(webAsset(path)!.body).matchAll(/^import .* from '\.(\/[\w.-]+)';$/gm)].map((m) => m[1]!));
  expect(imports).toEqual(expect.arrayContaining(['/dom.js', '/model-view.js', '/charts.js', '/uplot.js']));
  for (const imported of imports) expect(webAsset(imported), imported).toBeDefined();
  expect(text(webAsset('/uplot.js')!.body)).toContain('export { uPlot as default }');
  expect(webAsset('/uplot.css')?.contentType).toBe('text/css; charset=utf-8');
  expect(webAsset('/style.css')?.contentType).toBe('text/css; charset=utf-8');
});

it('sends a strict Content-Security-Policy and nosniff with every file', () => {
  for (const path of ['/', '/app.js', '/uplot.js', '/style.css']) {
    expect(webAsset(path)?.headers).toMatchObject({ 'content-security-policy': CONTENT_SECURITY_POLICY, 'x-content-type-options': 'nosniff' });
  }
  expect(CONTENT_SECURITY_POLICY).toMatch(/default-src 'none'/);
  expect(CONTENT_SECURITY_POLICY).toMatch(/script-src 'self';/);
  expect(CONTENT_SECURITY_POLICY).not.toMatch(/unsafe/);
});

it('answers nothing for paths outside its table: traversal, encoded dots, the package, the web folder', () => {
  const outside = [
    '/../package.json',
    '/..%2fpackage.json',
    '/%2e%2e/package.json',
    '/web/app.js',
    '/app.js/..',
    '/./app.js',
    '//app.js',
    '/APP.JS',
    '/src/web-assets.ts',
    '/node_modules/uplot/package.json',
    '/app.js?x=1',
    '',
    '/etc/passwd',
  ];
  for (const path of outside) expect(webAsset(path), path).toBeUndefined();
});
