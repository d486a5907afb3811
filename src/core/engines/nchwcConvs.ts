import * as ort from 'onnxruntime-node';
import { encodeOnnx } from '../graph/onnx';
import { producers } from '../graph/edit';
import { Graph, Node, attr, emptyGraph, getAttr, int64Tensor } from '../graph/types';

/**
 * onnxruntime's blocked-layout (NCHWc) convolutions for graphs whose conv weights are computed
 * or fed at run time, as in a training graph.
 *
 * At inference onnxruntime moves a Conv with a constant weight to its NCHWc kernels itself,
 * reordering the weight once. A training graph's weights are inputs (and its adjoint and
 * weight-gradient convs take computed kernels), so those convs stay on the NCHW im2col + GEMM
 * path, which is several times slower for depthwise and large-kernel convs. This pass writes
 * them as onnxruntime's own NCHWc ops (domain com.microsoft.nchwc, in every CPU build):
 *   ReorderInput(x) -> Conv(x', blocked(w)) -> ReorderOutput,
 * with the weight reordered in the graph to the block layout the kernel reads (OIHWBiBo for
 * dense convs, OIHWBo for depthwise ones). The activations stay NCHW between convs.
 *
 * Rewritten, where both channel counts are multiples of the CPU's channel block (16 with
 * AVX-512, 8 with AVX2):
 * - depthwise convs (one input and one output channel per group), whatever the kernel but 1x1
 *   with unit strides (a per-channel affine, one multiply-add per element): forward
 *   and adjoint stride-1 depthwise convs ran 1.7-3.5x faster at MobileFaceNet's shapes (stride 2
 *   about the same), the batch-folded depthwise weight gradients (kernels the size of the
 *   feature map) about 10x; with a channel multiplier, as one depthwise conv per multiplier;
 * - dense convs with a spatial kernel (3x3 and the like): 1.4-2.2x at ResNet-50's shapes.
 * (Batch 32, 2 threads, reorders included; whole-step effects in BENCHMARKS.md, "train".)
 * Dense 1x1 convs stay: they are one GEMM either way, and the two reorders cost what the
 * blocked kernel saves (measured within +-30% either way, no net gain).
 */

export const NCHWC_DOMAIN = 'com.microsoft.nchwc';

let probedBlock: Promise<number> | undefined;

/**
 * The channel block of onnxruntime's NCHWc kernels on this CPU, read off the shape ReorderInput
 * gives 4 channels (padded to one block); 0 where this onnxruntime has no NCHWc kernels.
 */
export function nchwcBlockSize(): Promise<number> {
  probedBlock ??= probeBlockSize();
  return probedBlock;
}

async function probeBlockSize(): Promise<number> {
  const graph = emptyGraph('nchwc_probe');
  graph.inputs.push({ name: 'x', dtype: 'float32', shape: [1, 4, 1, 1] });
  graph.nodes.push({ name: 'reorder', opType: 'ReorderInput', domain: NCHWC_DOMAIN, inputs: ['x'], outputs: ['y'], attrs: {} });
  graph.outputs.push({ name: 'y', dtype: 'float32', shape: [1, 'blocked', 1, 1] });
  try {
    const session = await ort.InferenceSession.create(encodeOnnx(graph), { executionProviders: ['cpu'], logSeverityLevel: 3 });
    const y = (await session.run({ x: new ort.Tensor('float32', new Float32Array(4), [1, 4, 1, 1]) })).y;
    await session.release();
    const block = y.dims[1];
    // A block of 1 means the CPU has no blocked kernels (onnxruntime skips its own NCHWc pass then).
    return block >= 4 ? block : 0;
  } catch {
    return 0;
  }
}

/**
 * How a Conv moves to NCHWc: as it is (dense or depthwise), or, for a depthwise conv with a
 * channel multiplier k (k output channels per single-channel group, as the autodiff's
 * batch-folded weight gradient of a grouped conv is), as k depthwise convs whose outputs are
 * interleaved back into the original channel order.
 */
type BlockedConv =
  | { kind: 'dense' | 'depthwise'; weight: number[] }
  | { kind: 'multiplier'; weight: number[]; multiplier: number; output: number[] };

