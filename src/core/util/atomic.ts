import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { InputError } from '../errors';

/**
 * Writes a file so that readers see either the old content or the new, never a torn file: the
 * bytes go to a temporary file in the same directory (a rename across file systems is not
 * atomic), are flushed to disk, and the temporary file is then renamed over the target.
 */

/** The output cannot be written where the user asked (missing or read-only directory, full disk). */
export class AtomicWriteError extends InputError {
  constructor(message: string, cause: unknown) {
    super(message);
    this.cause = cause;
  }
}

function reason(err: unknown, dir: string): string {
  switch ((err as NodeJS.ErrnoException).code) {
    case 'ENOENT':
      return `directory ${dir} does not exist`;
    case 'ENOTDIR':
      return `${dir} is not a directory`;
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return `directory ${dir} is not writable`;
    case 'EISDIR':
      return 'it is a directory';
    case 'ENOSPC':
      return 'no space left on the device';
    default:
      return (err as Error).message;
  }
}

/**
 * Throws the AtomicWriteError that writeFileAtomic(file) would, for a missing or read-only
 * directory or a directory in the file's place: for commands that work for a while before they
 * write, so that a typo in the output path fails at once.
 */
export function assertWritable(file: string): void {
  const dir = path.dirname(path.resolve(file));
  try {
    if (!fs.statSync(dir).isDirectory()) throw Object.assign(new Error(`${dir} is not a directory`), { code: 'ENOTDIR' });
    fs.accessSync(dir, fs.constants.W_OK);
    if (fs.statSync(file, { throwIfNoEntry: false })?.isDirectory()) throw Object.assign(new Error(`${file} is a directory`), { code: 'EISDIR' });
  } catch (err) {
    throw new AtomicWriteError(`cannot write ${file}: ${reason(err, dir)}`, err);
  }
}

export function writeFileAtomic(file: string, data: Uint8Array | string): void {
  const dir = path.dirname(path.resolve(file));
  const temp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  let fd: number | undefined;
  try {
    fd = fs.openSync(temp, 'wx');
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    for (let done = 0; done < bytes.byteLength; ) done += fs.writeSync(fd, bytes, done, bytes.byteLength - done);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(temp, file);
  } catch (err) {
    if (fd !== undefined) closeQuietly(fd);
    fs.rmSync(temp, { force: true });
    throw new AtomicWriteError(`cannot write ${file}: ${reason(err, dir)}`, err);
  }
  syncDirectory(dir);
}

/** Makes the rename itself durable. Best effort: some platforms cannot open a directory. */
function syncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // The file is already in place; only its survival of a power cut is less certain.
  } finally {
    if (fd !== undefined) closeQuietly(fd);
  }
}

function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // Already failing or done; the original error (or success) is what matters.
  }
}
