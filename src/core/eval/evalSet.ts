import * as fs from 'fs';
import * as path from 'path';
import { readCsvPairs } from '../datasets/csvPairs';
import { imageFolderPairs } from '../datasets/imageFolderPairs';
import { readInsightfaceBin } from '../datasets/insightfaceBin';
import { describeMissingImages, findMissingImages, readLfwPairs } from '../datasets/lfwPairs';
import { ImagePair } from '../datasets/pair';
import { InputError } from '../errors';
import { listImageFolder } from './imageFolder';

/**
 * A verification set in one shape, whatever file it came from: the distinct images (each
 * embedded once), pairs as indices into them, their folds when the source defines them, and
 * identities for 1:N identification when the source has labels (an ImageFolder).
 *
 * Sources, and how a DATA argument is recognised (`format` overrides the guess):
 * - `lfw`: an LFW pairs.txt (DATA is the .txt file, or a folder holding `pairs.txt`, or a folder
 *   with `pairsFile` given); image paths `name/name_0001.jpg` relative to `root` (default: the
 *   folder of DATA);
 * - `bin`: an insightface .bin (pickled image bytes and issame flags);
 * - `csv`: rows `path1,path2,same`, paths relative to `root` (default: the CSV's folder);
 * - `folder`: an ImageFolder; every positive pair and a seeded sample of negatives.
 */

export const SET_FORMATS = ['lfw', 'bin', 'csv', 'folder'] as const;
export type SetFormat = (typeof SET_FORMATS)[number];

export type ImageRef = { kind: 'file'; path: string } | { kind: 'bytes'; name: string; bytes: Buffer };

export interface IndexedPair {
  a: number;
  b: number;
  same: boolean;
  fold?: number;
}

export interface MissingSummary {
  /** Distinct images the pairs name that do not exist. */
  images: number;
  /** Pairs left out because one of their images is missing. */
  pairs: number;
  /** The first few missing paths (relative to the root). */
  first: string[];
}

export interface EvalSet {
  format: SetFormat;
  /** What the user named (file or folder). */
  source: string;
  images: ImageRef[];
  pairs: IndexedPair[];
  /** Identity of each image, for 1:N identification (ImageFolder sets). */
  identities?: string[];
  missing: MissingSummary;
}

export interface EvalSetOptions {
  format?: SetFormat;
  /** LFW: the pairs file when DATA is the image folder. */
  pairsFile?: string;
  /** LFW and CSV: the folder image paths are relative to. */
  root?: string;
  /** Evaluate the pairs whose images exist instead of refusing when some are missing. */
  skipMissing: boolean;
  /** ImageFolder pair sampling. */
  seed: number;
  negativesPerPositive: number;
  folds: number;
}

const NONE_MISSING: MissingSummary = { images: 0, pairs: 0, first: [] };

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** The format DATA is in, from its extension or contents. */
export function detectFormat(data: string, opts: Pick<EvalSetOptions, 'format' | 'pairsFile'>): SetFormat {
  if (opts.format) return opts.format;
  if (!fs.existsSync(data)) throw new InputError(`${data}: no such file or directory`);
  if (isDirectory(data)) return opts.pairsFile !== undefined || fs.existsSync(path.join(data, 'pairs.txt')) ? 'lfw' : 'folder';
  const ext = path.extname(data).toLowerCase();
  if (ext === '.bin') return 'bin';
  if (ext === '.csv') return 'csv';
  if (ext === '.txt') return 'lfw';
  throw new InputError(`${data}: cannot tell the dataset format from '${ext || 'no extension'}'; expected a .bin, .csv, LFW pairs .txt, or an ImageFolder directory (or pass --format ${SET_FORMATS.join('|')})`);
}

/** Parse errors in the user's file are the user's to fix: report them as input errors. */
function asInputError<T>(read: () => T): T {
  try {
    return read();
  } catch (err) {
    if (err instanceof InputError || (err as NodeJS.ErrnoException).code !== undefined) throw err;
    throw new InputError((err as Error).message);
  }
}

