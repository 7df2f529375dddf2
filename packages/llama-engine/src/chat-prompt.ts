// The tiny model's chat format. The Jinja template is stored in the GGUF (tokenizer.chat_template) so other
// tools see the same format; renderChatPrompt is the engine's byte-exact TypeScript rendering of it.

/** Jinja chat template stored in the generated GGUF; renderChatPrompt renders exactly this. */
export const TINY_CHAT_TEMPLATE =
  "{{ bos_token }}{% if tools %}<|tools|>\n{{ tools | tojson }}{{ eos_token }}\n{% endif %}" +
  "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}{{ eos_token }}\n{% endfor %}" +
  "{% if add_generation_prompt %}<|assistant|>\n{% endif %}";

export const BOS_TEXT = '<s>';
export const EOS_TEXT = '</s>';

/** A chat message after request parsing: content already flattened to text. */
export interface PromptMessage {
  role: string;
  content: string;
}

/** Renders messages (and tool definitions) into the prompt text the model evaluates. */
export function renderChatPrompt(messages: readonly PromptMessage[], tools?: readonly unknown[]): string {
  let out = BOS_TEXT;
  if (tools && tools.length > 0) out += `<|tools|>\n${JSON.stringify(tools)}${EOS_TEXT}\n`;
  for (const m of messages) out += `<|${m.role}|>\n${m.content}${EOS_TEXT}\n`;
  return out + '<|assistant|>\n';
}
