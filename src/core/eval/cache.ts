import { createHash, randomBytes } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

/**
 * An on-disk cache of image embeddings, so that evaluating the same model on the same images
 * again skips decoding and inference. An entry is keyed by the model key (the model's bytes, how
 * images are fed to it and whether flip TTA is on) and the image file's content hash, so a
 * renamed file still hits and a changed file or model never does.
 *
 * Layout: `<root>/<modelKey>/<ab>/<imageHash>.emb`. An entry is a small binary file: magic,
 * float count, the float32 values, and a sha256 of what precedes it. An entry that is short,
 * garbled, of the wrong size or fails its checksum is treated as absent and rewritten.
 * Writes go to a temporary file renamed over the entry, so a reader never sees a torn entry;
 * they are not fsynced (a cache entry lost in a power cut is just recomputed).
 */

const MAGIC = Buffer.from('AFEMB001', 'ascii');
const HEADER_BYTES = MAGIC.length + 4;
const CHECKSUM_BYTES = 32;
/** Bump when the meaning of an entry changes (preprocessing, flip combination), to orphan old ones. */
const FORMAT_VERSION = 1;

export function defaultCacheDir(): string {
  return path.join(os.homedir(), '.cache', 'arcface');
}

/** Expands a leading `~` (configs are written by hand), and resolves the rest. */
export function expandHome(dir: string): string {
  if (dir === '~') return os.homedir();
  if (dir.startsWith('~/')) return path.join(os.homedir(), dir.slice(2));
  return path.resolve(dir);
}

export interface ModelKeyParts {
  modelSha256: string;
  /** Everything that changes the embedding of a given image: input spec, flip, resize rule. */
  preprocessing: unknown;
}

export function modelKey(parts: ModelKeyParts): string {
  const text = JSON.stringify({ version: FORMAT_VERSION, model: parts.modelSha256, preprocessing: parts.preprocessing });
  return createHash('sha256').update(text).digest('hex').slice(0, 32);
}

export function contentHash(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function encodeEntry(embedding: Float32Array): Buffer {
  const body = Buffer.alloc(HEADER_BYTES + embedding.byteLength);
  MAGIC.copy(body, 0);
  body.writeUInt32LE(embedding.length, MAGIC.length);
  Buffer.from(embedding.buffer, embedding.byteOffset, embedding.byteLength).copy(body, HEADER_BYTES);
  return Buffer.concat([body, createHash('sha256').update(body).digest()]);
}

/** The embedding stored in `bytes`, or undefined when the entry is not intact. */
export function decodeEntry(bytes: Buffer, expectedSize?: number): Float32Array | undefined {
  if (bytes.length < HEADER_BYTES + CHECKSUM_BYTES || !bytes.subarray(0, MAGIC.length).equals(MAGIC)) return undefined;
  const count = bytes.readUInt32LE(MAGIC.length);
  if (bytes.length !== HEADER_BYTES + count * 4 + CHECKSUM_BYTES) return undefined;
  if (expectedSize !== undefined && count !== expectedSize) return undefined;
  const body = bytes.subarray(0, bytes.length - CHECKSUM_BYTES);
  if (!createHash('sha256').update(body).digest().equals(bytes.subarray(body.length))) return undefined;
  // Copy: the Buffer's offset into its pool need not be 4-byte aligned.
  const values = new Float32Array(count);
  Buffer.from(values.buffer).set(body.subarray(HEADER_BYTES));
  return values.every(Number.isFinite) ? values : undefined;
}

export interface CacheStats {
  hits: number;
  misses: number;
  /** Entries found damaged (and rewritten). */
  corrupt: number;
  /** Writes that failed (the cache then stops writing; the evaluation goes on). */
  writeErrors: number;
}

export class EmbeddingCache {
  readonly stats: CacheStats = { hits: 0, misses: 0, corrupt: 0, writeErrors: 0 };
  /** The first write error, for a note in the report. */
  writeError?: string;
  private readonly dir: string;

  constructor(
    readonly root: string,
    readonly key: string,
    /** Entries of another size are treated as damaged. */
    public expectedSize?: number,
  ) {
    this.dir = path.join(root, key);
  }

  entryPath(imageHash: string): string {
    return path.join(this.dir, imageHash.slice(0, 2), `${imageHash}.emb`);
  }

  get(imageHash: string): Float32Array | undefined {
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(this.entryPath(imageHash));
    } catch {
      this.stats.misses++;
      return undefined;
    }
    const embedding = decodeEntry(bytes, this.expectedSize);
    if (embedding === undefined) {
      this.stats.corrupt++;
      this.stats.misses++;
      return undefined;
    }
    this.stats.hits++;
    return embedding;
  }

  put(imageHash: string, embedding: Float32Array): void {
    if (this.writeError !== undefined) return;
    const file = this.entryPath(imageHash);
    const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(temp, encodeEntry(embedding), { flag: 'wx' });
      fs.renameSync(temp, file);
    } catch (err) {
      removeQuietly(temp);
      this.stats.writeErrors++;
      this.writeError = `embedding cache ${this.root} is not writable (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); continuing without caching`;
    }
  }
}

function removeQuietly(file: string): void {
  try {
    fs.rmSync(file, { force: true });
  } catch {
    // The folder itself may be what failed; there is then nothing to remove.
  }
}
