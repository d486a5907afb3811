import * as ort from 'onnxruntime-node';
import { onnx } from 'onnx-proto';
import { buildTrainingForward, buildTrainingGraph, sampleDropoutMask } from '../../src/core/autodiff';
import { TrainingSpec } from '../../src/core/autodiff/trainingGraph';
import { graphToModelProto } from '../../src/core/graph/onnx';
import { cloneGraph } from '../../src/core/graph/edit';
import { Graph, Node, Shape, float32Tensor, getAttr, numel } from '../../src/core/graph/types';
import { Rng } from '../../src/core/util/rng';

/**
 * Gradient check: the training graph's gradients against central finite differences of the
 * training-mode forward graph, both run in onnxruntime.
 *
 * Precision: where onnxruntime's CPU kernels exist for double, both graphs are promoted to
 * float64 (every float tensor, constant and Cast target rewritten), so the differences are
 * nearly exact and the tolerance can be tight. Conv, ConvTranspose, GlobalAveragePool and Acos
 * have float kernels only; those cases run in float32 with the step chosen per case (large for
 * ops that are linear in each input, where a central difference is exact for any step).
 * The step actually taken is the difference of the two representable perturbed values.
 */

export type Precision = 'float32' | 'float64';

export interface Tolerance {
  atol: number;
  rtol: number;
}

/** Stated tolerances: |analytic - numeric| <= atol + rtol * |numeric| for every checked coordinate. */
export const TOLERANCES: Record<Precision, Tolerance> = {
  float64: { atol: 1e-7, rtol: 1e-6 },
  float32: { atol: 2e-4, rtol: 2e-4 },
};

export const DEFAULT_STEPS: Record<Precision, number> = { float64: 1e-6, float32: 1e-2 };

export interface DataFeed {
  data: Float32Array;
  dims: number[];
}

export interface GradcheckOptions extends Omit<TrainingSpec, 'loss'> {
  loss?: string;
  precision?: Precision;
  step?: number;
  tolerance?: Tolerance;
  /** Values of the forward graph's own inputs (images, labels). */
  inputs?: Record<string, DataFeed>;
  /** Values of symbolic dimensions (for dropout masks), e.g. { N: 4 }. */
  symbols?: Record<string, number>;
  /**
   * When the loss is sum(tensor * weights), the finite differences recompute it in double from
   * `tensor`, so float32 rounding of the graph's own reduction does not swamp small steps.
   */
  weightedSum?: { tensor: string; weights: Float32Array };
  /** Coordinates checked per parameter; larger parameters are sampled (always with the first and last). */
  maxCoordinates?: number;
  seed?: number;
}

export interface ParamReport {
  param: string;
  checked: number;
  maxAbsError: number;
  /** Largest |analytic - numeric| / (atol + rtol |numeric|): above 1 fails. */
  worstRatio: number;
  worst: { index: number; analytic: number; numeric: number };
}

export interface GradcheckReport {
  pass: boolean;
  precision: Precision;
  params: ParamReport[];
  /** Why the check could not run or compare (shape mismatch, onnxruntime rejecting the graph). */
  error?: string;
}

const FLOAT = 1;
const DOUBLE = 11;

function promoteTensor(t: onnx.ITensorProto): void {
  if (t.dataType !== FLOAT) return;
  const raw = t.rawData ?? new Uint8Array();
  const values = new Float32Array(raw.slice().buffer);
  t.rawData = new Uint8Array(Float64Array.from(values).buffer);
  t.dataType = DOUBLE;
}

/**
 * HardSigmoid (the autodiff's one-pass indicator) has a float kernel only: for double, its ONNX
 * definition clamp(alpha * x + beta, 0, 1) as Mul, Add and Clip.
 */
function hardSigmoidExpanded(graph: Graph): Graph {
  if (!graph.nodes.some((n) => n.opType === 'HardSigmoid')) return graph;
  const out = cloneGraph(graph);
  const constant = (name: string, value: number) => {
    out.initializers.set(name, { name, role: 'constant', tensor: float32Tensor([], Float32Array.of(value)) });
    return name;
  };
  out.nodes = out.nodes.flatMap((n): Node[] => {
    if (n.opType !== 'HardSigmoid') return [n];
    const alpha = constant(`${n.name}/alpha`, getAttr(n, 'alpha', 'float') ?? 0.2);
    const beta = constant(`${n.name}/beta`, getAttr(n, 'beta', 'float') ?? 0.5);
    const node = (suffix: string, opType: string, inputs: string[], output = `${n.name}/${suffix}`): Node => ({ name: `${n.name}/${suffix}`, opType, domain: '', inputs, outputs: [output], attrs: {} });
    return [
      node('scaled', 'Mul', [n.inputs[0], alpha]),
      node('shifted', 'Add', [`${n.name}/scaled`, beta]),
      node('clamped', 'Clip', [`${n.name}/shifted`, constant(`${n.name}/zero`, 0), constant(`${n.name}/one`, 1)], n.outputs[0]),
    ];
  });
  return out;
}

/** The model bytes in the requested precision (float32 tensors, constants and Cast targets promoted to double). */
export function modelBytes(graph: Graph, precision: Precision): Uint8Array {
  const model = graphToModelProto(precision === 'float64' ? hardSigmoidExpanded(graph) : graph);
  if (precision === 'float64') {
    const g = model.graph as onnx.IGraphProto;
    for (const t of g.initializer ?? []) promoteTensor(t);
    for (const v of [...(g.input ?? []), ...(g.output ?? [])]) {
      const tt = v.type?.tensorType;
      if (tt && tt.elemType === FLOAT) tt.elemType = DOUBLE;
    }
    for (const n of g.node ?? []) {
      for (const a of n.attribute ?? []) {
        if (a.t) promoteTensor(a.t);
        if (n.opType === 'Cast' && a.name === 'to' && Number(a.i) === FLOAT) a.i = DOUBLE;
      }
    }
  }
  return onnx.ModelProto.encode(model).finish();
}

