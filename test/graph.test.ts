import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../src/core/graph/builder';
import { decodeOnnx, encodeOnnx } from '../src/core/graph/onnx';
import { ShapeError, inferShapes, resolveOutputs } from '../src/core/graph/shapes';
import { countFlops, countParams } from '../src/core/graph/stats';
import { attr, int64Tensor } from '../src/core/graph/types';
import { conv2d, flatten, linear, maxPool, prelu, batchNorm, reshape } from '../src/core/nn/layers';
import { buildBackbone } from '../src/core/nn/registry';

/** A net small enough to count by hand: conv 3->4 k3 s2 p1 on 8x8, BN, PReLU, pool, flatten, linear 16->5. */
function handNet() {
  const b = new GraphBuilder('hand', 7);
  const x = b.input('input', ['N', 3, 8, 8]);
  let y = conv2d(b, 'conv', x, { inC: 3, outC: 4, k: 3, stride: 2, pad: 1, bias: true }); // [N,4,4,4]
  y = prelu(b, 'act', batchNorm(b, 'bn', y, 4), 4);
  y = maxPool(b, y, 2, 2, 0); // [N,4,2,2]
  y = linear(b, 'fc', flatten(b, y), 16, 5); // [N,5]
  b.output(y, 'out');
  resolveOutputs(b.graph);
  return b.graph;
}

describe('graph core', () => {
  test('parameters and FLOPs of a hand-computed net', () => {
    const g = handNet();
    // conv 4*3*3*3 + 4 bias, bn 4 + 4 (running stats are not parameters), prelu 4, fc 5*16 + 5
    expect(countParams(g)).toBe(108 + 4 + 8 + 4 + 80 + 5);
    // conv: 2 * (4*4*4 outputs) * (3*3*3 MACs each) = 3456; fc: 2 * 16 * 5 = 160
    expect(countFlops(g)).toEqual({ total: 3456 + 160, byOp: { Conv: 3456, Gemm: 160 } });
  });

  test('shape inference keeps the batch symbolic through every op', () => {
    const g = handNet();
    const shapes = inferShapes(g);
    expect(g.outputs[0].shape).toEqual(['N', 5]);
    const convOut = g.nodes.find((n) => n.opType === 'Conv')!.outputs[0];
    expect(shapes.get(convOut)!.shape).toEqual(['N', 4, 4, 4]);
    const poolOut = g.nodes.find((n) => n.opType === 'MaxPool')!.outputs[0];
    expect(shapes.get(poolOut)!.shape).toEqual(['N', 4, 2, 2]);
  });

  test('Reshape with -1 and 0 infers symbolic and numeric dims; mismatches are reported', () => {
    const b = new GraphBuilder('r', 1);
    const x = b.input('x', ['N', 4, 3, 2]);
    const y = reshape(b, x, [0, -1]);
    const z = reshape(b, y, [-1, 6, 2, 2]);
    b.output(z);
    const shapes = inferShapes(b.graph);
    expect(shapes.get(y)!.shape).toEqual(['N', 24]);
    expect(shapes.get(z)!.shape).toEqual(['N', 6, 2, 2]);
    const bad = new GraphBuilder('bad', 1);
    bad.output(reshape(bad, bad.input('x', [2, 3]), [4, 2]));
    expect(() => inferShapes(bad.graph)).toThrow(ShapeError);
  });

  test('Conv with groups and a channel mismatch fails shape inference', () => {
    const b = new GraphBuilder('g', 1);
    const x = b.input('x', ['N', 6, 5, 5]);
    const dw = conv2d(b, 'dw', x, { inC: 6, outC: 6, k: 3, groups: 6, pad: 1 });
    expect(inferShapes(b.graph).get(dw)!.shape).toEqual(['N', 6, 5, 5]);
    conv2d(b, 'wrong', dw, { inC: 4, outC: 4, k: 1 });
    expect(() => inferShapes(b.graph)).toThrow(/input has 6 channels, weight expects 4/);
  });

  test('ONNX round trip: write, read back, same graph', () => {
    const g = buildBackbone('tiny', { embeddingSize: 32, dropout: 0, seed: 3 });
    g.metadata = { color_order: 'rgb' };
    const back = decodeOnnx(encodeOnnx(g));
    expect(back.nodes).toEqual(g.nodes);
    expect(back.inputs).toEqual(g.inputs);
    expect(back.outputs).toEqual(g.outputs);
    expect(back.metadata).toEqual(g.metadata);
    expect(back.opsetVersion).toBe(17);
    expect([...back.initializers.keys()]).toEqual([...g.initializers.keys()]);
    for (const [name, init] of g.initializers) {
      const other = back.initializers.get(name)!;
      expect(other.tensor.dims).toEqual(init.tensor.dims);
      expect(Buffer.from(other.tensor.data.buffer, other.tensor.data.byteOffset, other.tensor.data.byteLength)).toEqual(
        Buffer.from(init.tensor.data.buffer, init.tensor.data.byteOffset, init.tensor.data.byteLength),
      );
      // Roles are recovered from how a node uses the tensor, for models we did not build.
      expect(other.role).toBe(init.role);
    }
  });

  test('attributes keep their ONNX types through a round trip', () => {
    const b = new GraphBuilder('a', 1);
    const x = b.input('x', ['N', 3]);
    const y = b.op1('LeakyRelu', [x], { alpha: attr.float(0.25) });
    b.output(b.op1('Reshape', [y, b.constant('s', int64Tensor([-1]))]));
    const back = decodeOnnx(encodeOnnx(b.graph));
    expect(back.nodes[0].attrs.alpha).toEqual({ type: 'float', value: 0.25 });
    expect(back.initializers.get('s')!.role).toBe('constant');
  });

  test('a built graph runs in onnxruntime with the inferred output shape', async () => {
    const g = handNet();
    const session = await ort.InferenceSession.create(encodeOnnx(g));
    const out = await session.run({ input: new ort.Tensor('float32', new Float32Array(3 * 3 * 8 * 8).fill(0.5), [3, 3, 8, 8]) });
    expect(out.out.dims).toEqual([3, 5]);
  });

  test('bytes that are not ONNX are rejected with the source named', () => {
    expect(() => decodeOnnx(Buffer.from('definitely not a protobuf model'), 'junk.onnx')).toThrow(/junk.onnx is not an ONNX model/);
    expect(() => decodeOnnx(new Uint8Array(0), 'empty.onnx')).toThrow(/empty.onnx is not an ONNX model/);
  });
});
