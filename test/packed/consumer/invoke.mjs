// ESM, as a LangChain user writes it: ChatRoutstr.invoke; prints the answer and the receipt.
import { readFileSync } from 'node:fs';
import { ChatRoutstr } from '@routstr-kit/langchain';

const { settings, model } = JSON.parse(readFileSync(new URL('./settings.json', import.meta.url), 'utf8'));
const chat = new ChatRoutstr({ ...settings, model, maxTokens: 4 });
try {
  const message = await chat.invoke('Say hi');
  console.log(JSON.stringify({ text: message.content, receipt: message.response_metadata?.routstr ?? null }));
} finally {
  await chat.close();
}
