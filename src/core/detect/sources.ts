/**
 * What detect-align reads and where each result goes. The input is a folder tree (walked in a
 * stable order; its subfolders, e.g. one per identity, are kept in the output), a single image,
 * or a list file (.txt/.lst/.list, one path per line, relative to the list's folder; '#' starts
 * a comment). Every image gets an output stem: its path under the input root without the
 * extension, so `alice/1.jpg` becomes `alice/1.png` (or `alice/1_0.png`, `alice/1_1.png`, ...).
 */
import * as fs from 'fs';
import * as path from 'path';
import { InputError } from '../errors';

/** Extensions walked in a folder; other files are counted as skipped, not failed. */
export const IMAGE_EXTENSIONS: ReadonlySet<string> = new Set(['jpg', 'jpeg', 'jpe', 'jfif', 'png', 'webp', 'gif', 'tif', 'tiff', 'heic', 'heif', 'avif', 'pgm', 'ppm', 'pnm', 'pbm']);
export const LIST_EXTENSIONS: ReadonlySet<string> = new Set(['txt', 'lst', 'list']);

export type SourceKind = 'folder' | 'image' | 'list';

export interface SourceImage {
  /** Where to read it (as given, joined to the input path). */
  file: string;
  /** Its path under the root, with '/' separators: the manifest's key. */
  relative: string;
  /** Output path under the output folder, without face suffix or extension. */
  stem: string;
}

export interface SourceList {
  kind: SourceKind;
  root: string;
  images: SourceImage[];
  /** Files in the folder tree without an image extension (README, .DS_Store, ...), relative to the root. */
  skipped: string[];
}

function extensionOf(file: string): string {
  return path.extname(file).slice(1).toLowerCase();
}

function toPosix(p: string): string {
  return p.split(path.sep).join('/');
}

/** Files under `dir`, sorted, relative to it; hidden entries and `exclude` (the output folder when nested) are left out. */
function walk(dir: string, exclude: string | undefined): string[] {
  const out: string[] = [];
  const visit = (relative: string): void => {
    const full = path.join(dir, relative);
    if (exclude !== undefined && path.resolve(full) === exclude) return;
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(full, { withFileTypes: true });
    } catch (err) {
      throw new InputError(`${full}: cannot list the folder (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const child = path.join(relative, e.name);
      const isDir = e.isDirectory() || (e.isSymbolicLink() && isDirectory(path.join(dir, child)));
      if (isDir) visit(child);
      else out.push(child);
    }
  };
  visit('');
  return out;
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** The deepest folder that contains every path. */
export function commonFolder(files: readonly string[]): string {
  if (files.length === 0) return process.cwd();
  let parts = path.dirname(path.resolve(files[0])).split(path.sep);
  for (const f of files.slice(1)) {
    const other = path.dirname(path.resolve(f)).split(path.sep);
    let k = 0;
    while (k < parts.length && k < other.length && parts[k] === other[k]) k++;
    parts = parts.slice(0, k);
  }
  return parts.join(path.sep) || path.sep;
}

/** The entries of a list file, resolved against its folder. */
export function readListFile(file: string): string[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new InputError(`${file}: cannot read the list file (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  const base = path.dirname(file);
  return text
    .split(/\r?\n/)
    .map((line) => line.replace(/#.*$/, '').trim())
    .filter((line) => line !== '')
    .map((line) => (path.isAbsolute(line) ? line : path.join(base, line)));
}

/**
 * Output stems: the relative path without its extension. When two inputs would share one (a.jpg
 * and a.png), each of them keeps its extension in the name instead (a_jpg, a_png), so the
 * mapping stays the same from run to run.
 */
export function outputStems(relatives: readonly string[]): string[] {
  const plain = relatives.map((r) => r.slice(0, r.length - path.posix.extname(r).length));
  const count = new Map<string, number>();
  for (const s of plain) count.set(s, (count.get(s) ?? 0) + 1);
  return relatives.map((r, i) => ((count.get(plain[i]) ?? 0) > 1 ? `${plain[i]}_${path.posix.extname(r).slice(1)}` : plain[i]));
}

function withStems(kind: SourceKind, root: string, entries: { file: string; relative: string }[], skipped: string[]): SourceList {
  const stems = outputStems(entries.map((e) => e.relative));
  return { kind, root, images: entries.map((e, i) => ({ ...e, stem: stems[i] })), skipped };
}

/** Lists the images to process. `outputDir` is left out of a folder walk when it lies inside the input. */
export function listSources(input: string, outputDir?: string): SourceList {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(input);
  } catch {
    throw new InputError(`${input}: no such file or folder (expected a folder of images, an image, or a list file)`);
  }
  if (stat.isDirectory()) {
    const files = walk(input, outputDir === undefined ? undefined : path.resolve(outputDir));
    const images = files.filter((f) => IMAGE_EXTENSIONS.has(extensionOf(f)));
    const skipped = files.filter((f) => !IMAGE_EXTENSIONS.has(extensionOf(f))).map(toPosix);
    return withStems('folder', input, images.map((f) => ({ file: path.join(input, f), relative: toPosix(f) })), skipped);
  }
  if (LIST_EXTENSIONS.has(extensionOf(input))) {
    // A path listed twice is one image.
    const files = [...new Map(readListFile(input).map((f) => [path.resolve(f), f])).values()];
    const root = commonFolder(files);
    return withStems('list', root, files.map((f) => ({ file: f, relative: toPosix(path.relative(root, path.resolve(f))) })), []);
  }
  return withStems('image', path.dirname(input), [{ file: input, relative: path.basename(input) }], []);
}
