import * as fs from 'fs';
import * as path from 'path';
import { GraphBuilder } from '../../src/core/graph/builder';
import { encodeOnnx } from '../../src/core/graph/onnx';
import { resolveOutputs } from '../../src/core/graph/shapes';
import { attr } from '../../src/core/graph/types';
import { RgbImage, encodeImage } from '../../src/core/image/image';
import { Rng } from '../../src/core/util/rng';

/**
 * Small, exactly predictable models and images for eval tests. The "flatten" model's embedding
 * is its input tensor itself, so every preprocessing step (layout, colour order, mean/std,
 * resize, flip) can be checked number by number.
 */

export interface FlattenModelOptions {
  size: number;
  layout?: 'NCHW' | 'NHWC';
  metadata?: Record<string, string>;
  /** A second image input (a model eval must refuse). */
  secondInput?: boolean;
}

export function flattenModel(opts: FlattenModelOptions): Uint8Array {
  const b = new GraphBuilder('flatten', 0);
  const shape = opts.layout === 'NHWC' ? ['N', opts.size, opts.size, 3] : ['N', 3, opts.size, opts.size];
  let x = b.input('input', shape);
  if (opts.secondInput) x = b.op1('Add', [x, b.input('other', shape)]);
  b.output(b.op1('Flatten', [x], { axis: attr.int(1) }), 'embedding');
  resolveOutputs(b.graph);
  Object.assign(b.graph.metadata, opts.metadata ?? {});
  return encodeOnnx(b.graph);
}

/** A deterministic random RGB image. */
export function noiseImage(size: number, seed: number): RgbImage {
  const rng = new Rng(seed, 'eval-fixture');
  return { width: size, height: size, data: Uint8Array.from({ length: size * size * 3 }, () => rng.int(256)) };
}

/**
 * An ImageFolder of `identities` x `perIdentity` PNGs: each identity is one random image plus
 * a little per-image noise, so that same-identity pairs score higher than different ones.
 */
export async function writeSyntheticFolder(root: string, identities: number, perIdentity: number, size: number): Promise<string[]> {
  const written: string[] = [];
  for (let id = 0; id < identities; id++) {
    const base = noiseImage(size, 1000 + id);
    const dir = path.join(root, `person${id}`);
    fs.mkdirSync(dir, { recursive: true });
    for (let k = 0; k < perIdentity; k++) {
      const jitter = noiseImage(size, 100 * id + k);
      const data = base.data.map((v, i) => Math.max(0, Math.min(255, v + ((jitter.data[i] % 61) - 30))));
      const file = path.join(dir, `img${k}.png`);
      fs.writeFileSync(file, await encodeImage({ width: size, height: size, data }, 'png'));
      written.push(file);
    }
  }
  return written;
}

/** A pickle (protocol 3, as Python 3 writes by default) of (list of bytes, list of bools). */
export function insightfaceBinPickle(images: readonly Buffer[], issame: readonly boolean[]): Buffer {
  const parts: Buffer[] = [Buffer.from([0x80, 0x03, 0x5d, 0x28])];
  for (const image of images) {
    const length = Buffer.alloc(4);
    length.writeUInt32LE(image.length);
    parts.push(Buffer.from([0x42]), length, image);
  }
  parts.push(Buffer.from([0x65, 0x5d, 0x28]));
  for (const same of issame) parts.push(Buffer.from([same ? 0x88 : 0x89]));
  parts.push(Buffer.from([0x65, 0x86, 0x2e]));
  return Buffer.concat(parts);
}
