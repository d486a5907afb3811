import { DTYPE_OF_ONNX_CODE, DType, Dim, Graph, Node, Shape, TensorData, ValueInfo, getAttr } from './types';

/**
 * Static shape inference with symbolic dimensions. The batch stays a symbol ('N'), so one
 * inferred graph serves every batch size. A rule per op type keeps each op's semantics local.
 */

export class ShapeError extends Error {}

interface Ctx {
  node: Node;
  shapes: Shape[];
  /** Constant values of inputs that are initializers (for Reshape's shape, Pad's pads...). */
  constants: (TensorData | undefined)[];
}

type Rule = (ctx: Ctx) => Shape[];

function constInts(ctx: Ctx, i: number): number[] {
  const t = ctx.constants[i];
  if (!t) throw new ShapeError(`${ctx.node.opType} ${ctx.node.name}: input ${i} must be a constant`);
  return Array.from(t.data as ArrayLike<number | bigint>, (v) => Number(v));
}

function isNum(d: Dim): d is number {
  return typeof d === 'number';
}

function symbolicProduct(dims: Dim[]): { known: number; symbols: string[] } {
  let known = 1;
  const symbols: string[] = [];
  for (const d of dims) if (isNum(d)) known *= d;
  else symbols.push(d);
  return { known, symbols };
}

function symbol(known: number, symbols: string[]): Dim {
  if (symbols.length === 0) return known;
  return known === 1 ? symbols.join('*') : `${symbols.join('*')}*${known}`;
}

export function broadcast(a: Shape, b: Shape, where = ''): Shape {
  const n = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    if (x === 1) out.push(y);
    else if (y === 1 || x === y) out.push(x);
    else if (!isNum(x) || !isNum(y)) out.push(isNum(x) ? y : x);
    else throw new ShapeError(`${where}cannot broadcast [${a}] with [${b}]`);
  }
  return out;
}

/**
 * x's channel count (axis 1, static) when `operand`, broadcast against x, varies at most along
 * that axis (a per-channel or a single value: PReLU slopes, per-channel scales), else undefined.
 */
export function channelCountOf(x: Shape, operand: Shape): number | undefined {
  if (x.length < 2 || operand.length > x.length || typeof x[1] !== 'number') return undefined;
  const aligned: Shape = [...new Array<number>(x.length - operand.length).fill(1), ...operand];
  return aligned.every((d, i) => d === 1 || (i === 1 && d === x[1])) ? x[1] : undefined;
}

function spatialOut(size: Dim, k: number, stride: number, padBegin: number, padEnd: number, dilation: number, ceil = false): Dim {
  if (!isNum(size)) return size;
  const span = size + padBegin + padEnd - dilation * (k - 1) - 1;
  return (ceil ? Math.ceil(span / stride) : Math.floor(span / stride)) + 1;
}

function windowed(ctx: Ctx, channelsOut: Dim, kernel: number[]): Shape {
  const x = ctx.shapes[0];
  const rank = kernel.length;
  const strides = getAttr(ctx.node, 'strides', 'ints') ?? kernel.map(() => 1);
  const dil = getAttr(ctx.node, 'dilations', 'ints') ?? kernel.map(() => 1);
  const pads = getAttr(ctx.node, 'pads', 'ints') ?? new Array(2 * rank).fill(0);
  const autoPad = getAttr(ctx.node, 'auto_pad', 'string') ?? 'NOTSET';
  if (autoPad !== 'NOTSET' && autoPad !== 'VALID') {
    return [x[0], channelsOut, ...x.slice(2).map((s, i) => (isNum(s) ? Math.ceil(s / strides[i]) : s))];
  }
  const ceil = (getAttr(ctx.node, 'ceil_mode', 'int') ?? 0) === 1;
  return [x[0], channelsOut, ...x.slice(2).map((s, i) => spatialOut(s, kernel[i], strides[i], pads[i], pads[i + rank], dil[i], ceil))];
}