export async function session(graph: Graph, precision: Precision): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(modelBytes(graph, precision), {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    logSeverityLevel: 4,
  });
}

export function tensor(values: Float32Array, dims: readonly number[], precision: Precision): ort.Tensor {
  return precision === 'float64' ? new ort.Tensor('float64', Float64Array.from(values), dims) : new ort.Tensor('float32', values, dims);
}

function resolve(shape: Shape, symbols: Record<string, number>): number[] {
  return shape.map((d) => {
    if (typeof d === 'number') return d;
    const v = symbols[d];
    if (v === undefined) throw new Error(`gradcheck: no value for symbolic dimension ${d}`);
    return v;
  });
}

function sampleIndices(count: number, max: number, rng: Rng): number[] {
  if (count <= max) return Array.from({ length: count }, (_, i) => i);
  const picked = new Set<number>([0, count - 1]);
  while (picked.size < max) picked.add(rng.int(count));
  return [...picked].sort((a, b) => a - b);
}

export async function gradcheck(forward: Graph, opts: GradcheckOptions = {}): Promise<GradcheckReport> {
  const precision = opts.precision ?? 'float64';
  const step = opts.step ?? DEFAULT_STEPS[precision];
  const tol = opts.tolerance ?? TOLERANCES[precision];
  const spec: TrainingSpec = { ...opts, loss: opts.loss ?? 'loss' };
  const report: GradcheckReport = { pass: false, precision, params: [] };
  const rng = new Rng(opts.seed ?? 1, 'gradcheck');

  const training = buildTrainingGraph(forward, spec);
  const weighted = opts.weightedSum;
  const plain = buildTrainingForward(forward, { ...spec, extraOutputs: weighted ? [weighted.tensor] : [] });
  const values = new Map<string, Float32Array>();
  const dims = new Map<string, number[]>();
  for (const p of training.params) {
    const t = forward.initializers.get(p)?.tensor;
    values.set(p, (t?.data as Float32Array).slice());
    dims.set(p, t?.dims as number[]);
  }
  const fixed: Record<string, ort.Tensor> = {};
  for (const [name, feed] of Object.entries(opts.inputs ?? {})) fixed[name] = tensor(feed.data, feed.dims, precision);
  for (const m of training.dropoutMasks) {
    const maskDims = resolve(m.shape, opts.symbols ?? {});
    fixed[m.input] = tensor(sampleDropoutMask(new Rng(opts.seed ?? 1, m.input), numel(maskDims), m.ratio), maskDims, precision);
  }
  const feeds = (): Record<string, ort.Tensor> => {
    const out = { ...fixed };
    for (const [p, v] of values) out[p] = tensor(v, dims.get(p) as number[], precision);
    return out;
  };

  try {
    const trainSession = await session(training.graph, precision);
    const forwardSession = await session(plain.graph, precision);
    const analytic = await trainSession.run(feeds());
    const lossAt = async (): Promise<number> => {
      if (!weighted) return Number((await forwardSession.run(feeds(), [plain.loss]))[plain.loss].data[0]);
      const y = (await forwardSession.run(feeds(), [weighted.tensor]))[weighted.tensor].data as Float32Array | Float64Array;
      let sum = 0;
      for (let i = 0; i < y.length; i++) sum += y[i] * weighted.weights[i];
      return sum;
    };
    for (const p of training.params) {
      const grad = analytic[training.gradOutputs.get(p) as string];
      const v = values.get(p) as Float32Array;
      if (grad.data.length !== v.length) throw new Error(`gradient of ${p} has ${grad.data.length} values, the parameter ${v.length}`);
      const pr: ParamReport = { param: p, checked: 0, maxAbsError: 0, worstRatio: 0, worst: { index: -1, analytic: 0, numeric: 0 } };
      for (const i of sampleIndices(v.length, opts.maxCoordinates ?? 1000, rng)) {
        const original = v[i];
        v[i] = original + step;
        const up = v[i];
        const lossUp = await lossAt();
        v[i] = original - step;
        const down = v[i];
        const lossDown = await lossAt();
        v[i] = original;
        const numeric = (lossUp - lossDown) / (up - down);
        const a = Number(grad.data[i]);
        const err = Math.abs(a - numeric);
        // NaN anywhere counts as the worst possible error.
        const ratio = Number.isNaN(err) ? Infinity : err / (tol.atol + tol.rtol * Math.abs(numeric));
        pr.checked++;
        pr.maxAbsError = Math.max(pr.maxAbsError, Number.isNaN(err) ? Infinity : err);
        if (pr.worst.index < 0 || ratio > pr.worstRatio) {
          pr.worstRatio = ratio;
          pr.worst = { index: i, analytic: a, numeric };
        }
      }
      report.params.push(pr);
    }
    await trainSession.release();
    await forwardSession.release();
  } catch (e) {
    report.error = (e as Error).message.split('\n')[0];
    return report;
  }
  report.pass = report.params.every((p) => p.worstRatio <= 1);
  return report;
}

/** One line per parameter, for failure messages and the measured-error table. */
export function formatReport(report: GradcheckReport): string {
  if (report.error) return `error: ${report.error}`;
  return report.params
    .map((p) => `${p.param}: ${p.checked} coords, max |err| ${p.maxAbsError.toExponential(2)}, worst ratio ${p.worstRatio.toFixed(3)} (at ${p.worst.index}: analytic ${p.worst.analytic}, numeric ${p.worst.numeric})`)
    .join('\n');
}
