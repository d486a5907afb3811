import { inferShapes } from './shapes';
import { Dim, Graph, getAttr, numel } from './types';

/**
 * Parameter and FLOP counts. Parameters are the trainable initializers (what PyTorch's
 * `parameters()` counts: BatchNorm running statistics excluded). FLOPs are 2 x multiply-adds
 * of the dense ops (Conv, ConvTranspose, Gemm, MatMul) for one image, the convention of the
 * papers and of insightface's reported figures; elementwise ops are not counted.
 */

export function countParams(graph: Graph): number {
  let n = 0;
  for (const init of graph.initializers.values()) if (init.role === 'trainable') n += numel(init.tensor.dims);
  return n;
}

/** Symbolic dimensions (the batch) count as 1, so the result is per image. */
function perImage(dims: Dim[]): number {
  return numel(dims.map((d) => (typeof d === 'number' ? d : 1)));
}

export interface FlopBreakdown {
  total: number;
  byOp: Record<string, number>;
}

export function countFlops(graph: Graph): FlopBreakdown {
  const shapes = inferShapes(graph);
  const shapeOf = (t: string) => {
    const info = shapes.get(t);
    if (!info) throw new Error(`no shape for ${t}`);
    return info.shape;
  };
  const byOp: Record<string, number> = {};
  let total = 0;
  for (const node of graph.nodes) {
    let macs = 0;
    switch (node.opType) {
      case 'Conv': {
        const w = shapeOf(node.inputs[1]) as number[];
        macs = perImage(shapeOf(node.outputs[0])) * numel(w.slice(1));
        break;
      }
      case 'ConvTranspose': {
        const w = shapeOf(node.inputs[1]) as number[];
        macs = perImage(shapeOf(node.inputs[0])) * numel(w.slice(1));
        break;
      }
      case 'Gemm': {
        const b = shapeOf(node.inputs[1]) as number[];
        const out = shapeOf(node.outputs[0]);
        const transB = (getAttr(node, 'transB', 'int') ?? 0) === 1;
        macs = perImage(out) * (transB ? b[1] : b[0]);
        break;
      }
      case 'MatMul': {
        const a = shapeOf(node.inputs[0]);
        macs = perImage(shapeOf(node.outputs[0])) * (a[a.length - 1] as number);
        break;
      }
      default:
        continue;
    }
    byOp[node.opType] = (byOp[node.opType] ?? 0) + 2 * macs;
    total += 2 * macs;
  }
  return { total, byOp };
}