/**
 * A tensor's dims when they are fixed by the graph itself: an initializer, a graph input with
 * numeric dims, or a Reshape to a constant shape (how the autodiff writes computed kernels).
 */
function staticDims(graph: Graph, made: Map<string, Node>, tensor: string): number[] | undefined {
  const init = graph.initializers.get(tensor);
  if (init) return init.tensor.dims;
  const input = graph.inputs.find((v) => v.name === tensor);
  if (input) return input.shape.every((d): d is number => typeof d === 'number') ? input.shape : undefined;
  const producer = made.get(tensor);
  const target = producer?.opType === 'Reshape' ? graph.initializers.get(producer.inputs[1])?.tensor : undefined;
  if (!target || !(target.data instanceof BigInt64Array)) return undefined;
  const dims = Array.from(target.data, Number);
  return dims.every((d) => d > 0) ? dims : undefined;
}

/** A Conv's output dims from its input dims and attributes (explicit pads). */
function convOutputDims(node: Node, x: number[], w: number[]): number[] {
  const kernel = w.slice(2);
  const strides = getAttr(node, 'strides', 'ints') ?? kernel.map(() => 1);
  const dilations = getAttr(node, 'dilations', 'ints') ?? kernel.map(() => 1);
  const pads = getAttr(node, 'pads', 'ints') ?? [...kernel, ...kernel].map(() => 0);
  const spatial = kernel.map((k, i) => Math.floor((x[i + 2] + pads[i] + pads[i + kernel.length] - (k - 1) * dilations[i] - 1) / strides[i]) + 1);
  return [x[0], w[0], ...spatial];
}

/**
 * What the rewrite needs of a Conv it can move to NCHWc; undefined for any other node. The
 * input's channel count is group x the weight's channels per group, so the weight's dims decide.
 */
function blockedConv(graph: Graph, made: Map<string, Node>, node: Node, block: number): BlockedConv | undefined {
  if (node.opType !== 'Conv' || (node.domain !== '' && node.domain !== 'ai.onnx')) return undefined;
  const autoPad = getAttr(node, 'auto_pad', 'string');
  if (autoPad !== undefined && autoPad !== 'NOTSET') return undefined;
  const w = staticDims(graph, made, node.inputs[1]);
  if (!w || w.length !== 4) return undefined;
  const [m, perGroup, kh, kw] = w;
  const group = getAttr(node, 'group', 'int') ?? 1;
  const channels = group * perGroup;
  if (channels % block !== 0 || m % block !== 0) return undefined;
  if (perGroup === 1 && m === group) {
    // A unit-stride 1x1 depthwise conv (the autodiff's per-channel affine) is one multiply-add
    // per element: the two reorders would triple its passes.
    const unitStrides = (getAttr(node, 'strides', 'ints') ?? []).every((s) => s === 1);
    return kh * kw === 1 && unitStrides ? undefined : { kind: 'depthwise', weight: w };
  }
  if (group === 1 && kh * kw > 1) return { kind: 'dense', weight: w };
  const x = staticDims(graph, made, node.inputs[0]);
  if (perGroup === 1 && m % group === 0 && x && x.length === 4 && node.inputs[2] === undefined) {
    return { kind: 'multiplier', weight: w, multiplier: m / group, output: convOutputDims(node, x, w) };
  }
  return undefined;
}

/** Emits the nodes of one rewrite, named under the original node's name. */
class Emit {
  readonly nodes: Node[] = [];
  constructor(
    private readonly graph: Graph,
    private readonly node: Node,
  ) {}

  name(part: string): string {
    return `${this.node.name}/nchwc/${part}`;
  }

  ints(part: string, values: number[]): string {
    const name = this.name(part);
    this.graph.initializers.set(name, { name, role: 'constant', tensor: int64Tensor(values) });
    return name;
  }

  op(part: string, opType: string, inputs: string[], attrs: Node['attrs'] = {}, domain = '', output = this.name(part)): string {
    this.nodes.push({ name: this.name(part), opType, domain, inputs, outputs: [output], attrs });
    return output;
  }
}

