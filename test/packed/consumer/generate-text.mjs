// ESM, as an AI SDK user writes it: createRoutstr + generateText; prints the answer and the receipt.
import { readFileSync } from 'node:fs';
import { generateText } from 'ai';
import { createRoutstr } from '@routstr-kit/ai-sdk';

globalThis.AI_SDK_LOG_WARNINGS = false;
const { settings, model } = JSON.parse(readFileSync(new URL('./settings.json', import.meta.url), 'utf8'));
const routstr = createRoutstr(settings);
try {
  const result = await generateText({ model: routstr(model), prompt: 'Say hi', maxOutputTokens: 4 });
  console.log(JSON.stringify({ text: result.text, receipt: result.providerMetadata?.routstr ?? null }));
} finally {
  await routstr.close();
}
