/**
 * The optimisers' hot loops as WebAssembly SIMD (4 float lanes per instruction): V8 runs a JS
 * loop over Float32Arrays one element at a time, converting through doubles. Over ResNet-50's
 * 25 M parameters (bench/optimizer.js, six runs; AdamW four) the SGD momentum update takes
 * 112-272 ms as a JS loop and 46-56 ms here, AdamW's 235-520 ms and 72-89 ms, the gradients'
 * sum of squares 38-92 ms and 14-17 ms.
 *
 * Arithmetic is float32, as PyTorch's own kernels do it. Any Float32Array works: data passes
 * through a 64 KB window per operand inside the module's memory (the copies are memcpy-speed and
 * stay in cache while the kernel runs), so parameters, gradients and buffers stay ordinary typed
 * arrays that onnxruntime and the checkpoints read directly.
 *
 * The module is small enough to assemble here from its opcodes; Node has run WebAssembly SIMD
 * since 16.4, and package.json requires Node 20.
 */

// The project's type libraries (ES2022 + @types/node) declare no WebAssembly global; what is used of it:
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: Record<string, unknown> };
};
interface WasmMemory {
  buffer: ArrayBuffer;
}

/** Floats per operand window. */
const WINDOW = 16384;
const BYTES = WINDOW * 4;
/** Byte offsets of the operand windows: a (param / values), b (grad), c and d (buffers). */
const A = 0;
const B = BYTES;
const C = 2 * BYTES;
const D = 3 * BYTES;

// ---------------------------------------------------------------- a tiny assembler

function uleb(value: number): number[] {
  const out: number[] = [];
  let v = value;
  do {
    let byte = v & 0x7f;
    v >>>= 7;
    if (v !== 0) byte |= 0x80;
    out.push(byte);
  } while (v !== 0);
  return out;
}

const vector = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
const name = (s: string): number[] => [...uleb(s.length), ...Array.from(s, (ch) => ch.charCodeAt(0))];

const T = { i32: 0x7f, f32: 0x7d, f64: 0x7c, v128: 0x7b } as const;
const simd = (op: number): number[] => [0xfd, ...uleb(op)];
const op = {
  get: (i: number) => [0x20, ...uleb(i)],
  set: (i: number) => [0x21, ...uleb(i)],
  tee: (i: number) => [0x22, ...uleb(i)],
  /** v128.load / v128.store with 16-byte alignment at a constant offset from the address on the stack. */
  load: (offset: number) => [...simd(0x00), 4, ...uleb(offset)],
  store: (offset: number) => [...simd(0x0b), 4, ...uleb(offset)],
  splat: simd(0x13),
  lane: (i: number) => [...simd(0x1f), i],
  sqrt: simd(0xe3),
  add: simd(0xe4),
  sub: simd(0xe5),
  mul: simd(0xe6),
  div: simd(0xe7),
  /** The loop over byte offsets 0, 16, ... below the byte count in local `end`, offset in local `at`. */
  loop: (at: number, end: number, body: number[]) => [
    0x02, 0x40, 0x03, 0x40, // block, loop
    ...[0x20, at, 0x20, end, 0x4f, 0x0d, 1], // at >= end: break
    ...body,
    ...[0x20, at, 0x41, 16, 0x6a, 0x21, at], // at += 16
    0x0c, 0, 0x0b, 0x0b, // continue; end loop, end block
  ],
};

const functionBody = (locals: number[][], code: number[]): number[] => {
  const bytes = [...vector(locals), ...code, 0x0b];
  return [...uleb(bytes.length), ...bytes];
};

/** sgd(bytes, lr, wd, momentum, keep): c = momentum * c + keep * (b + wd * a); a -= lr * c. */
const SGD = functionBody(
  [[1, T.i32], [6, T.v128]], // 5 at; 6 a, 7 c, 8 lr, 9 wd, 10 momentum, 11 keep
  [
    ...[1, 2, 3, 4].flatMap((p) => [...op.get(p), ...op.splat, ...op.set(p + 7)]),
    ...op.loop(5, 0, [
      ...op.get(5), ...op.load(A), ...op.set(6),
      ...op.get(10), ...op.get(5), ...op.load(C), ...op.mul,
      ...op.get(11), ...op.get(5), ...op.load(B), ...op.get(9), ...op.get(6), ...op.mul, ...op.add, ...op.mul,
      ...op.add, ...op.set(7),
      ...op.get(5), ...op.get(7), ...op.store(C),
      ...op.get(5), ...op.get(6), ...op.get(8), ...op.get(7), ...op.mul, ...op.sub, ...op.store(A),
    ]),
  ],
);

/** sumsq(bytes) -> f64: the lanes' float32 sums of a * a, added in double. */
const SUM_OF_SQUARES = functionBody(
  [[1, T.i32], [2, T.v128]], // 1 at; 2 sum, 3 value
  [
    ...op.loop(1, 0, [...op.get(1), ...op.load(A), ...op.tee(3), ...op.get(3), ...op.mul, ...op.get(2), ...op.add, ...op.set(2)]),
    ...[0, 1, 2, 3].flatMap((lane, i) => [...op.get(2), ...op.lane(lane), 0xbb /* f64.promote_f32 */, ...(i > 0 ? [0xa0 /* f64.add */] : [])]),
  ],
);

/**
 * adamw(bytes, beta1, 1 - beta1, beta2, 1 - beta2, shrink, stepSize, 1 / sqrt(1 - beta2^t), eps):
 *   c = beta1 * c + (1 - beta1) * b;  d = beta2 * d + (1 - beta2) * b * b;
 *   a = a * shrink - stepSize * c / (sqrt(d) / sqrt(1 - beta2^t) + eps).
 */
