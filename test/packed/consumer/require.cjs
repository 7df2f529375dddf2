// CommonJS: require() of the ESM-only packages (Node's require(esm)), then a paid generateText.
const { readFileSync } = require('node:fs');
const { join } = require('node:path');
const { createRoutstr } = require('@routstr-kit/ai-sdk');
const { generateText } = require('ai');

globalThis.AI_SDK_LOG_WARNINGS = false;
const { settings, model } = JSON.parse(readFileSync(join(__dirname, 'settings.json'), 'utf8'));

async function main() {
  const routstr = createRoutstr(settings);
  try {
    const result = await generateText({ model: routstr(model), prompt: 'Say hi', maxOutputTokens: 4 });
    console.log(JSON.stringify({ text: result.text, receipt: result.providerMetadata && result.providerMetadata.routstr ? result.providerMetadata.routstr : null }));
  } finally {
    await routstr.close();
  }
}
main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
