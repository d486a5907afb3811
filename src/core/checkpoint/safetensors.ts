import { endianness } from 'os';
import { InputError } from '../errors';
import { DType, TensorData, numel, typedArrayFromBytes } from '../graph/types';

/**
 * The safetensors format (huggingface/safetensors), written and read here:
 *
 *   [8 bytes: header length N, unsigned little-endian] [N bytes: JSON header] [data buffer]
 *
 * The header maps each tensor name to {dtype, shape, data_offsets: [begin, end)} (offsets into
 * the data buffer) plus an optional "__metadata__" of string to string. Our writer orders the
 * tensors by element size, largest first, then by name (the reference writer's rule): with the
 * header padded with spaces to a multiple of 8, every tensor then starts at a multiple of its
 * element size, and the same tensors always give the same bytes. The reader accepts any order
 * but insists that the tensors tile the buffer exactly: no gaps, no overlaps, nothing past the end.
 */

/** A file that is not valid safetensors, or tensors that cannot be written as such. */
export class SafetensorsError extends InputError {}

interface DTypeInfo {
  code: string;
  bytes: number;
}

const DTYPES: Record<DType, DTypeInfo> = {
  float32: { code: 'F32', bytes: 4 },
  float16: { code: 'F16', bytes: 2 },
  int64: { code: 'I64', bytes: 8 },
  int32: { code: 'I32', bytes: 4 },
  int8: { code: 'I8', bytes: 1 },
  uint8: { code: 'U8', bytes: 1 },
  bool: { code: 'BOOL', bytes: 1 },
};
const BY_CODE = new Map(Object.entries(DTYPES).map(([dtype, info]) => [info.code, dtype as DType]));

const METADATA_KEY = '__metadata__';
const LENGTH_BYTES = 8;
/** The reference reader's limit; a larger "header" is a corrupt file, not a big model. */
const MAX_HEADER_BYTES = 100_000_000;

export interface SafetensorsContents {
  tensors: Map<string, TensorData>;
  metadata: Record<string, string>;
}

interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

/** Typed arrays are stored in the host's byte order; the format is little-endian. */
function assertLittleEndianHost(): void {
  if (endianness() !== 'LE') throw new SafetensorsError('safetensors needs a little-endian host');
}

function bytesOf(name: string, t: TensorData): Uint8Array {
  const info = DTYPES[t.dtype];
  if (t.data.BYTES_PER_ELEMENT !== info.bytes) {
    throw new SafetensorsError(`tensor ${name}: ${t.dtype} needs ${info.bytes}-byte elements, its data has ${t.data.BYTES_PER_ELEMENT}`);
  }
  if (t.data.length !== numel(t.dims)) throw new SafetensorsError(`tensor ${name}: shape [${t.dims}] needs ${numel(t.dims)} values, its data has ${t.data.length}`);
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

/** Largest element first, then by name: aligned and deterministic. */
function writeOrder(tensors: ReadonlyMap<string, TensorData>): [string, TensorData][] {
  return [...tensors].sort(([a, ta], [b, tb]) => DTYPES[tb.dtype].bytes - DTYPES[ta.dtype].bytes || (a < b ? -1 : a > b ? 1 : 0));
}

export function encodeSafetensors(tensors: ReadonlyMap<string, TensorData>, metadata: Readonly<Record<string, string>> = {}): Buffer {
  assertLittleEndianHost();
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header[METADATA_KEY] = { ...metadata };
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of writeOrder(tensors)) {
    if (name === METADATA_KEY) throw new SafetensorsError(`a tensor cannot be named ${METADATA_KEY}`);
    const bytes = bytesOf(name, t);
    const entry: HeaderEntry = { dtype: DTYPES[t.dtype].code, shape: [...t.dims], data_offsets: [offset, offset + bytes.byteLength] };
    Object.defineProperty(header, name, { value: entry, enumerable: true });
    chunks.push(bytes);
    offset += bytes.byteLength;
  }
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const padded = Math.ceil(json.byteLength / LENGTH_BYTES) * LENGTH_BYTES;
  const prefix = Buffer.alloc(LENGTH_BYTES + padded, 0x20);
  prefix.writeBigUInt64LE(BigInt(padded), 0);
  json.copy(prefix, LENGTH_BYTES);
  return Buffer.concat([prefix, ...chunks]);
}

function isNonNegativeInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Checks one header entry's structure and dtype; returns its dtype. */
function checkEntry(name: string, raw: unknown, fail: (msg: string) => never): { dtype: DType; entry: HeaderEntry } {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(`tensor ${name}: header entry is not an object`);
  const keys = Object.keys(raw).sort().join(',');
  if (keys !== 'data_offsets,dtype,shape') fail(`tensor ${name}: header entry has keys ${keys}, expected data_offsets, dtype, shape`);
  const entry = raw as HeaderEntry;
  const dtype = BY_CODE.get(entry.dtype);
  if (!dtype) fail(`tensor ${name}: dtype ${JSON.stringify(entry.dtype)} is not supported (supported: ${[...BY_CODE.keys()].join(', ')})`);
  if (!Array.isArray(entry.shape) || !entry.shape.every(isNonNegativeInt)) fail(`tensor ${name}: shape ${JSON.stringify(entry.shape)} is not a list of sizes`);
  const off = entry.data_offsets;
  if (!Array.isArray(off) || off.length !== 2 || !off.every(isNonNegativeInt) || off[0] > off[1]) {
    fail(`tensor ${name}: data_offsets ${JSON.stringify(off)} is not [begin, end] with 0 <= begin <= end`);
  }
  const need = numel(entry.shape) * DTYPES[dtype].bytes;
  if (off[1] - off[0] !== need) fail(`tensor ${name}: shape [${entry.shape}] of ${entry.dtype} needs ${need} bytes, data_offsets span ${off[1] - off[0]}`);
  return { dtype, entry };
}

function checkMetadata(raw: unknown, fail: (msg: string) => never): Record<string, string> {
  if (raw === undefined) return {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw) || !Object.values(raw).every((v) => typeof v === 'string')) {
    fail(`${METADATA_KEY} must map strings to strings`);
  }
  return { ...(raw as Record<string, string>) };
}

/** Requires the tensors to tile [0, size) exactly, in offset order. */
function checkTiling(entries: [string, HeaderEntry][], size: number, fail: (msg: string) => never): void {
  const sorted = [...entries].sort(([, a], [, b]) => a.data_offsets[0] - b.data_offsets[0] || a.data_offsets[1] - b.data_offsets[1]);
  let end = 0;
  let previous = '';
  for (const [name, e] of sorted) {
    const [begin, stop] = e.data_offsets;
    if (begin < end) fail(`tensor ${name} (bytes ${begin}..${stop}) overlaps tensor ${previous} (ending at ${end})`);
    if (begin > end) fail(`bytes ${end}..${begin} of the data belong to no tensor (a gap before ${name})`);
    if (stop > size) fail(`tensor ${name} ends at byte ${stop}, past the end of the data (${size} bytes): the file is truncated`);
    end = stop;
    previous = name;
  }
  if (end !== size) fail(`the data has ${size} bytes but the tensors cover only ${end}`);
}

/** Parses and validates a whole file's bytes; `source` names the file in every error. */
export function decodeSafetensors(bytes: Uint8Array, source: string): SafetensorsContents {
  assertLittleEndianHost();
  const fail = (msg: string): never => {
    throw new SafetensorsError(`${source}: ${msg}`);
  };
  if (bytes.byteLength < LENGTH_BYTES) fail(`not a safetensors file: ${bytes.byteLength} bytes, shorter than the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(Math.min(bytes.byteLength - LENGTH_BYTES, MAX_HEADER_BYTES))) {
    fail(`not a safetensors file or truncated: header length ${headerLength} does not fit in ${bytes.byteLength} bytes`);
  }
  const dataStart = LENGTH_BYTES + Number(headerLength);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(LENGTH_BYTES, dataStart)));
  } catch (err) {
    fail(`header is not valid UTF-8 JSON (${(err as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('header is not a JSON object');
  const { [METADATA_KEY]: rawMetadata, ...rawTensors } = header as Record<string, unknown>;
  const metadata = checkMetadata(rawMetadata, fail);
  const checked = Object.entries(rawTensors).map(([name, raw]) => [name, checkEntry(name, raw, fail)] as const);
  checkTiling(
    checked.map(([name, c]) => [name, c.entry]),
    bytes.byteLength - dataStart,
    fail,
  );
  const tensors = new Map<string, TensorData>();
  for (const [name, { dtype, entry }] of checked) {
    const [begin, end] = entry.data_offsets;
    tensors.set(name, { dtype, dims: [...entry.shape], data: typedArrayFromBytes(dtype, bytes.subarray(dataStart + begin, dataStart + end)) });
  }
  return { tensors, metadata };
}
