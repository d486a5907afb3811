import * as fs from 'fs';
import * as path from 'path';
import { ImagePair } from './pair';

/**
 * LFW `pairs.txt`: a header `folds pairsPerFold` (`10 300`), then per fold `pairsPerFold`
 * matched lines `name n1 n2` followed by `pairsPerFold` mismatched lines `name1 n1 name2 n2`,
 * fields separated by tabs or spaces. Image n of a person is `name/name_%04d.jpg`. A one-number
 * header (`1100`, as in pairsDevTrain.txt) is read as a single fold.
 */

export interface LfwPair extends ImagePair {
  fold: number;
}

export interface LfwPairsFile {
  folds: number;
  pairsPerFold: number;
  pairs: LfwPair[];
}

export interface MissingImages {
  /** Distinct image paths the pairs reference. */
  checked: number;
  missingCount: number;
  /** The first few missing paths, relative to the root, in pair order. */
  firstMissing: string[];
  /** How many missing paths `firstMissing` leaves out. */
  moreMissing: number;
}

export interface MissingImagesOptions {
  /** How many missing paths to list. Default 5. */
  show?: number;
  /** Throw (with describeMissingImages' message) instead of returning when any is missing. */
  throwIfMissing?: boolean;
}

export function lfwImagePath(name: string, imageNumber: number): string {
  return `${name}/${name}_${String(imageNumber).padStart(4, '0')}.jpg`;
}

interface Line {
  number: number;
  fields: string[];
}

function nonBlankLines(text: string): Line[] {
  return text
    .split(/\r?\n/)
    .map((raw, i) => ({ number: i + 1, fields: raw.trim().split(/\s+/).filter((f) => f.length > 0) }))
    .filter((line) => line.fields.length > 0);
}

function positiveInteger(field: string, where: string, what: string): number {
  if (!/^\d+$/.test(field) || Number(field) < 1) throw new Error(`${where}: ${what} must be a positive integer, got '${field}'`);
  return Number(field);
}

function parseHeader(line: Line | undefined, file: string): { folds: number; pairsPerFold: number } {
  if (line === undefined) throw new Error(`${file}: empty file, expected a header line 'folds pairsPerFold' (e.g. '10 300')`);
  const where = `${file}:${line.number}`;
  if (line.fields.length === 1) return { folds: 1, pairsPerFold: positiveInteger(line.fields[0], where, 'the pair count') };
  if (line.fields.length !== 2) {
    throw new Error(`${where}: expected a header 'folds pairsPerFold' (e.g. '10 300'), got ${line.fields.length} fields`);
  }
  return {
    folds: positiveInteger(line.fields[0], where, 'the fold count'),
    pairsPerFold: positiveInteger(line.fields[1], where, 'the pairs per fold'),
  };
}

function parsePair(line: Line, file: string, same: boolean, fold: number): LfwPair {
  const where = `${file}:${line.number}`;
  const shape = same ? "a matched pair 'name n1 n2'" : "a mismatched pair 'name1 n1 name2 n2'";
  const expectedFields = same ? 3 : 4;
  if (line.fields.length !== expectedFields) {
    throw new Error(`${where}: expected ${shape} (fold ${fold + 1}), got ${line.fields.length} fields`);
  }
  const f = line.fields;
  const [nameA, numberA, nameB, numberB] = same ? [f[0], f[1], f[0], f[2]] : [f[0], f[1], f[2], f[3]];
  return {
    a: lfwImagePath(nameA, positiveInteger(numberA, where, 'an image number')),
    b: lfwImagePath(nameB, positiveInteger(numberB, where, 'an image number')),
    same,
    fold,
  };
}

/** Parses pairs.txt text; `file` only names the source in error messages. */
export function parseLfwPairs(text: string, file = 'pairs.txt'): LfwPairsFile {
  const lines = nonBlankLines(text);
  const { folds, pairsPerFold } = parseHeader(lines[0], file);
  const expected = folds * 2 * pairsPerFold;
  const body = lines.slice(1);
  if (body.length < expected) {
    const last = lines[lines.length - 1].number;
    throw new Error(
      `${file}:${last}: file ends after ${body.length} pairs; the header announces ${folds} folds x ${pairsPerFold} matched + ${pairsPerFold} mismatched = ${expected}`,
    );
  }
  if (body.length > expected) {
    throw new Error(`${file}:${body[expected].number}: unexpected line after the ${expected} pairs the header announces`);
  }
  const pairs = body.map((line, i) => {
    const fold = Math.floor(i / (2 * pairsPerFold));
    const same = i % (2 * pairsPerFold) < pairsPerFold;
    return parsePair(line, file, same, fold);
  });
  return { folds, pairsPerFold, pairs };
}

export function readLfwPairs(file: string): LfwPairsFile {
  return parseLfwPairs(fs.readFileSync(file, 'utf8'), file);
}

/** One line: how many images are missing under root, the first few named, the rest counted. */
export function describeMissingImages(root: string, report: MissingImages): string {
  const rest = report.moreMissing > 0 ? ` and ${report.moreMissing} more` : '';
  return `${report.missingCount} of ${report.checked} images missing under ${root}: ${report.firstMissing.join(', ')}${rest}`;
}

/** Which of the images the pairs name are absent under root (paths resolved relative to it). */
export function findMissingImages(
  root: string,
  pairs: readonly Pick<ImagePair, 'a' | 'b'>[],
  opts: MissingImagesOptions = {},
): MissingImages {
  const show = opts.show ?? 5;
  const distinct = Array.from(new Set(pairs.flatMap((p) => [p.a, p.b])));
  const missing = distinct.filter((image) => !fs.existsSync(path.resolve(root, image)));
  const report: MissingImages = {
    checked: distinct.length,
    missingCount: missing.length,
    firstMissing: missing.slice(0, show),
    moreMissing: Math.max(0, missing.length - show),
  };
  if (opts.throwIfMissing && missing.length > 0) throw new Error(describeMissingImages(root, report));
  return report;
}
