// The official MCP SDK client spawns the server the way a host does (command, args, env from argv[2]),
// lists the tools and calls get_market_price once the model is in the server's book.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';

const { command, args, env, model } = JSON.parse(process.argv[2]);
const transport = new StdioClientTransport({ command, args, env: { ...process.env, ...env }, stderr: 'inherit' });
const client = new Client({ name: 'packed-install-test', version: '1.0.0' });
await client.connect(transport);
try {
  const tools = (await client.listTools()).tools.map((t) => t.name);
  // The server's book fills as announcements arrive: ask again at each update of this model's book.
  const book = `market://book/${encodeURIComponent(model)}`;
  let bookChanged = () => {};
  client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
    if (n.params.uri === book) bookChanged();
  });
  await client.subscribeResource({ uri: book });
  let price;
  for (let attempt = 0; attempt < 20; attempt++) {
    const changed = new Promise((resolve) => (bookChanged = resolve));
    price = await client.callTool({ name: 'get_market_price', arguments: { model, input_tokens: 100, output_tokens: 10 } });
    if (!price.isError) break;
    await changed;
  }
  console.log(JSON.stringify({ tools, price: price.structuredContent ?? null, isError: price.isError ?? false }));
} finally {
  await client.close();
}
