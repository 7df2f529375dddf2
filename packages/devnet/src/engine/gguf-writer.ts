// A minimal GGUF v3 encoder: enough to write a llama-architecture model with F32 tensors.
// Layout (ggml/docs/gguf.md): header, metadata KVs, tensor infos, padding, aligned tensor data.

/** A typed GGUF metadata value; arrays hold one element type. */
export type GgufValue =
  | { type: 'u32'; value: number }
  | { type: 'i32'; value: number }
  | { type: 'f32'; value: number }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | { type: 'string[]'; value: readonly string[] }
  | { type: 'f32[]'; value: readonly number[] }
  | { type: 'i32[]'; value: readonly number[] };

/** An F32 tensor; `dims` in ggml order (ne0 first, the fastest-varying dimension). */
export interface GgufTensor {
  name: string;
  dims: readonly number[];
  data: Float32Array;
}

const GGUF_MAGIC = 0x46554747; // "GGUF" little-endian
const GGUF_VERSION = 3;
const ALIGNMENT = 32;
const TYPE = { u32: 4, i32: 5, f32: 6, bool: 7, string: 8, array: 9 } as const;
const GGML_TYPE_F32 = 0;

/** Grows a byte buffer with little-endian writes. */
class ByteSink {
  private chunks: Buffer[] = [];
  length = 0;

  private push(buf: Buffer): void {
    this.chunks.push(buf);
    this.length += buf.length;
  }
  u32(n: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(n);
    this.push(b);
  }
  i32(n: number): void {
    const b = Buffer.alloc(4);
    b.writeInt32LE(n);
    this.push(b);
  }
  u64(n: number): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(n));
    this.push(b);
  }
  f32(n: number): void {
    const b = Buffer.alloc(4);
    b.writeFloatLE(n);
    this.push(b);
  }
  u8(n: number): void {
    this.push(Buffer.from([n]));
  }
  string(s: string): void {
    const b = Buffer.from(s, 'utf8');
    this.u64(b.length);
    this.push(b);
  }
  bytes(b: Buffer): void {
    this.push(b);
  }
  padTo(alignment: number): void {
    const pad = (alignment - (this.length % alignment)) % alignment;
    if (pad > 0) this.push(Buffer.alloc(pad));
  }
  toBuffer(): Buffer {
    return Buffer.concat(this.chunks, this.length);
  }
}

function writeValue(sink: ByteSink, v: GgufValue): void {
  switch (v.type) {
    case 'u32':
      sink.u32(TYPE.u32);
      sink.u32(v.value);
      return;
    case 'i32':
      sink.u32(TYPE.i32);
      sink.i32(v.value);
      return;
    case 'f32':
      sink.u32(TYPE.f32);
      sink.f32(v.value);
      return;
    case 'bool':
      sink.u32(TYPE.bool);
      sink.u8(v.value ? 1 : 0);
      return;
    case 'string':
      sink.u32(TYPE.string);
      sink.string(v.value);
      return;
    case 'string[]':
      sink.u32(TYPE.array);
      sink.u32(TYPE.string);
      sink.u64(v.value.length);
      for (const s of v.value) sink.string(s);
      return;
    case 'f32[]':
      sink.u32(TYPE.array);
      sink.u32(TYPE.f32);
      sink.u64(v.value.length);
      for (const n of v.value) sink.f32(n);
      return;
    case 'i32[]':
      sink.u32(TYPE.array);
      sink.u32(TYPE.i32);
      sink.u64(v.value.length);
      for (const n of v.value) sink.i32(n);
      return;
  }
}

/** Encodes metadata and F32 tensors as GGUF v3 bytes (deterministic: same input, same bytes). */
export function encodeGguf(metadata: ReadonlyArray<readonly [string, GgufValue]>, tensors: readonly GgufTensor[]): Buffer {
  const sink = new ByteSink();
  sink.u32(GGUF_MAGIC);
  sink.u32(GGUF_VERSION);
  sink.u64(tensors.length);
  sink.u64(metadata.length + 1);
  sink.string('general.alignment');
  writeValue(sink, { type: 'u32', value: ALIGNMENT });
  for (const [key, value] of metadata) {
    sink.string(key);
    writeValue(sink, value);
  }
  let offset = 0;
  const offsets: number[] = [];
  for (const t of tensors) {
    const elements = t.dims.reduce((a, b) => a * b, 1);
    if (elements !== t.data.length) throw new Error(`tensor ${t.name}: dims ${t.dims.join('x')} != ${t.data.length} values`);
    offsets.push(offset);
    offset += elements * 4;
    offset += (ALIGNMENT - (offset % ALIGNMENT)) % ALIGNMENT;
  }
  tensors.forEach((t, i) => {
    sink.string(t.name);
    sink.u32(t.dims.length);
    for (const d of t.dims) sink.u64(d);
    sink.u32(GGML_TYPE_F32);
    sink.u64(offsets[i] ?? 0);
  });
  sink.padTo(ALIGNMENT);
  for (const t of tensors) {
    // Copy into a fresh Buffer so the output never depends on the host's typed-array backing store.
    const b = Buffer.alloc(t.data.length * 4);
    for (let i = 0; i < t.data.length; i++) b.writeFloatLE(t.data[i] ?? 0, i * 4);
    sink.bytes(b);
    sink.padTo(ALIGNMENT);
  }
  return sink.toBuffer();
}
