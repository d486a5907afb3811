/**
 * One image through detect-align: decode, detect, align, encode, write. Every failure that
 * belongs to the image (unreadable, not an image, corrupt, too large, output not writable)
 * becomes its manifest record, never an exception, so a run over thousands of files goes on.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { EncodeFormat, ImageError, RgbImage, decodeImage, encodeImage } from '../image/image';
import { padImage } from '../image/ops';
import { writeFileAtomic } from '../util/atomic';
import { InputError } from '../errors';
import { alignFace, arcfaceTemplate } from './align';
import { DetectedFace, FaceDetector, largestFace, shiftFace } from './detector';
import { FaceRecord, FailureReason, ManifestRecord } from './manifest';
import { SourceImage } from './sources';

export interface AlignSettings {
  /** Side of the aligned crop (a multiple of 112 or 128). */
  size: number;
  format: EncodeFormat;
  /** JPEG quality 1..100. */
  quality: number;
  /** Keep only the largest face (no index suffix); otherwise every face, suffixed _0, _1, ... by score. */
  largest: boolean;
  /** Black border added on each side before detection, as a fraction of the side; tight crops need ~0.5. */
  pad: number;
  /** Images with more pixels are refused before decoding. */
  maxPixels: number;
}

export const DEFAULT_ALIGN: Readonly<AlignSettings> = { size: 112, format: 'png', quality: 95, largest: false, pad: 0, maxPixels: 50e6 };

/** Refuses settings that would fail on every image, before any work starts. */
export function checkAlignSettings(s: AlignSettings): void {
  try {
    arcfaceTemplate(s.size);
  } catch {
    throw new InputError(`aligned size ${s.size}: expected a multiple of 112 or 128 (e.g. 112, 224, 128)`);
  }
  if (!Number.isInteger(s.quality) || s.quality < 1 || s.quality > 100) throw new InputError(`JPEG quality ${s.quality}: expected an integer in 1..100`);
  if (!(s.pad >= 0 && Number.isFinite(s.pad))) throw new InputError(`pad ${s.pad}: expected a number >= 0`);
  if (!(s.maxPixels > 0)) throw new InputError(`max pixels ${s.maxPixels}: expected a positive number`);
}

/** Milliseconds per step for one image. */
export interface StepTimes {
  decode: number;
  detect: number;
  align: number;
  encode: number;
  write: number;
}

export const STEPS: readonly (keyof StepTimes)[] = ['decode', 'detect', 'align', 'encode', 'write'];

export interface ImageOutcome {
  record: ManifestRecord;
  times: StepTimes;
}

/** A short fingerprint of everything that shapes the outputs (detector and alignment settings). */
export function settingsFingerprint(settings: unknown): string {
  return createHash('sha256').update(JSON.stringify(settings)).digest('hex').slice(0, 12);
}

export function outputExtension(format: EncodeFormat): string {
  return format === 'png' ? 'png' : 'jpg';
}

/** Output name (relative, '/'-separated) of face `index`. */
export function outputName(stem: string, index: number, settings: AlignSettings): string {
  return `${stem}${settings.largest ? '' : `_${index}`}.${outputExtension(settings.format)}`;
}

const round = (v: number, digits: number): number => Number(v.toFixed(digits));

function faceRecord(face: DetectedFace, output: string | null): FaceRecord {
  const { box } = face;
  return {
    score: round(face.score, 4),
    box: [round(box.x1, 2), round(box.y1, 2), round(box.x2, 2), round(box.y2, 2)],
    landmarks: face.landmarks.map(([x, y]): [number, number] => [round(x, 2), round(y, 2)]),
    output,
  };
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0];
}

/** Faces in the original image's coordinates, padded first when asked. */
async function findFaces(image: RgbImage, detector: FaceDetector, pad: number): Promise<DetectedFace[]> {
  if (pad <= 0) return detector.detect(image);
  const padded = padImage(image, pad);
  return (await detector.detect(padded.image)).map((f) => shiftFace(f, -padded.left, -padded.top));
}

/** Creates the folder and writes atomically; a folder that cannot be made or written is the image's failure. */
function writeOutput(outputDir: string, name: string, bytes: Uint8Array): void {
  const file = path.join(outputDir, ...name.split('/'));
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'EEXIST' || code === 'ENOTDIR' ? 'a file is in the way' : code === 'EACCES' || code === 'EPERM' || code === 'EROFS' ? 'not writable' : (code ?? firstLine(err));
    throw new OutputError(`cannot create folder ${path.dirname(file)} (${why})`);
  }
  try {
    writeFileAtomic(file, bytes);
  } catch (err) {
    throw new OutputError(firstLine(err));
  }
}

class OutputError extends Error {}

/** Runs one image; resolves with its manifest record and step times (never rejects for the image's own problems). */
export async function processImage(job: SourceImage, detector: FaceDetector, settings: AlignSettings, outputDir: string, fingerprint: string): Promise<ImageOutcome> {
  const times: StepTimes = { decode: 0, detect: 0, align: 0, encode: 0, write: 0 };
  const base: ManifestRecord = { source: job.relative, status: 'error', faces: [], settings: fingerprint };
  const fail = (reason: FailureReason, message: string, extra: Partial<ManifestRecord> = {}): ImageOutcome => ({
    record: { ...base, ...extra, status: 'error', error: { reason, message } },
    times,
  });
  let clock = performance.now();
  const lap = (step: keyof StepTimes): void => {
    const now = performance.now();
    times[step] += now - clock;
    clock = now;
  };

  let decoded;
  try {
    decoded = await decodeImage(job.file, { maxPixels: settings.maxPixels });
  } catch (err) {
    lap('decode');
    if (err instanceof ImageError) return fail(err.reason, err.message);
    return fail('failed', `${job.file}: ${firstLine(err)}`);
  }
  lap('decode');
  const { image, warnings } = decoded;
  const known: Partial<ManifestRecord> = { width: image.width, height: image.height, ...(warnings.length > 0 ? { warnings } : {}) };

  let faces: DetectedFace[];
  try {
    const all = await findFaces(image, detector, settings.pad);
    const largest = settings.largest ? largestFace(all) : undefined;
    faces = settings.largest ? (largest ? [largest] : []) : all;
  } catch (err) {
    lap('detect');
    return fail('failed', `${job.file}: detection failed (${firstLine(err)})`, known);
  }
  lap('detect');
  if (faces.length === 0) return { record: { ...base, ...known, status: 'no-face' }, times };

  const crops = faces.map((f) => alignFace(image, f.landmarks, settings.size));
  lap('align');
  const encoded = await Promise.all(crops.map((c) => encodeImage(c, settings.format, settings.quality)));
  lap('encode');
  const names = faces.map((_, i) => outputName(job.stem, i, settings));
  try {
    encoded.forEach((bytes, i) => writeOutput(outputDir, names[i], bytes));
  } catch (err) {
    lap('write');
    if (!(err instanceof OutputError)) throw err;
    return fail('unwritable', `${job.file}: ${err.message}`, { ...known, faces: faces.map((f) => faceRecord(f, null)) });
  }
  lap('write');
  return { record: { ...base, ...known, status: 'ok', faces: faces.map((f, i) => faceRecord(f, names[i])) }, times };
}
