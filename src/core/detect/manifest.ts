/**
 * detect-align's manifest: a JSONL file with one line per processed image, appended as each image
 * finishes, so that a crash loses at most the line being written and a second run can skip what
 * is done. Lines are read back tolerantly: a torn or foreign line is ignored, and for a source
 * listed more than once the last line wins.
 */
import * as fs from 'fs';
import { InputError } from '../errors';

export type ImageStatus = 'ok' | 'no-face' | 'error';

/**
 * Why an image failed: the image decoder's reasons (unreadable, not-an-image, corrupt,
 * too-large), 'unwritable' when its output could not be written, 'failed' for anything else.
 */
export type FailureReason = 'unreadable' | 'not-an-image' | 'corrupt' | 'too-large' | 'unwritable' | 'failed';

export interface FaceRecord {
  score: number;
  /** [x1, y1, x2, y2], inclusive pixel corners in the source image (after EXIF rotation). */
  box: [number, number, number, number];
  /** Five [x, y] points: eyes, nose, mouth corners, as seen in the image. */
  landmarks: [number, number][];
  /** The aligned crop, relative to the output folder; null when it was not written. */
  output: string | null;
}

export interface ManifestRecord {
  /** The image, relative to the input root (a folder, the single image's folder, or the list's common folder). */
  source: string;
  status: ImageStatus;
  /** Faces written (all, or the largest with --largest). */
  faces: FaceRecord[];
  /** Size after EXIF rotation, when the image could be decoded. */
  width?: number;
  height?: number;
  error?: { reason: FailureReason; message: string };
  /** Notes that did not stop the image, e.g. contents that do not match the extension. */
  warnings?: string[];
  /** Fingerprint of the settings that produced the line: a resumed run redoes images done differently. */
  settings: string;
}

function isRecord(value: unknown): value is ManifestRecord {
  const r = value as ManifestRecord;
  return typeof r === 'object' && r !== null && typeof r.source === 'string' && ['ok', 'no-face', 'error'].includes(r.status) && Array.isArray(r.faces) && typeof r.settings === 'string';
}

/** The last record per source in an existing manifest; empty when there is none. */
export function readManifest(file: string): Map<string, ManifestRecord> {
  const records = new Map<string, ManifestRecord>();
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return records;
    throw new InputError(`${file}: cannot read the manifest (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      continue; // a line torn by a crash; its image is simply done again
    }
    if (isRecord(value)) records.set(value.source, value);
  }
  return records;
}

/**
 * Whether a previous line means the image needs no more work: same settings, and either no face
 * or every output still on disk. Failed images are always tried again.
 */
export function isDone(record: ManifestRecord | undefined, settings: string, outputExists: (relative: string) => boolean): boolean {
  if (record === undefined || record.settings !== settings) return false;
  if (record.status === 'no-face') return true;
  return record.status === 'ok' && record.faces.every((f) => f.output !== null && outputExists(f.output));
}

/** How often appended lines are flushed to disk (they are written to the file at once regardless). */
const SYNC_INTERVAL_MS = 2000;

/** Appends records, one write per line. */
export class ManifestWriter {
  private lastSync = Date.now();

  private constructor(
    readonly file: string,
    private fd: number | undefined,
  ) {}

  /** Opens for appending; a file whose last line was torn gets a newline first, so the next record starts clean. */
  static open(file: string): ManifestWriter {
    let fd: number;
    try {
      fd = fs.openSync(file, 'a+');
      const size = fs.fstatSync(fd).size;
      if (size > 0) {
        const last = Buffer.alloc(1);
        fs.readSync(fd, last, 0, 1, size - 1);
        if (last[0] !== 0x0a) fs.writeSync(fd, '\n');
      }
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'EACCES' || code === 'EPERM' || code === 'EROFS' ? 'not writable' : code === 'ENOTDIR' ? 'a path component is not a directory' : code === 'EISDIR' ? 'is a directory' : (code ?? String(err));
      throw new InputError(`${file}: cannot write the manifest (${why})`);
    }
    return new ManifestWriter(file, fd);
  }

  append(record: ManifestRecord): void {
    if (this.fd === undefined) throw new Error(`${this.file}: manifest already closed`);
    fs.writeSync(this.fd, `${JSON.stringify(record)}\n`);
    if (Date.now() - this.lastSync >= SYNC_INTERVAL_MS) {
      fs.fdatasyncSync(this.fd);
      this.lastSync = Date.now();
    }
  }

  close(): void {
    if (this.fd === undefined) return;
    fs.fdatasyncSync(this.fd);
    fs.closeSync(this.fd);
    this.fd = undefined;
  }
}