const same: Rule = (c) => [c.shapes[0]];
const binary: Rule = (c) => [broadcast(c.shapes[0], c.shapes[1], `${c.node.opType} ${c.node.name}: `)];

function reduce(c: Ctx, axesFromInput: boolean): Shape[] {
  const x = c.shapes[0];
  const keep = (getAttr(c.node, 'keepdims', 'int') ?? 1) === 1;
  let axes = axesFromInput ? (c.node.inputs[1] ? constInts(c, 1) : undefined) : getAttr(c.node, 'axes', 'ints');
  if (!axes || axes.length === 0) axes = x.map((_, i) => i);
  const norm = new Set(axes.map((a) => (a < 0 ? a + x.length : a)));
  const out: Dim[] = [];
  x.forEach((d, i) => {
    if (!norm.has(i)) out.push(d);
    else if (keep) out.push(1);
  });
  return [out];
}

const rules: Record<string, Rule> = {
  Identity: same,
  Relu: same,
  PRelu: same,
  Sigmoid: same,
  Tanh: same,
  Exp: same,
  Log: same,
  Neg: same,
  Abs: same,
  Sqrt: same,
  Reciprocal: same,
  Cos: same,
  Acos: same,
  Sin: same,
  Clip: same,
  Softmax: same,
  LogSoftmax: same,
  LeakyRelu: same,
  Cast: same,
  Dropout: (c) => (c.node.outputs.length > 1 ? [c.shapes[0], c.shapes[0]] : [c.shapes[0]]),
  BatchNormalization: (c) => [c.shapes[0]],
  LpNormalization: same,
  Add: binary,
  Sub: binary,
  Mul: binary,
  Div: binary,
  Pow: binary,
  Max: binary,
  Min: binary,
  Sum: (c) => [c.shapes.reduce((acc, s) => broadcast(acc, s, `Sum ${c.node.name}: `))],
  Equal: binary,
  Greater: binary,
  Less: binary,
  Where: (c) => [broadcast(broadcast(c.shapes[0], c.shapes[1]), c.shapes[2])],
  Conv: (c) => {
    const w = c.shapes[1] as number[];
    const group = getAttr(c.node, 'group', 'int') ?? 1;
    const x = c.shapes[0];
    if (isNum(x[1]) && x[1] !== w[1] * group) {
      throw new ShapeError(`Conv ${c.node.name}: input has ${x[1]} channels, weight expects ${w[1] * group}`);
    }
    return [windowed(c, w[0], getAttr(c.node, 'kernel_shape', 'ints') ?? w.slice(2))];
  },
  ConvTranspose: (c) => {
    const x = c.shapes[0];
    const w = c.shapes[1] as number[];
    const group = getAttr(c.node, 'group', 'int') ?? 1;
    const k = getAttr(c.node, 'kernel_shape', 'ints') ?? w.slice(2);
    const rank = k.length;
    const strides = getAttr(c.node, 'strides', 'ints') ?? k.map(() => 1);
    const dil = getAttr(c.node, 'dilations', 'ints') ?? k.map(() => 1);
    const pads = getAttr(c.node, 'pads', 'ints') ?? new Array(2 * rank).fill(0);
    const outPad = getAttr(c.node, 'output_padding', 'ints') ?? k.map(() => 0);
    const explicit = getAttr(c.node, 'output_shape', 'ints');
    const spatial = x.slice(2).map((s, i) =>
      explicit ? explicit[i] : isNum(s) ? strides[i] * (s - 1) + outPad[i] + (k[i] - 1) * dil[i] + 1 - pads[i] - pads[i + rank] : s,
    );
    return [[x[0], w[1] * group, ...spatial]];
  },
  MaxPool: (c) => [windowed(c, c.shapes[0][1], getAttr(c.node, 'kernel_shape', 'ints') ?? [])],
  AveragePool: (c) => [windowed(c, c.shapes[0][1], getAttr(c.node, 'kernel_shape', 'ints') ?? [])],
  GlobalAveragePool: (c) => [[c.shapes[0][0], c.shapes[0][1], ...c.shapes[0].slice(2).map(() => 1)]],
  GlobalMaxPool: (c) => [[c.shapes[0][0], c.shapes[0][1], ...c.shapes[0].slice(2).map(() => 1)]],
  Flatten: (c) => {
    const x = c.shapes[0];
    let axis = getAttr(c.node, 'axis', 'int') ?? 1;
    if (axis < 0) axis += x.length;
    const a = symbolicProduct(x.slice(0, axis));
    const b = symbolicProduct(x.slice(axis));
    return [[symbol(a.known, a.symbols), symbol(b.known, b.symbols)]];
  },
  Reshape: (c) => {
    const x = c.shapes[0];
    const target = constInts(c, 1);
    const out: Dim[] = target.map((t, i) => (t === 0 ? x[i] : t));
    const infer = out.indexOf(-1);
    if (infer >= 0) {
      const whole = symbolicProduct(x);
      const rest = symbolicProduct(out.filter((_, i) => i !== infer));
      const symbols = whole.symbols.slice();
      for (const s of rest.symbols) {
        const at = symbols.indexOf(s);
        if (at < 0) throw new ShapeError(`Reshape ${c.node.name}: cannot infer -1 from [${x}] to [${target}]`);
        symbols.splice(at, 1);
      }
      if (whole.known % rest.known !== 0) throw new ShapeError(`Reshape ${c.node.name}: [${x}] does not divide into [${target}]`);
      out[infer] = symbol(whole.known / rest.known, symbols);
    } else {
      const a = symbolicProduct(x);
      const b = symbolicProduct(out);
      if (a.symbols.length === 0 && b.symbols.length === 0 && a.known !== b.known) {
        throw new ShapeError(`Reshape ${c.node.name}: [${x}] has ${a.known} elements, [${out}] needs ${b.known}`);
      }
    }
    return [out];
  },
  Transpose: (c) => {
    const x = c.shapes[0];
    const perm = getAttr(c.node, 'perm', 'ints') ?? x.map((_, i) => x.length - 1 - i);
    return [perm.map((p) => x[p])];
  },
  MatMul: (c) => {
    const a = c.shapes[0];
    const b = c.shapes[1];
    const batch = broadcast(a.slice(0, -2), b.slice(0, -2));
    if (isNum(a[a.length - 1]) && isNum(b[b.length - 2]) && a[a.length - 1] !== b[b.length - 2]) {
      throw new ShapeError(`MatMul ${c.node.name}: [${a}] x [${b}] inner sizes differ`);
    }
    return [[...batch, a[a.length - 2], b[b.length - 1]]];
  },
  Gemm: (c) => {
    const a = c.shapes[0];
    const b = c.shapes[1];
    const ta = (getAttr(c.node, 'transA', 'int') ?? 0) === 1;
    const tb = (getAttr(c.node, 'transB', 'int') ?? 0) === 1;
    const [m, ka] = ta ? [a[1], a[0]] : [a[0], a[1]];
    const [kb, n] = tb ? [b[1], b[0]] : [b[0], b[1]];
    if (isNum(ka) && isNum(kb) && ka !== kb) throw new ShapeError(`Gemm ${c.node.name}: inner sizes ${ka} and ${kb} differ`);
    return [[m, n]];
  },
  ReduceMean: (c) => reduce(c, false),
  ReduceMax: (c) => reduce(c, false),
  ReduceMin: (c) => reduce(c, false),
  ReduceL2: (c) => reduce(c, false),
  ReduceSumSquare: (c) => reduce(c, false),
  ReduceSum: (c) => reduce(c, true),
  Concat: (c) => {
    let axis = getAttr(c.node, 'axis', 'int') ?? 0;
    const first = c.shapes[0];
    if (axis < 0) axis += first.length;
    const along = c.shapes.map((s) => s[axis]);
    const total = along.every(isNum) ? (along as number[]).reduce((p, q) => p + q, 0) : along.join('+');
    return [first.map((d, i) => (i === axis ? total : d))];
  },
  Pad: (c) => {
    const pads = constInts(c, 1);
    const x = c.shapes[0];
    return [x.map((d, i) => (isNum(d) ? d + pads[i] + pads[i + x.length] : d))];
  },
  Unsqueeze: (c) => {
    const x = c.shapes[0];
    const axes = constInts(c, 1).map((a) => (a < 0 ? a + x.length + 1 : a)).sort((p, q) => p - q);
    const out = x.slice();
    for (const a of axes) out.splice(a, 0, 1);
    return [out];
  },
  Squeeze: (c) => {
    const x = c.shapes[0];
    const axes = c.node.inputs[1] ? constInts(c, 1).map((a) => (a < 0 ? a + x.length : a)) : x.flatMap((d, i) => (d === 1 ? [i] : []));
    return [x.filter((_, i) => !axes.includes(i))];
  },
  Shape: (c) => [[c.shapes[0].length]],
  Constant: (c) => {
    const t = getAttr(c.node, 'value', 'tensor');
    if (!t) throw new ShapeError(`Constant ${c.node.name}: only 'value' tensors are supported`);
    return [t.dims];
  },
};

