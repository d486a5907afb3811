import * as ort from 'onnxruntime-node';
import { buildTrainingGraph } from '../src/core/autodiff';
import { NCHWC_DOMAIN, convsToNchwc, nchwcBlockSize } from '../src/core/engines/nchwcConvs';
import { GraphBuilder } from '../src/core/graph/builder';
import { cloneGraph } from '../src/core/graph/edit';
import { encodeOnnx } from '../src/core/graph/onnx';
import { Graph, attr, int64Tensor } from '../src/core/graph/types';
import { conv2d, relu } from '../src/core/nn/layers';
import { Rng } from '../src/core/util/rng';

/**
 * The NCHWc rewrite must compute what the plain convs compute: each qualifying kind (dense with
 * a spatial kernel, depthwise, depthwise with a channel multiplier, a computed kernel) against
 * the unrewritten graph, and a whole training graph's gradients with and without it. A weight
 * put in the wrong block layout moves values between channels and taps, far outside these
 * tolerances (float rounding of the different summation order only).
 */

const rng = new Rng(7, 'nchwc');
const random = (n: number) => Float32Array.from({ length: n }, () => rng.range(-1, 1));

async function run(graph: Graph, feeds: Record<string, ort.Tensor>): Promise<Record<string, Float32Array>> {
  const session = await ort.InferenceSession.create(encodeOnnx(graph), { intraOpNumThreads: 2, logSeverityLevel: 3 });
  const out = await session.run(feeds);
  await session.release();
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.data as Float32Array]));
}

function maxRelativeError(a: Float32Array, b: Float32Array): number {
  expect(b.length).toBe(a.length);
  const scale = Math.max(...a.map(Math.abs), 1e-6);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst / scale;
}

let block = 0;
beforeAll(async () => {
  block = await nchwcBlockSize();
});

function skipWithoutBlocks(): boolean {
  if (block > 0) return false;
  console.warn('skipped: this CPU has no onnxruntime NCHWc kernels (block size 0)');
  return true;
}

test('the channel block is what onnxruntime pads channels to (16 with AVX-512, 8 with AVX2) or 0', () => {
  expect([0, 8, 16]).toContain(block);
});

/** Convs whose weights are graph inputs, as in a training graph; `c` channels throughout. */
function convGraph(c: number, batch: number, size: number): { graph: Graph; feeds: Record<string, ort.Tensor> } {
  const b = new GraphBuilder('convs', 1);
  const feeds: Record<string, ort.Tensor> = {};
  const input = (name: string, dims: number[]) => {
    feeds[name] = new ort.Tensor('float32', random(dims.reduce((p, q) => p * q, 1)), dims);
    return b.input(name, dims);
  };
  const x = input('x', [batch, c, size, size]);
  const conv = (w: string, from: string, attrs: Record<string, ReturnType<typeof attr.int | typeof attr.ints>>, bias?: string) =>
    b.op1('Conv', bias ? [from, w, bias] : [from, w], attrs);
  // Dense 3x3, dilated, strided, with a bias.
  const dense = b.output(conv(input('w_dense', [c, c, 3, 3]), x, { kernel_shape: attr.ints([3, 3]), pads: attr.ints([2, 2, 2, 2]), dilations: attr.ints([2, 2]) }, input('b_dense', [c])), 'dense');
  b.output(conv(input('w_strided', [2 * c, c, 3, 3]), x, { kernel_shape: attr.ints([3, 3]), pads: attr.ints([1, 0, 1, 0]), strides: attr.ints([2, 2]) }), 'strided');
  // Depthwise, strided.
  b.output(conv(input('w_dw', [c, 1, 3, 3]), dense, { kernel_shape: attr.ints([3, 3]), pads: attr.ints([1, 1, 1, 1]), strides: attr.ints([2, 2]), group: attr.int(c) }), 'depthwise');
  // A computed depthwise kernel the size of the map, as the batch-folded weight gradient has.
  const kernel = b.op1('Reshape', [x, b.constant('kernel_shape', int64Tensor([batch * c, 1, size, size]))]);
  const folded = b.op1('Reshape', [dense, b.constant('folded_shape', int64Tensor([1, batch * c, size, size]))]);
  b.output(conv(kernel, folded, { kernel_shape: attr.ints([size, size]), pads: attr.ints([1, 1, 1, 1]), group: attr.int(batch * c) }), 'folded');
  // Depthwise with a channel multiplier of 2 (static input dims).
  b.output(conv(input('w_multiplier', [2 * batch * c, 1, 3, 3]), folded, { kernel_shape: attr.ints([3, 3]), pads: attr.ints([0, 1, 0, 1]), group: attr.int(batch * c) }), 'multiplier');
  // Left alone: a 1x1 dense conv, a unit-stride 1x1 depthwise one (a per-channel affine), and channels off the block.
  b.output(conv(input('w_pointwise', [c, c, 1, 1]), x, { kernel_shape: attr.ints([1, 1]) }), 'pointwise');
  b.output(conv(input('w_affine', [c, 1, 1, 1]), x, { kernel_shape: attr.ints([1, 1]), group: attr.int(c) }, input('b_affine', [c])), 'affine');
  const odd = input('x_odd', [batch, c + 4, size, size]);
  b.output(conv(input('w_odd', [c + 4, 1, 3, 3]), odd, { kernel_shape: attr.ints([3, 3]), group: attr.int(c + 4) }), 'odd');
  return { graph: b.graph, feeds };
}

