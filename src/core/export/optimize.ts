import { consumers, floatData, producers, pruneInitializers, removeNode } from '../graph/edit';
import { Graph, Node, float32Tensor, getAttr } from '../graph/types';

/**
 * Inference-time rewrites for export: Dropout/Identity removed, and BatchNormalization folded
 * into the Conv or Gemm beside it, so the deployed graph does no normalisation arithmetic.
 * BatchNorms that cannot be folded exactly (e.g. before a padded Conv) are left in place.
 */

/** Per-channel affine form of an inference BatchNorm: y = a * x + shift. */
function bnAffine(graph: Graph, bn: Node): { a: Float32Array; shift: Float32Array } {
  const [, scaleName, biasName, meanName, varName] = bn.inputs;
  const gamma = floatData(graph, scaleName);
  const beta = floatData(graph, biasName);
  const mean = floatData(graph, meanName);
  const variance = floatData(graph, varName);
  const eps = getAttr(bn, 'epsilon', 'float') ?? 1e-5;
  const a = new Float32Array(gamma.length);
  const shift = new Float32Array(gamma.length);
  for (let c = 0; c < gamma.length; c++) {
    a[c] = gamma[c] / Math.sqrt(variance[c] + eps);
    shift[c] = beta[c] - mean[c] * a[c];
  }
  return { a, shift };
}

function isBatchNormFoldable(graph: Graph, bn: Node): boolean {
  return bn.opType === 'BatchNormalization' && bn.outputs.length === 1 && bn.inputs.slice(1).every((t) => graph.initializers.has(t));
}

/** The bias initializer of a Conv/Gemm, created as zeros when absent. */
function ensureBias(graph: Graph, node: Node, channels: number): Float32Array {
  if (node.inputs[2]) return floatData(graph, node.inputs[2]);
  const name = node.inputs[1].replace(/weight$/, '') + (node.inputs[1].endsWith('weight') ? 'bias' : '.bias');
  graph.initializers.set(name, { name, role: 'trainable', tensor: float32Tensor([channels]) });
  node.inputs[2] = name;
  return floatData(graph, name);
}

function isPlainGemm(node: Node): boolean {
  return (
    node.opType === 'Gemm' &&
    (getAttr(node, 'transA', 'int') ?? 0) === 0 &&
    (getAttr(node, 'transB', 'int') ?? 0) === 1 &&
    (getAttr(node, 'alpha', 'float') ?? 1) === 1 &&
    (getAttr(node, 'beta', 'float') ?? 1) === 1
  );
}

/**
 * Tries `fold` on every foldable BatchNorm; where it returns the tensor that now carries the
 * BN's result, the BN node is removed and its readers rewired.
 */
function foldEach(graph: Graph, fold: (bn: Node) => string | undefined): number {
  let folded = 0;
  for (const bn of graph.nodes.slice()) {
    if (!isBatchNormFoldable(graph, bn)) continue;
    const replacement = fold(bn);
    if (replacement === undefined) continue;
    removeNode(graph, bn, replacement);
    folded++;
  }
  return folded;
}

/** Conv/Gemm followed by BN: scale each output channel's weights, fold the shift into the bias. */
function foldIntoPreceding(graph: Graph, bn: Node): string | undefined {
  const prev = producers(graph).get(bn.inputs[0]);
  if (!prev || !(prev.opType === 'Conv' || isPlainGemm(prev))) return undefined;
  if ((consumers(graph).get(prev.outputs[0]) ?? []).length !== 1 || graph.outputs.some((o) => o.name === prev.outputs[0])) return undefined;
  if (!graph.initializers.has(prev.inputs[1])) return undefined;
  const { a, shift } = bnAffine(graph, bn);
  const w = floatData(graph, prev.inputs[1]);
  const per = w.length / a.length;
  for (let o = 0; o < a.length; o++) for (let i = 0; i < per; i++) w[o * per + i] *= a[o];
  const bias = ensureBias(graph, prev, a.length);
  for (let o = 0; o < a.length; o++) bias[o] = bias[o] * a[o] + shift[o];
  return prev.outputs[0];
}

/** The Gemm that reads `bn`'s output, directly or through a Flatten(axis=1), if it is the only reader. */
function followingGemm(graph: Graph, bn: Node): Node | undefined {
  const uses = consumers(graph);
  const only = (t: string) => {
    const readers = uses.get(t) ?? [];
    return readers.length === 1 && !graph.outputs.some((o) => o.name === t) ? readers[0] : undefined;
  };
  let next = only(bn.outputs[0]);
  if (next?.opType === 'Flatten' && (getAttr(next, 'axis', 'int') ?? 1) === 1) next = only(next.outputs[0]);
  return next && isPlainGemm(next) && graph.initializers.has(next.inputs[1]) ? next : undefined;
}

/**
 * BN (optionally through Flatten) followed by Gemm: input feature j = c * S + s of the Gemm
 * sees a[c] * x + shift[c], so W[:, j] *= a[c] and the bias gains sum_j W[:, j] * shift[c].
 */
function foldIntoFollowingGemm(graph: Graph, bn: Node): string | undefined {
  const gemm = followingGemm(graph, bn);
  if (!gemm) return undefined;
  const { a, shift } = bnAffine(graph, bn);
  const w = floatData(graph, gemm.inputs[1]);
  const outF = graph.initializers.get(gemm.inputs[1])!.tensor.dims[0];
  const inF = w.length / outF;
  if (inF % a.length !== 0) return undefined;
  const spatial = inF / a.length;
  const bias = ensureBias(graph, gemm, outF);
  for (let o = 0; o < outF; o++) {
    let extra = 0;
    for (let j = 0; j < inF; j++) {
      const c = Math.floor(j / spatial);
      extra += w[o * inF + j] * shift[c];
      w[o * inF + j] *= a[c];
    }
    bias[o] += extra;
  }
  return bn.inputs[0];
}

/** Dropout and Identity are no-ops at inference; route their readers to their input. */
function removeNoops(graph: Graph): number {
  const noops = graph.nodes.filter((n) => (n.opType === 'Dropout' || n.opType === 'Identity') && (n.outputs.length === 1 || n.outputs[1] === ''));
  for (const node of noops) removeNode(graph, node, node.inputs[0]);
  return noops.length;
}

export interface OptimizeReport {
  removedNoops: number;
  foldedBatchNorms: number;
  remainingBatchNorms: number;
}

/** Rewrites `graph` in place for inference. */
export function optimizeForInference(graph: Graph): OptimizeReport {
  const removedNoops = removeNoops(graph);
  const foldedBatchNorms = foldEach(graph, (bn) => foldIntoPreceding(graph, bn)) + foldEach(graph, (bn) => foldIntoFollowingGemm(graph, bn));
  pruneInitializers(graph);
  const remainingBatchNorms = graph.nodes.filter((n) => n.opType === 'BatchNormalization').length;
  return { removedNoops, foldedBatchNorms, remainingBatchNorms };
}
