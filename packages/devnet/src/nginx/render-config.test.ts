// The fixture's template step on the repo's deploy/nginx/routstr-kit.conf: only the upstream servers and the listen line change.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { NGINX_CONFIG_PATH, renderNginxConfig } from './index.ts';

const file = readFileSync(NGINX_CONFIG_PATH, 'utf8');

describe('renderNginxConfig', () => {
  it('replaces the upstream servers (keeping their parameters) and the listen lines, and nothing else', () => {
    const out = renderNginxConfig(file, { upstreams: ['127.0.0.1:5001', '127.0.0.1:5002', '127.0.0.1:5003'], listen: '127.0.0.1:9000' });
    const code = (text: string): string[] => text.split('\n').map((l) => l.replace(/#.*$/, '').trim()).filter((l) => l !== '');
    expect(code(out).filter((l) => /^server [^{]/.test(l))).toEqual([
      'server 127.0.0.1:5001 max_fails=1 fail_timeout=10s;',
      'server 127.0.0.1:5002 max_fails=1 fail_timeout=10s;',
      'server 127.0.0.1:5003 max_fails=1 fail_timeout=10s;',
    ]);
    // the processes share their books (one database): any request to any process, the least busy first
    expect(code(out)).toContain('least_conn;');
    expect(code(out).some((l) => l.startsWith('hash '))).toBe(false);
    expect(code(out).filter((l) => l.startsWith('listen '))).toEqual(['listen 127.0.0.1:9000;']);
    const untouched = (l: string): boolean => !/^(server [^{]|listen )/.test(l);
    expect(code(out).filter(untouched)).toEqual(code(file).filter(untouched));
    expect(out).toContain('#     listen 443 ssl;'); // the commented TLS block stays as it is
  });

  it('refuses a file it cannot template, and an empty upstream list', () => {
    expect(() => renderNginxConfig('server { listen 80; }', { upstreams: ['a:1'], listen: 'b:2' })).toThrow(/upstream routstr_nodes/);
    expect(() => renderNginxConfig('upstream routstr_nodes {\n  server a:1;\n}\n', { upstreams: ['a:1'], listen: 'b:2' })).toThrow(/no listen line/);
    expect(() => renderNginxConfig('upstream routstr_nodes {\n}\nserver {\n listen 80;\n}\n', { upstreams: ['a:1'], listen: 'b:2' })).toThrow(/no server line/);
    expect(() => renderNginxConfig(file, { upstreams: [], listen: 'b:2' })).toThrow(/at least one upstream/);
  });
});
