// The floor of any paying node on this machine: a bare pass-through HTTP proxy in its own process
// (node:http, keep-alive to the upstream, no parsing, no payment). The payment benches measure it
// beside the node (`proxy-*` series), so what the node adds can be told from what any extra hop adds.
// Usage: node bare-proxy-child.ts '"<upstream url>"'. Prints one JSON line `{ url }` once listening;
// SIGTERM stops it.
import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';

const upstream = new URL(JSON.parse(process.argv[2] ?? '""') as string);
const agent = new Agent({ keepAlive: true });
const server = createServer((req, res) => {
  const out = request(
    { host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, agent, headers: { ...req.headers, host: upstream.host } },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    },
  );
  out.on('error', () => {
    if (!res.headersSent) res.writeHead(502);
    res.end();
  });
  req.pipe(out);
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })}\n`));
process.on('SIGTERM', () => {
  server.close();
  agent.destroy();
  process.exit(0);
});
