/**
 * Reading a `POST /v1/files` upload: multipart/form-data (what the openai client sends: a
 * `purpose` field and a `file` part), parsed by the Fetch API's own FormData parser (undici,
 * bundled with Node) rather than a hand-written one; or a raw JSONL body with `?purpose=batch`.
 */
import type { IncomingMessage } from 'node:http';
import { BatchError } from './batch-error.ts';

/** An uploaded file. */
export interface Upload {
  readonly filename: string;
  readonly purpose: string;
  readonly content: Buffer;
}

/** Reads the request body, at most `limitBytes`. */
async function readBody(req: IncomingMessage, limitBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limitBytes) throw new BatchError('invalid_file', `The file is larger than ${limitBytes} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** The upload in a `POST /v1/files` request (multipart, or raw JSONL with `?purpose=`). */
export async function readUpload(req: IncomingMessage, url: URL, limitBytes: number): Promise<Upload> {
  const contentType = req.headers['content-type'] ?? '';
  const body = await readBody(req, limitBytes);
  if (/^multipart\/form-data/i.test(contentType)) {
    let form: FormData;
    try {
      form = await new Response(new Uint8Array(body), { headers: { 'content-type': contentType } }).formData();
    } catch {
      throw new BatchError('invalid_file', 'The multipart/form-data body could not be parsed');
    }
    const purpose = form.get('purpose');
    const file = form.get('file');
    if (typeof purpose !== 'string' || purpose === '') throw new BatchError('invalid_purpose', "The 'purpose' field is required");
    if (file === null || typeof file === 'string') throw new BatchError('invalid_file', "The 'file' part is required");
    return { filename: file.name || 'upload.jsonl', purpose, content: Buffer.from(await file.arrayBuffer()) };
  }
  const purpose = url.searchParams.get('purpose');
  if (!purpose) throw new BatchError('invalid_purpose', "Send multipart/form-data with 'purpose' and 'file', or raw JSONL with ?purpose=batch");
  return { filename: url.searchParams.get('filename') ?? 'upload.jsonl', purpose, content: body };
}