export function supportedShapeOps(): string[] {
  return Object.keys(rules);
}

const COMPARISONS = new Set(['Equal', 'Greater', 'Less', 'GreaterOrEqual', 'LessOrEqual', 'Not', 'And', 'Or']);

/** The element type of a node's (first) output. */
function outputDtype(node: Node, dtypeOf: (t: string) => DType | undefined): DType {
  if (node.opType === 'Shape') return 'int64';
  if (COMPARISONS.has(node.opType)) return 'bool';
  if (node.opType === 'Cast') return DTYPE_OF_ONNX_CODE[getAttr(node, 'to', 'int') ?? 1] ?? 'float32';
  // Where's first input is the boolean condition; the result has the type of its values.
  const source = node.opType === 'Where' ? node.inputs[1] : node.inputs[0];
  return dtypeOf(source) ?? 'float32';
}

/** Infers every tensor's shape; returns a map from tensor name to its ValueInfo. */
export function inferShapes(graph: Graph): Map<string, ValueInfo> {
  const infos = new Map<string, ValueInfo>();
  const constants = new Map<string, TensorData>();
  for (const init of graph.initializers.values()) {
    infos.set(init.name, { name: init.name, dtype: init.tensor.dtype, shape: init.tensor.dims });
    constants.set(init.name, init.tensor);
  }
  for (const input of graph.inputs) infos.set(input.name, input);
  for (const node of graph.nodes) {
    const rule = rules[node.opType];
    if (!rule) throw new ShapeError(`no shape rule for op ${node.opType} (node ${node.name})`);
    const shapes = node.inputs.map((t) => {
      if (t === '') return [];
      const info = infos.get(t);
      if (!info) throw new ShapeError(`node ${node.name} (${node.opType}) reads ${t}, which nothing produces`);
      return info.shape;
    });
    if (node.opType === 'Constant') {
      const t = getAttr(node, 'value', 'tensor');
      if (t) constants.set(node.outputs[0], t);
    }
    const outShapes = rule({ node, shapes, constants: node.inputs.map((t) => constants.get(t)) });
    const dtype = outputDtype(node, (t) => infos.get(t)?.dtype);
    node.outputs.forEach((name, i) => {
      if (name !== '' && outShapes[i]) infos.set(name, { name, dtype: node.opType === 'Dropout' && i === 1 ? 'bool' : dtype, shape: outShapes[i] });
    });
  }
  return infos;
}

/** Fills in the shapes of the graph's declared outputs from inference. */
export function resolveOutputs(graph: Graph): void {
  const infos = inferShapes(graph);
  graph.outputs = graph.outputs.map((o) => {
    const info = infos.get(o.name);
    if (!info) throw new ShapeError(`graph output ${o.name} is produced by no node`);
    return { ...o, dtype: info.dtype, shape: info.shape };
  });
}
