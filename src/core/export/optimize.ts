import { consumers, floatData, producers, pruneInitializers, replaceUses } from '../graph/edit';
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

/** Conv/Gemm followed by BN: scale each output channel's weights, fold the shift into the bias. */
function foldIntoPreceding(graph: Graph): number {
  let folded = 0;
  for (const bn of graph.nodes.slice()) {
    if (!isBatchNormFoldable(graph, bn)) continue;
    const prev = producers(graph).get(bn.inputs[0]);
    if (!prev || !(prev.opType === 'Conv' || isPlainGemm(prev))) continue;
    if ((consumers(graph).get(prev.outputs[0]) ?? []).length !== 1 || graph.outputs.some((o) => o.name === prev.outputs[0])) continue;
    if (!graph.initializers.has(prev.inputs[1])) continue;
    const { a, shift } = bnAffine(graph, bn);
    const w = floatData(graph, prev.inputs[1]);
    const per = w.length / a.length;
    for (let o = 0; o < a.length; o++) for (let i = 0; i < per; i++) w[o * per + i] *= a[o];
    const bias = ensureBias(graph, prev, a.length);
    for (let o = 0; o < a.length; o++) bias[o] = bias[o] * a[o] + shift[o];
    graph.nodes.splice(graph.nodes.indexOf(bn), 1);
    replaceUses(graph, bn.outputs[0], prev.outputs[0]);
    folded++;
  }
  return folded;
}

/**
 * BN (optionally through Flatten) followed by Gemm: input feature j = c * S + s of the Gemm
 * sees a[c] * x + shift[c], so W[:, j] *= a[c] and the bias gains sum_j W[:, j] * shift[c].
 */
function foldIntoFollowingGemm(graph: Graph): number {
  let folded = 0;
  for (const bn of graph.nodes.slice()) {
    if (!isBatchNormFoldable(graph, bn)) continue;
    const uses = consumers(graph);
    const next = uses.get(bn.outputs[0]) ?? [];
    if (next.length !== 1 || graph.outputs.some((o) => o.name === bn.outputs[0])) continue;
    let flatten: Node | undefined;
    let gemm = next[0];
    if (gemm.opType === 'Flatten' && (getAttr(gemm, 'axis', 'int') ?? 1) === 1) {
      flatten = gemm;
      const after = uses.get(flatten.outputs[0]) ?? [];
      if (after.length !== 1) continue;
      gemm = after[0];
    }
    if (!isPlainGemm(gemm) || gemm.inputs[0] !== (flatten ?? bn).outputs[0] || !graph.initializers.has(gemm.inputs[1])) continue;
    const { a, shift } = bnAffine(graph, bn);
    const w = floatData(graph, gemm.inputs[1]);
    const outF = graph.initializers.get(gemm.inputs[1])!.tensor.dims[0];
    const inF = w.length / outF;
    if (inF % a.length !== 0) continue;
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
    graph.nodes.splice(graph.nodes.indexOf(bn), 1);
    replaceUses(graph, bn.outputs[0], bn.inputs[0]);
    folded++;
  }
  return folded;
}

/** Dropout and Identity are no-ops at inference; route their readers to their input. */
function removeNoops(graph: Graph): number {
  let removed = 0;
  for (const node of graph.nodes.slice()) {
    if (node.opType !== 'Dropout' && node.opType !== 'Identity') continue;
    if (node.outputs.length > 1 && node.outputs[1] !== '') continue;
    graph.nodes.splice(graph.nodes.indexOf(node), 1);
    replaceUses(graph, node.outputs[0], node.inputs[0]);
    removed++;
  }
  return removed;
}

export interface OptimizeReport {
  removedNoops: number;
  foldedBatchNorms: number;
  remainingBatchNorms: number;
}

/** Rewrites `graph` in place for inference. */
export function optimizeForInference(graph: Graph): OptimizeReport {
  const removedNoops = removeNoops(graph);
  const foldedBatchNorms = foldIntoPreceding(graph) + foldIntoFollowingGemm(graph);
  pruneInitializers(graph);
  const remainingBatchNorms = graph.nodes.filter((n) => n.opType === 'BatchNormalization').length;
  return { removedNoops, foldedBatchNorms, remainingBatchNorms };
}
