/**
 * The Batch API's JSONL: parsing an input file into runnable lines and refused ones (each with a
 * reason, for the error file), and writing output/error files one JSON object per line.
 */

/** A line the node can run. */
export interface BatchFileLine {
  /** 0-based position in the input file. */
  readonly index: number;
  readonly customId: string;
  readonly model: string;
  readonly body: Record<string, unknown>;
}

/** A line refused at validation, with the reason that goes to the error file. */
export interface RefusedLine {
  readonly index: number;
  /** null when the line had no usable custom_id. */
  readonly customId: string | null;
  readonly error: { readonly code: string; readonly message: string };
}

export interface ParsedBatchFile {
  readonly lines: BatchFileLine[];
  readonly refused: RefusedLine[];
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Splits an input file into lines to run and refused lines. `endpoint` is the batch's
 * (`/v1/chat/completions`); `knownModel` says whether the node serves a model.
 * A duplicate custom_id is refused (the first occurrence runs): outputs are matched by custom_id.
 */
export function parseBatchFile(text: string, endpoint: string, knownModel: (id: string) => boolean): ParsedBatchFile {
  const lines: BatchFileLine[] = [];
  const refused: RefusedLine[] = [];
  const seen = new Set<string>();
  const raw = text.split(/\r?\n/);
  let index = 0;
  for (let n = 0; n < raw.length; n++) {
    const source = (raw[n] ?? '').trim();
    if (source === '') continue; // blank lines (a trailing newline) are not requests
    const lineNo = n + 1;
    const at = index++;
    const refuse = (customId: string | null, code: string, message: string): void => {
      refused.push({ index: at, customId, error: { code, message: `Line ${lineNo}: ${message}` } });
    };
    let parsed: unknown;
    try {
      parsed = JSON.parse(source) as unknown;
    } catch {
      refuse(null, 'invalid_json', 'not valid JSON');
      continue;
    }
    if (!isObject(parsed)) {
      refuse(null, 'invalid_request', 'a request line must be a JSON object');
      continue;
    }
    const customId = parsed['custom_id'];
    if (typeof customId !== 'string' || customId === '') {
      refuse(null, 'missing_custom_id', 'custom_id is required (a non-empty string)');
      continue;
    }
    if (seen.has(customId)) {
      refuse(customId, 'duplicate_custom_id', `custom_id '${customId}' appears more than once; only its first line runs`);
      continue;
    }
    seen.add(customId);
    if (parsed['method'] !== 'POST') {
      refuse(customId, 'invalid_method', 'method must be "POST"');
      continue;
    }
    if (parsed['url'] !== endpoint) {
      refuse(customId, 'invalid_url', `url must be "${endpoint}" (the batch's endpoint)`);
      continue;
    }
    const body = parsed['body'];
    if (!isObject(body)) {
      refuse(customId, 'invalid_body', 'body must be a JSON object');
      continue;
    }
    const model = body['model'];
    if (typeof model !== 'string' || model === '') {
      refuse(customId, 'missing_model', 'body.model is required');
      continue;
    }
    if (!knownModel(model)) {
      refuse(customId, 'model_not_found', `model '${model}' is not served by this node`);
      continue;
    }
    if (body['stream'] === true) {
      refuse(customId, 'stream_unsupported', 'stream is not supported in a batch');
      continue;
    }
    lines.push({ index: at, customId, model, body });
  }
  return { lines, refused };
}

/** JSONL text of `objects` (one per line, newline-terminated). */
export function toJsonl(objects: readonly unknown[]): string {
  return objects.map((o) => `${JSON.stringify(o)}\n`).join('');
}