/**
 * NCHWc Conv of the already reordered `input` -> ReorderOutput into `output`, the weight `w`
 * (dims `weight`) reordered in the graph to the kernel's block layout.
 */
function blockedConvNodes(e: Emit, tag: string, input: string, w: string, weight: number[], bias: string | undefined, attrs: Node['attrs'], block: number, output: string): void {
  const [m, perGroup, kh, kw] = weight;
  const taps = kh * kw;
  // Output channels into the innermost block: [M, C/g, K] read as an image of M channels.
  const rows = e.op(`${tag}weight_rows`, 'Reshape', [w, e.ints(`${tag}weight_rows_shape`, [1, m, perGroup, taps])]);
  let blocked = e.op(`${tag}weight_blocked`, 'ReorderInput', [rows], {}, NCHWC_DOMAIN); // [M/B][C/g][K][Bo]
  if (perGroup > 1 && taps > 1) {
    // Dense: input channels into blocks too, inside each tap: [M/B][C/B][Bi][K][Bo] -> [M/B][C/B][K][Bi][Bo].
    const split = e.op(`${tag}weight_split`, 'Reshape', [blocked, e.ints(`${tag}weight_split_shape`, [m / block, perGroup / block, block, taps, block])]);
    blocked = e.op(`${tag}weight_tiles`, 'Transpose', [split], { perm: attr.ints([0, 1, 3, 2, 4]) });
  }
  const kernel = e.op(`${tag}weight`, 'Reshape', [blocked, e.ints(`${tag}weight_shape`, weight)]);
  const conv = e.op(`${tag}conv`, 'Conv', bias ? [input, kernel, bias] : [input, kernel], attrs, NCHWC_DOMAIN);
  e.op(`${tag}output`, 'ReorderOutput', [conv], { channels: attr.int(m) }, NCHWC_DOMAIN, output);
}

/**
 * Rewrites the graph's qualifying convs (see above) in place for a channel block of `block`;
 * returns how many. Convs whose weight dims the graph does not fix are left as they are.
 */
export function convsToNchwc(graph: Graph, block: number): number {
  if (block < 4) return 0;
  const made = producers(graph);
  let rewritten = 0;
  graph.nodes = graph.nodes.flatMap((node): Node[] => {
    const conv = blockedConv(graph, made, node, block);
    if (!conv) return [node];
    rewritten++;
    const e = new Emit(graph, node);
    const [x, w, bias] = node.inputs;
    // Reordered once, also when k depthwise convs read it.
    const input = e.op('input', 'ReorderInput', [x], {}, NCHWC_DOMAIN);
    if (conv.kind !== 'multiplier') {
      blockedConvNodes(e, '', input, w, conv.weight, bias, node.attrs, block, node.outputs[0]);
      return e.nodes;
    }
    // Output channel g*k + i reads input channel g: the i-th depthwise conv takes weights i, i+k, ...
    const [m, , kh, kw] = conv.weight;
    const k = conv.multiplier;
    const group = m / k;
    const [n, , oh, ow] = conv.output;
    const perOutput = e.op('weight_by_output', 'Reshape', [w, e.ints('weight_by_output_shape', [group, k, kh * kw])]);
    const parts = Array.from({ length: k }, (_, i) => {
      const wi = e.op(`weight_${i}`, 'Slice', [perOutput, e.ints(`start_${i}`, [i]), e.ints(`end_${i}`, [i + 1]), e.ints(`axis_${i}`, [1])]);
      const yi = e.name(`part_${i}`);
      blockedConvNodes(e, `${i}/`, input, wi, [group, 1, kh, kw], undefined, node.attrs, block, yi);
      return e.op(`column_${i}`, 'Reshape', [yi, e.ints(`column_shape_${i}`, [n, group, 1, oh * ow])]);
    });
    const interleaved = e.op('interleaved', 'Concat', parts, { axis: attr.int(2) });
    e.op('output', 'Reshape', [interleaved, e.ints('output_shape', conv.output)], {}, '', node.outputs[0]);
    return e.nodes;
  });
  return rewritten;
}
