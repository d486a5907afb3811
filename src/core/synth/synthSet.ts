/**
 * A synthetic ImageFolder: `identities` people with `imagesPerIdentity` photos each, rendered
 * from a seed (the same seed and settings give the same bytes), written atomically as
 * OUT/id_0000/0000.png ... with a synth.json manifest written last, so a folder with the
 * manifest is a complete set. Each person draws from Rng(seed, synth/identity-i) and each photo
 * from Rng(seed, synth/identity-i/image-j) (and .../noise), so a larger set extends a smaller
 * one with the same seed rather than reshuffling it.
 */
import * as fs from 'fs';
import * as path from 'path';
import { InputError } from '../errors';
import { RgbImage, encodeImage } from '../image/image';
import { writeFileAtomic } from '../util/atomic';
import { Rng } from '../util/rng';
import { drawIdentity } from './identity';
import { drawNuisance } from './nuisance';
import { renderFace } from './render';

export interface SynthOptions {
  outDir: string;
  identities: number;
  imagesPerIdentity: number;
  seed: number;
  /** Side of the square images (112 is the model input). */
  size: number;
  /** Replace a previous synthetic set in outDir (one with a synth.json). */
  force?: boolean;
}

export interface SynthSummary {
  outDir: string;
  manifest: string;
  identities: number;
  imagesPerIdentity: number;
  images: number;
  size: number;
  seed: number;
  bytes: number;
  seconds: number;
  imagesPerSecond: number;
}

export interface SynthProgress {
  done: number;
  total: number;
}

export const MANIFEST = 'synth.json';
const GENERATOR = 'arcface synth';
const FOLDER_PATTERN = /^id_\d+$/;

/** Photo `image` of person `identity` of the set made from `seed`. */
export function renderSynthImage(seed: number, identity: number, image: number, size: number): RgbImage {
  const person = drawIdentity(new Rng(seed, `synth/identity-${identity}`));
  const stream = `synth/identity-${identity}/image-${image}`;
  return renderFace(person, drawNuisance(new Rng(seed, stream)), size, new Rng(seed, `${stream}/noise`));
}

/** Zero-padded so that name order is number order (ImageFolder labels by sorted name). */
function padded(n: number, count: number): string {
  return String(n).padStart(Math.max(4, String(count - 1).length), '0');
}

export function identityFolder(identity: number, identities: number): string {
  return `id_${padded(identity, identities)}`;
}

function checkOptions(o: SynthOptions): void {
  const check = (name: string, value: number, min: number, max: number) => {
    if (!Number.isInteger(value) || value < min || value > max) throw new InputError(`${name} ${value}: expected an integer in ${min}..${max}`);
  };
  check('identities', o.identities, 1, 100000);
  check('images per identity', o.imagesPerIdentity, 1, 10000);
  check('size', o.size, 16, 1024);
  check('seed', o.seed, 0, 0xffffffff);
}

/**
 * Makes `dir` ready: created if missing; an empty folder is used as is; a previous synthetic set
 * is cleared with `force` (only its id_* folders and manifest); anything else is refused, so no
 * user file is ever deleted.
 */
function prepareFolder(dir: string, force: boolean): void {
  if (!fs.existsSync(dir)) {
    fs.mkdirSync(dir, { recursive: true });
    return;
  }
  if (!fs.statSync(dir).isDirectory()) throw new InputError(`${dir}: expected a folder for the synthetic set, got a file`);
  const entries = fs.readdirSync(dir);
  if (entries.length === 0) return;
  if (!entries.includes(MANIFEST)) throw new InputError(`${dir}: folder is not empty and holds no ${MANIFEST}; choose a new or empty folder`);
  if (!force) throw new InputError(`${dir}: already holds a synthetic set (${MANIFEST}); pass --force to replace it`);
  const foreign = entries.filter((e) => e !== MANIFEST && !FOLDER_PATTERN.test(e));
  if (foreign.length > 0) throw new InputError(`${dir}: holds files synth did not write (${foreign.slice(0, 3).join(', ')}); choose a new or empty folder`);
  fs.rmSync(path.join(dir, MANIFEST));
  for (const e of entries) if (FOLDER_PATTERN.test(e)) fs.rmSync(path.join(dir, e), { recursive: true });
}

export async function writeSynthSet(options: SynthOptions, onProgress?: (p: SynthProgress) => void): Promise<SynthSummary> {
  checkOptions(options);
  const { outDir, identities, imagesPerIdentity, seed, size } = options;
  prepareFolder(outDir, options.force ?? false);
  const started = performance.now();
  const total = identities * imagesPerIdentity;
  let done = 0;
  let bytes = 0;
  for (let i = 0; i < identities; i++) {
    const folder = path.join(outDir, identityFolder(i, identities));
    fs.mkdirSync(folder, { recursive: true });
    // sharp encodes off the JS thread: each photo is encoded while the next one renders.
    const encoded = await Promise.all(
      Array.from({ length: imagesPerIdentity }, (_, j) => encodeImage(renderSynthImage(seed, i, j, size), 'png')),
    );
    encoded.forEach((png, j) => {
      writeFileAtomic(path.join(folder, `${padded(j, imagesPerIdentity)}.png`), png);
      bytes += png.length;
      onProgress?.({ done: ++done, total });
    });
  }
  const manifest = path.join(outDir, MANIFEST);
  writeFileAtomic(manifest, `${JSON.stringify({ generator: GENERATOR, version: 1, seed, identities, imagesPerIdentity, size, format: 'png' }, null, 2)}\n`);
  const seconds = (performance.now() - started) / 1000;
  return { outDir, manifest, identities, imagesPerIdentity, images: total, size, seed, bytes, seconds, imagesPerSecond: total / seconds };
}