test('rewritten convs compute what the plain ones do; 1x1 (dense, or depthwise unstrided) and off-block convs stay', async () => {
  if (skipWithoutBlocks()) return;
  const { graph, feeds } = convGraph(block, 2, 9);
  const plain = await run(graph, feeds);
  const rewritten = cloneGraph(graph);
  expect(convsToNchwc(rewritten, block)).toBe(5);
  const blockedConvs = rewritten.nodes.filter((n) => n.domain === NCHWC_DOMAIN && n.opType === 'Conv');
  expect(blockedConvs.length).toBe(6); // the multiplier conv is two depthwise convs
  expect(rewritten.nodes.filter((n) => n.opType === 'Conv' && n.domain === '').length).toBe(3);
  const blocked = await run(rewritten, feeds);
  for (const name of Object.keys(plain)) {
    expect(maxRelativeError(plain[name], blocked[name])).toBeLessThan(1e-5);
  }
});

test('no block, no rewrite', () => {
  const { graph } = convGraph(16, 1, 5);
  expect(convsToNchwc(graph, 0)).toBe(0);
  expect(graph.nodes.some((n) => n.domain === NCHWC_DOMAIN)).toBe(false);
});

/** A small conv net whose training graph has dense, adjoint, depthwise and batch-folded convs on the block. */
function trainingGraphOf(c: number, batch: number): { graph: Graph; feeds: Record<string, ort.Tensor>; grads: string[] } {
  const b = new GraphBuilder('blocked-net', 3);
  const images = b.input('images', [batch, c, 10, 10]);
  let h = relu(b, conv2d(b, 'dense', images, { inC: c, outC: 2 * c, k: 3, pad: 1 }));
  h = relu(b, conv2d(b, 'dw', h, { inC: 2 * c, outC: 2 * c, k: 3, pad: 1, groups: 2 * c }));
  h = relu(b, conv2d(b, 'grouped', h, { inC: 2 * c, outC: 2 * c, k: 3, pad: 1, stride: 2, groups: c }));
  h = conv2d(b, 'down', h, { inC: 2 * c, outC: 2 * c, k: 3, pad: 1, stride: 2, groups: 2 * c });
  b.output(b.op1('ReduceMean', [b.op1('Mul', [h, h])], { keepdims: attr.int(0) }), 'loss');
  const training = buildTrainingGraph(b.graph, { loss: 'loss' });
  const feeds: Record<string, ort.Tensor> = { images: new ort.Tensor('float32', random(batch * c * 100), [batch, c, 10, 10]) };
  for (const p of training.params) {
    const t = b.graph.initializers.get(p)?.tensor;
    feeds[p] = new ort.Tensor('float32', t?.data as Float32Array, t?.dims as number[]);
  }
  return { graph: training.graph, feeds, grads: [...training.gradOutputs.values()] };
}

test('a training graph gives the same loss and gradients with blocked convs', async () => {
  if (skipWithoutBlocks()) return;
  const { graph, feeds, grads } = trainingGraphOf(block, 2);
  const plain = await run(graph, feeds);
  const rewritten = cloneGraph(graph);
  // Forward dense + depthwise x2, dense and depthwise adjoints, the folded depthwise and grouped weight gradients.
  expect(convsToNchwc(rewritten, block)).toBeGreaterThanOrEqual(6);
  const blocked = await run(rewritten, feeds);
  expect(grads.length).toBe(4);
  for (const name of ['loss', ...grads]) expect(maxRelativeError(plain[name], blocked[name])).toBeLessThan(1e-4);
});
