// Turns OpenAI-style JSON Schemas into bounded node-llama-cpp grammars. Random weights never "decide" to close a
// string or array, so every open-ended part gets a bound; output that satisfies the bounded schema also satisfies
// the original one (bounds only shrink the set of allowed values), except for keywords GBNF cannot express
// (pattern, minimum/maximum, …), which are dropped.
import type { GbnfJsonSchema, Llama, LlamaGrammar } from 'node-llama-cpp';

/** Longest string the grammar lets the model write when the schema sets no tighter maxLength. */
export const DEFAULT_MAX_STRING_LENGTH = 16;
/** Most array items the grammar allows when the schema sets no tighter maxItems. */
export const DEFAULT_MAX_ITEMS = 3;
const MAX_DEPTH = 6;

type JsonSchema = Record<string, unknown>;

const isRecord = (v: unknown): v is JsonSchema => typeof v === 'object' && v !== null && !Array.isArray(v);

const scalarAny = (): GbnfJsonSchema => ({
  oneOf: [{ type: 'string', maxLength: DEFAULT_MAX_STRING_LENGTH }, { type: 'number' }, { type: 'boolean' }, { type: 'null' }],
});

/** Keys a record may use freely: no propertyNames, or plain strings (no pattern/enum/length rules to honour). */
function isPlainKeys(names: unknown): boolean {
  return names === undefined || (isRecord(names) && Object.keys(names).every((k) => k === 'type') && names['type'] === 'string');
}