const ADAMW = functionBody(
  [[1, T.i32], [11, T.v128]], // 9 at; 10 g, 11 m, 12 v, 13-20 the eight coefficients splatted
  [
    ...[1, 2, 3, 4, 5, 6, 7, 8].flatMap((p) => [...op.get(p), ...op.splat, ...op.set(p + 12)]),
    ...op.loop(9, 0, [
      ...op.get(9), ...op.load(B), ...op.set(10),
      ...op.get(13), ...op.get(9), ...op.load(C), ...op.mul, ...op.get(14), ...op.get(10), ...op.mul, ...op.add, ...op.set(11),
      ...op.get(9), ...op.get(11), ...op.store(C),
      ...op.get(15), ...op.get(9), ...op.load(D), ...op.mul, ...op.get(16), ...op.get(10), ...op.get(10), ...op.mul, ...op.mul, ...op.add, ...op.set(12),
      ...op.get(9), ...op.get(12), ...op.store(D),
      ...op.get(9),
      ...op.get(9), ...op.load(A), ...op.get(17), ...op.mul,
      ...op.get(18), ...op.get(11), ...op.mul,
      ...op.get(12), ...op.sqrt, ...op.get(19), ...op.mul, ...op.get(20), ...op.add,
      ...op.div, ...op.sub, ...op.store(A),
    ]),
  ],
);

function assemble(): Uint8Array {
  return Uint8Array.from([
    ...[0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0],
    ...section(1, vector([
      [0x60, ...vector([[T.i32], [T.f32], [T.f32], [T.f32], [T.f32]]), 0],
      [0x60, ...vector([[T.i32]]), ...vector([[T.f64]])],
      [0x60, ...vector([[T.i32], ...new Array<number[]>(8).fill([T.f32])]), 0],
    ])),
    ...section(3, vector([[0], [1], [2]])),
    ...section(5, vector([[0, Math.ceil((4 * BYTES) / 65536)]])),
    ...section(7, vector([[...name('memory'), 2, 0], [...name('sgd'), 0, 0], [...name('sumsq'), 0, 1], [...name('adamw'), 0, 2]])),
    ...section(10, vector([SGD, SUM_OF_SQUARES, ADAMW])),
  ]);
}

interface Kernels {
  sgd(bytes: number, lr: number, weightDecay: number, momentum: number, keep: number): void;
  sumsq(bytes: number): number;
  adamw(bytes: number, ...coefficients: number[]): void;
  /** The operand windows a, b, c, d. */
  windows: Float32Array[];
}

let kernels: Kernels | undefined;

function load(): Kernels {
  if (kernels) return kernels;
  const instance = new WebAssembly.Instance(new WebAssembly.Module(assemble()));
  const exports = instance.exports as unknown as { memory: WasmMemory } & Pick<Kernels, 'sgd' | 'sumsq' | 'adamw'>;
  const buffer = exports.memory.buffer;
  kernels = {
    sgd: exports.sgd,
    sumsq: exports.sumsq,
    adamw: exports.adamw,
    windows: [A, B, C, D].map((offset) => new Float32Array(buffer, offset, WINDOW)),
  };
  return kernels;
}

/** Whole vectors of a window holding `length` floats (the lanes past `length` are never copied out). */
const vectorBytes = (length: number) => ((length + 3) & ~3) * 4;

/**
 * Runs a kernel over equally long `operands` a window at a time: each operand copied into its
 * window (a, b, c, d in order), `run` given the count of values in this window, and the operands
 * at the indices `written` copied back.
 */
function windowed(operands: Float32Array[], written: readonly number[], run: (count: number) => void): void {
  const { windows } = load();
  const length = operands[0].length;
  for (let from = 0; from < length; from += WINDOW) {
    const count = Math.min(WINDOW, length - from);
    operands.forEach((o, i) => windows[i].set(o.subarray(from, from + count)));
    run(count);
    for (const i of written) operands[i].set(windows[i].subarray(0, count), from);
  }
}

/**
 * SGD with momentum for an existing buffer, in place: buf = momentum * buf + keep * (grad +
 * weightDecay * param); param -= lr * buf.
 */
export function sgdMomentumStep(param: Float32Array, grad: Float32Array, buf: Float32Array, lr: number, weightDecay: number, momentum: number, keep: number): void {
  const k = load();
  windowed([param, grad, buf], [0, 2], (count) => k.sgd(vectorBytes(count), lr, weightDecay, momentum, keep));
}

/** The sum of squares of `values` (float32 lanes per 16 K values, totalled in double). */
export function sumOfSquares(values: Float32Array): number {
  const k = load();
  let total = 0;
  windowed([values], [], (count) => {
    k.windows[0].fill(0, count, (count + 3) & ~3);
    total += k.sumsq(vectorBytes(count));
  });
  return total;
}

/** AdamW's coefficients for one parameter's step (see adamw.ts). */
export interface AdamWCoefficients {
  beta1: number;
  beta2: number;
  /** 1 - lr * weight_decay. */
  shrink: number;
  /** lr / (1 - beta1^t). */
  stepSize: number;
  /** sqrt(1 - beta2^t). */
  bias2Sqrt: number;
  eps: number;
}

/** AdamW's update of one parameter and its two moments, in place. */
export function adamwStep(param: Float32Array, grad: Float32Array, expAvg: Float32Array, expAvgSq: Float32Array, k: AdamWCoefficients): void {
  const w = load();
  const coefficients = [k.beta1, 1 - k.beta1, k.beta2, 1 - k.beta2, k.shrink, k.stepSize, 1 / k.bias2Sqrt, k.eps];
  windowed([param, grad, expAvg, expAvgSq], [0, 2, 3], (count) => w.adamw(vectorBytes(count), ...coefficients));
}
