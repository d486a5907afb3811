import { consumers } from '../../graph/edit';
import { Graph, Node, getAttr } from '../../graph/types';

/**
 * Cross-layer equalization (Nagel et al. 2019, "Data-Free Quantization"), aimed at the
 * activations: int8 activations share one scale per tensor, so a few loud channels (face nets
 * show 10-20x spreads between channel maxima) squeeze every other channel into a handful of
 * levels. For Conv P -> [Relu | PRelu | LeakyRelu] -> Conv C, dividing P's output channel c by
 * s_c and multiplying C's weights reading channel c by s_c leaves the float function unchanged
 * (these activations are positively homogeneous: f(x / s) = f(x) / s for s > 0), and lets every
 * channel of the tensor in between span the same range.
 *
 * P's weights are quantized per output channel, so dividing them costs nothing. When C is
 * depthwise its weights are per channel too and s_c simply equalizes the activation ranges;
 * otherwise s_c = sqrt(a_c / w_c) balances activation range a_c against C's weight range w_c
 * for that input channel, as the paper balances two weight ranges.
 */

const HOMOGENEOUS = new Set(['Relu', 'PRelu', 'LeakyRelu']);

export interface EqualizationPair {
  producer: Node;
  activation?: Node;
  consumer: Node;
  /** The tensors whose channels are rescaled: P's output, and the activation's output. */
  tensors: string[];
}

function floatInit(graph: Graph, name: string | undefined): Float32Array | undefined {
  const t = name ? graph.initializers.get(name)?.tensor : undefined;
  return t?.dtype === 'float32' ? (t.data as Float32Array) : undefined;
}

function dimsOf(graph: Graph, name: string): number[] {
  return graph.initializers.get(name)?.tensor.dims ?? [];
}

/** A per-channel (or scalar) PReLU slope, which stays valid after channel rescaling. */
function slopeIsPerChannel(graph: Graph, act: Node, channels: number): boolean {
  if (act.opType !== 'PRelu') return true;
  const dims = dimsOf(graph, act.inputs[1]);
  const count = dims.reduce((a, b) => a * b, 1);
  if (!floatInit(graph, act.inputs[1])) return false;
  if (count === 1) return true;
  // [C,1,1] or [1,C,1,1]: the channel axis is the one holding all the values.
  return count === channels && (dims.length === 3 ? dims[0] === channels : dims.length === 4 && dims[1] === channels);
}

/** Conv P whose output goes (through one homogeneous activation) only to Conv C's data input. */
export function findEqualizationPairs(graph: Graph): EqualizationPair[] {
  const readers = consumers(graph);
  const outputs = new Set(graph.outputs.map((o) => o.name));
  const initUses = (name: string) => readers.get(name)?.length ?? 0;
  const soleReader = (t: string) => (!outputs.has(t) && readers.get(t)?.length === 1 ? readers.get(t)?.[0] : undefined);
  const ownsWeights = (n: Node) => floatInit(graph, n.inputs[1]) !== undefined && initUses(n.inputs[1]) === 1 && (!n.inputs[2] || (floatInit(graph, n.inputs[2]) !== undefined && initUses(n.inputs[2]) === 1));
  const pairs: EqualizationPair[] = [];
  for (const producer of graph.nodes) {
    if (producer.opType !== 'Conv' || !ownsWeights(producer)) continue;
    const channels = dimsOf(graph, producer.inputs[1])[0];
    let next = soleReader(producer.outputs[0]);
    let activation: Node | undefined;
    if (next && HOMOGENEOUS.has(next.opType)) {
      activation = next;
      if (!slopeIsPerChannel(graph, activation, channels)) continue;
      next = soleReader(activation.outputs[0]);
    }
    if (!next || next.opType !== 'Conv' || next.inputs[0] !== (activation ?? producer).outputs[0] || !ownsWeights(next)) continue;
    const group = getAttr(next, 'group', 'int') ?? 1;
    if (dimsOf(graph, next.inputs[1])[1] * group !== channels) continue;
    pairs.push({ producer, activation, consumer: next, tensors: activation ? [producer.outputs[0], activation.outputs[0]] : [producer.outputs[0]] });
  }
  return pairs;
}

/** For input channel c of a (grouped) conv weight [O, C/g, ...]: the flat indices reading it. */
function forInputChannel(dims: readonly number[], group: number, c: number, visit: (i: number) => void): void {
  const [outC, perGroup] = dims;
  const spatial = dims.slice(2).reduce((a, b) => a * b, 1);
  const g = Math.floor(c / perGroup);
  const j = c % perGroup;
  const outPerGroup = outC / group;
  for (let o = g * outPerGroup; o < (g + 1) * outPerGroup; o++) {
    const base = (o * perGroup + j) * spatial;
    for (let k = 0; k < spatial; k++) visit(base + k);
  }
}

/** The rescaling factor of each channel; 1 where a range is zero (dead channels stay as they are). */
export function equalizationScales(activationMax: Float32Array, consumerWeightMax: Float32Array | undefined): Float64Array {
  const raw = Float64Array.from(activationMax, (a, c) => {
    const w = consumerWeightMax?.[c] ?? 1;
    if (!(a > 0) || !(w > 0)) return NaN;
    return consumerWeightMax ? Math.sqrt(a / w) : a;
  });
  // Normalise by the geometric mean so that magnitudes stay where they were overall.
  const valid = raw.filter((v) => Number.isFinite(v));
  const mean = valid.length > 0 ? Math.exp(valid.reduce((s, v) => s + Math.log(v), 0) / valid.length) : 1;
  return raw.map((v) => (Number.isFinite(v) ? v / mean : 1));
}

/**
 * Rescales each pair in place, using the per-channel maxima of its tensors (from calibration);
 * returns how many pairs were equalized.
 */
export function equalizePairs(graph: Graph, pairs: readonly EqualizationPair[], channelMax: Map<string, Float32Array>): number {
  let done = 0;
  for (const pair of pairs) {
    const wP = floatInit(graph, pair.producer.inputs[1]) as Float32Array;
    const dimsP = dimsOf(graph, pair.producer.inputs[1]);
    const channels = dimsP[0];
    const maxima = pair.tensors.map((t) => channelMax.get(t));
    if (maxima.some((m) => !m || m.length !== channels)) continue;
    const a = Float32Array.from({ length: channels }, (_, c) => Math.max(...maxima.map((m) => (m as Float32Array)[c])));
    const wC = floatInit(graph, pair.consumer.inputs[1]) as Float32Array;
    const dimsC = dimsOf(graph, pair.consumer.inputs[1]);
    const group = getAttr(pair.consumer, 'group', 'int') ?? 1;
    const depthwise = dimsC[1] === 1 && group === channels;
    let consumerMax: Float32Array | undefined;
    if (!depthwise) {
      consumerMax = new Float32Array(channels);
      for (let c = 0; c < channels; c++) forInputChannel(dimsC, group, c, (i) => (consumerMax![c] = Math.max(consumerMax![c], Math.abs(wC[i]))));
    }
    const s = equalizationScales(a, consumerMax);
    const perOut = wP.length / channels;
    const bP = floatInit(graph, pair.producer.inputs[2]);
    for (let c = 0; c < channels; c++) {
      for (let i = 0; i < perOut; i++) wP[c * perOut + i] /= s[c];
      if (bP) bP[c] /= s[c];
      forInputChannel(dimsC, group, c, (i) => (wC[i] *= s[c]));
    }
    done++;
  }
  return done;
}