/** Maps a JSON Schema to a bounded GbnfJsonSchema whose every output validates against the input schema. */
export function boundJsonSchema(schema: unknown, defs: JsonSchema = {}, depth = 0): GbnfJsonSchema {
  if (schema === true || schema === undefined || (isRecord(schema) && Object.keys(schema).length === 0)) return scalarAny();
  if (!isRecord(schema)) return scalarAny();
  const localDefs = { ...defs, ...(isRecord(schema['$defs']) ? schema['$defs'] : {}), ...(isRecord(schema['definitions']) ? schema['definitions'] : {}) };
  if (depth > MAX_DEPTH) return { type: 'null' };
  const ref = schema['$ref'];
  if (typeof ref === 'string') {
    const name = ref.replace(/^#\/(\$defs|definitions)\//, '');
    // Inline refs (depth-limited) instead of GBNF rules: recursive schemas then bottom out instead of nesting forever.
    return boundJsonSchema(localDefs[name], localDefs, depth + 1);
  }
  if ('const' in schema) return { const: schema['const'] as string | number | boolean | null };
  if (Array.isArray(schema['enum'])) return { enum: schema['enum'] as (string | number | boolean | null)[] };
  const variants = (schema['anyOf'] ?? schema['oneOf']) as unknown;
  if (Array.isArray(variants) && variants.length > 0) return { oneOf: variants.map((v) => boundJsonSchema(v, localDefs, depth + 1)) };
  if (Array.isArray(schema['allOf']) && schema['allOf'].length === 1) return boundJsonSchema(schema['allOf'][0], localDefs, depth);
  const type = schema['type'];
  if (Array.isArray(type)) {
    return { oneOf: type.map((t) => boundJsonSchema({ ...schema, type: t }, localDefs, depth)) };
  }
  switch (type) {
    case 'string': {
      const format = schema['format'];
      if (format === 'date-time' || format === 'date' || format === 'time') return { type: 'string', format };
      const minLength = typeof schema['minLength'] === 'number' ? schema['minLength'] : 0;
      const maxLength = Math.min(
        typeof schema['maxLength'] === 'number' ? schema['maxLength'] : Number.POSITIVE_INFINITY,
        Math.max(minLength, DEFAULT_MAX_STRING_LENGTH),
      );
      return { type: 'string', minLength, maxLength };
    }
    case 'number':
    case 'integer':
    case 'boolean':
    case 'null':
      return { type };
    case 'array': {
      const minItems = typeof schema['minItems'] === 'number' ? schema['minItems'] : 0;
      const maxItems = Math.min(
        typeof schema['maxItems'] === 'number' ? schema['maxItems'] : Number.POSITIVE_INFINITY,
        Math.max(minItems, DEFAULT_MAX_ITEMS),
      );
      const out: { type: 'array'; items: GbnfJsonSchema; minItems: number; maxItems: number; prefixItems?: GbnfJsonSchema[] } = {
        type: 'array',
        items: boundJsonSchema(schema['items'], localDefs, depth + 1),
        minItems,
        maxItems,
      };
      if (Array.isArray(schema['prefixItems'])) out.prefixItems = schema['prefixItems'].map((s) => boundJsonSchema(s, localDefs, depth + 1));
      return out;
    }
    case 'object':
    default: {
      const props = isRecord(schema['properties']) ? schema['properties'] : {};
      const properties: Record<string, GbnfJsonSchema> = {};
      for (const [key, value] of Object.entries(props)) properties[key] = boundJsonSchema(value, localDefs, depth + 1);
      const extra = schema['additionalProperties'];
      if (Object.keys(properties).length === 0 && isRecord(extra) && isPlainKeys(schema['propertyNames'])) {
        // A record (`z.record(z.string(), …)`): a few free keys (bounded in withBoundedKeys) with values of its schema.
        const minProperties = typeof schema['minProperties'] === 'number' ? schema['minProperties'] : 0;
        const maxProperties = Math.min(
          typeof schema['maxProperties'] === 'number' ? schema['maxProperties'] : Number.POSITIVE_INFINITY,
          Math.max(minProperties, DEFAULT_MAX_ITEMS),
        );
        return { type: 'object', additionalProperties: boundJsonSchema(extra, localDefs, depth + 1), minProperties, maxProperties };
      }
      // The grammar writes every listed property and no others: that satisfies `required` and any additionalProperties.
      return { type: 'object', properties };
    }
  }
}

// GBNF for `response_format: {type: "json_object"}`: any flat object with short keys and short scalar values.
const JSON_OBJECT_GBNF = String.raw`root ::= "{" ws ( pair ( "," ws pair ){0,3} )? ws "}"
pair ::= key ws ":" ws value
key ::= "\"" [a-zA-Z_] [a-zA-Z0-9_]{0,11} "\""
value ::= string | number | "true" | "false" | "null"
string ::= "\"" char{0,16} "\""
char ::= [^"\\\x7F\x00-\x1F] | "\\" ["\\/bfnrt]
number ::= "-"? ("0" | [1-9] [0-9]{0,8}) ("." [0-9]{1,6})?
ws ::= [ ]?`;

/** node-llama-cpp appends trailing-newline padding to JSON grammars; without it the grammar forces EOS right after the JSON. */
function withoutTrailingPadding(grammarText: string): string {
  return grammarText.replace(/^(root ::= .*?)\s*"(?:\\n)+"\s*\[\\n\]\*\s*$/m, '$1');
}

/** Numbers without exponents and with at most 9 integer digits: `1e999…` would parse to Infinity (and re-serialize as null). */
function withFiniteNumbers(grammarText: string): string {
  return grammarText.replaceAll(' ([eE] [-+]? ("0" | [1-9] [0-9]{0,15}))?', '').replaceAll('[1-9] [0-9]{0,15}', '[1-9] [0-9]{0,8}');
}

/** Record keys are the only unbounded strings left (values get maxLength in boundJsonSchema): bound them too. */
function withBoundedKeys(grammarText: string): string {
  return grammarText.replace(/^(string-rule ::= "\\"" string-char-rule)\* /m, `$1{1,${DEFAULT_MAX_STRING_LENGTH}} `);
}

/** GBNF text (with a `root` rule) for a JSON value valid against `schema` (bounded, see boundJsonSchema). */
export async function createJsonSchemaGrammarText(llama: Llama, schema: unknown): Promise<string> {
  const bounded = boundJsonSchema(schema);
  const generated = await llama.createGrammarForJsonSchema(bounded as never);
  return withBoundedKeys(withFiniteNumbers(withoutTrailingPadding(generated.grammar)));
}

/** Creates a grammar that forces a JSON value valid against `schema` (bounded, see boundJsonSchema). */
export async function createJsonSchemaGrammar(llama: Llama, schema: unknown): Promise<LlamaGrammar> {
  return llama.createGrammar({ grammar: await createJsonSchemaGrammarText(llama, schema) });
}

/** Creates a grammar for `json_object` mode: a small flat JSON object. */
export async function createJsonObjectGrammar(llama: Llama): Promise<LlamaGrammar> {
  return llama.createGrammar({ grammar: JSON_OBJECT_GBNF });
}
