// ChatRoutstr's default structured output: `response_format: {type: "json_schema"}` carrying a plain JSON Schema.
// ChatOpenAI hands a zod schema to the openai SDK's strict-mode helper, which refuses what OpenAI's strict mode
// cannot express (`z.record`, …) before any request; open-model servers (vLLM guided decoding, Ollama `format`,
// llama.cpp grammars) take any JSON Schema, so the schema goes as JSON and the answer is checked here with zod.
import type { BaseLanguageModelInput, StructuredOutputMethodOptions } from '@langchain/core/language_models/base';
import { assembleStructuredOutputPipeline, createContentParser } from '@langchain/core/language_models/structured_output';
import type { BaseMessage } from '@langchain/core/messages';
import type { Runnable } from '@langchain/core/runnables';
import { toJsonSchema } from '@langchain/core/utils/json_schema';
import type { InteropZodType } from '@langchain/core/utils/types';
import type { ChatOpenAICallOptions } from '@langchain/openai';

/** How the model binds call options (its `withConfig`). */
export type BindOptions = (options: Partial<ChatOpenAICallOptions> & Record<string, unknown>) => Runnable<BaseLanguageModelInput, BaseMessage>;

/** The `jsonSchema` structured-output pipeline: bind the response_format, parse the content against the schema. */
export function jsonSchemaStructuredOutput<RunOutput extends Record<string, any>>(
  bind: BindOptions,
  schema: InteropZodType<RunOutput> | Record<string, any>,
  config: StructuredOutputMethodOptions<boolean> | undefined,
): Runnable<BaseLanguageModelInput, RunOutput> | Runnable<BaseLanguageModelInput, { raw: BaseMessage; parsed: RunOutput }> {
  const asJsonSchema = toJsonSchema(schema as Parameters<typeof toJsonSchema>[0]) as Record<string, unknown>;
  const name = config?.name ?? (typeof asJsonSchema['title'] === 'string' ? asJsonSchema['title'] : 'extract');
  const description = typeof asJsonSchema['description'] === 'string' ? asJsonSchema['description'] : undefined;
  const llm = bind({
    outputVersion: 'v0',
    response_format: { type: 'json_schema', json_schema: { name, ...(description ? { description } : {}), schema: asJsonSchema } },
    ls_structured_output_format: { kwargs: { method: 'jsonSchema' }, schema: { title: name, ...(description ? { description } : {}), ...asJsonSchema } },
  } as Partial<ChatOpenAICallOptions> & Record<string, unknown>);
  // zod (v3 or v4) validates; a plain JSON Schema is parsed as JSON (LangChain does not validate those either)
  const parser = createContentParser<RunOutput>(schema);
  return assembleStructuredOutputPipeline<RunOutput>(llm, parser, config?.includeRaw === true, 'StructuredOutput');
}