/** Indexes path pairs by distinct image, dropping (or refusing) pairs whose images are missing. */
function fromPathPairs(format: SetFormat, source: string, root: string, pairs: ImagePair[], skipMissing: boolean): EvalSet {
  const report = findMissingImages(root, pairs);
  if (report.missingCount > 0 && !skipMissing) {
    throw new InputError(`${source}: ${describeMissingImages(root, report)} (--skip-missing evaluates the pairs whose images exist)`);
  }
  const absent = new Set<string>();
  if (report.missingCount > 0) {
    for (const p of pairs) for (const image of [p.a, p.b]) if (!fs.existsSync(path.resolve(root, image))) absent.add(image);
  }
  const kept = pairs.filter((p) => !absent.has(p.a) && !absent.has(p.b));
  if (kept.length === 0) throw new InputError(`${source}: no pair has both images present under ${root}`);
  const index = new Map<string, number>();
  const images: ImageRef[] = [];
  const indexOf = (relative: string): number => {
    const full = path.resolve(root, relative);
    let i = index.get(full);
    if (i === undefined) {
      i = images.length;
      index.set(full, i);
      images.push({ kind: 'file', path: full });
    }
    return i;
  };
  return {
    format,
    source,
    images,
    pairs: kept.map((p) => ({ a: indexOf(p.a), b: indexOf(p.b), same: p.same, fold: p.fold })),
    missing: { images: report.missingCount, pairs: pairs.length - kept.length, first: report.firstMissing },
  };
}

function loadLfw(data: string, opts: EvalSetOptions): EvalSet {
  const dataIsDir = isDirectory(data);
  const pairsFile = opts.pairsFile ?? (dataIsDir ? path.join(data, 'pairs.txt') : data);
  const root = opts.root ?? (dataIsDir ? data : path.dirname(data));
  if (!isDirectory(root)) throw new InputError(`${root}: the LFW image folder does not exist`);
  const file = asInputError(() => readLfwPairs(pairsFile));
  return fromPathPairs('lfw', pairsFile, root, file.pairs, opts.skipMissing);
}

function loadCsv(data: string, opts: EvalSetOptions): EvalSet {
  const pairs = asInputError(() => readCsvPairs(data));
  return fromPathPairs('csv', data, opts.root ?? path.dirname(data), pairs, opts.skipMissing);
}

function loadBin(data: string): EvalSet {
  const bin = asInputError(() => readInsightfaceBin(data));
  const name = path.basename(data);
  return {
    format: 'bin',
    source: data,
    images: bin.images.map((bytes, i) => ({ kind: 'bytes', name: `${name}[${i}]`, bytes })),
    pairs: bin.issame.map((same, i) => ({ a: 2 * i, b: 2 * i + 1, same })),
    missing: NONE_MISSING,
  };
}

function loadFolder(data: string, opts: EvalSetOptions): EvalSet {
  const items = listImageFolder(data);
  const pairs = asInputError(() =>
    imageFolderPairs(items, { seed: opts.seed, negativesPerPositive: opts.negativesPerPositive, folds: opts.folds }),
  );
  const index = new Map(items.map((item, i) => [item.path, i]));
  return {
    format: 'folder',
    source: data,
    images: items.map((item) => ({ kind: 'file', path: path.resolve(item.path) })),
    pairs: pairs.map((p) => ({ a: index.get(p.a)!, b: index.get(p.b)!, same: p.same, fold: p.fold })),
    identities: items.map((item) => item.identity),
    missing: NONE_MISSING,
  };
}

export function loadEvalSet(data: string, opts: EvalSetOptions): EvalSet {
  const format = detectFormat(data, opts);
  switch (format) {
    case 'lfw':
      return loadLfw(data, opts);
    case 'csv':
      return loadCsv(data, opts);
    case 'bin':
      return loadBin(data);
    case 'folder':
      return loadFolder(data, opts);
  }
}

/** A short name for an image in messages. */
export function imageName(ref: ImageRef): string {
  return ref.kind === 'file' ? ref.path : ref.name;
}
