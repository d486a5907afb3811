import { attr, float32Tensor } from '../../graph/types';
import { Emitter } from '../emitter';
import { range } from '../tensors';
import { ConvOperands, isGlobal, tapCount, unitStride } from './convOperands';
import { transposeAttrs } from './window';

/**
 * Conv's input gradient, the adjoint of the convolution. ConvTranspose with the same weight is
 * that adjoint for any geometry. With unit strides the adjoint is also a plain Conv of dY: the
 * kernel flipped in space, input and output channels swapped within each group, and padded by
 * (k - 1) * dilation - pad on each side. onnxruntime ran that Conv (its GEMM and depthwise
 * kernels) 1.5-4x faster than ConvTranspose (GEMM then col2im) on MobileFaceNet's layers and on
 * 1x1 layers, and about as fast on ResNet-50's 3x3 ones (per-layer times from
 * bench/train-step.js --profile), so it is used wherever it applies: unit strides, pads no larger than the dilated kernel, and a window that does not
 * cover the whole input (a global conv's adjoint would slide its large kernel over padding,
 * where ConvTranspose is 5x faster).
 */

export const INPUT_GRAD_FORMULATIONS = ['adjointConv', 'convTranspose'] as const;
export type InputGradFormulation = (typeof INPUT_GRAD_FORMULATIONS)[number];

/** Which formulation the input gradient of `op` uses (the rule above). */
export function inputGradFormulation(op: ConvOperands): InputGradFormulation {
  const g = op.geometry;
  const reach = g.kernel.map((k, i) => (k - 1) * g.dilations[i]);
  const padsFit = [...g.padsBegin, ...g.padsEnd].every((p, i) => p <= reach[i % reach.length]);
  return unitStride(op) && padsFit && !isGlobal(op) ? 'adjointConv' : 'convTranspose';
}

/**
 * The kernel of the adjoint Conv: [C, M/group, ...kernel], spatially flipped, channels swapped
 * per group. Flipping every spatial axis reverses the row-major order of the taps, which is one
 * MatMul with a K x K anti-diagonal matrix: onnxruntime's Slice with negative steps copies
 * element by element, several times slower over ResNet-50's weights.
 */
function adjointKernel(emit: Emitter, op: ConvOperands): string {
  const [m, cPerGroup, ...kernel] = op.weight;
  const group = op.group;
  const taps = tapCount(op);
  let flipped = op.w;
  if (taps > 1) {
    const reversal = new Float32Array(taps * taps);
    for (let t = 0; t < taps; t++) reversal[t * taps + (taps - 1 - t)] = 1;
    flipped = emit.op('MatMul', [emit.op('Reshape', [op.w, emit.ints([m * cPerGroup, taps])]), emit.constant(float32Tensor([taps, taps], reversal))]);
  }
  const perGroup = emit.op('Reshape', [flipped, emit.ints([group, m / group, cPerGroup, ...kernel])]);
  const swapped = emit.op('Transpose', [perGroup], { perm: attr.ints([0, 2, 1, ...range(kernel.length, 3)]) });
  return emit.op('Reshape', [swapped, emit.ints([group * cPerGroup, m / group, ...kernel])]);
}

function adjointConv(emit: Emitter, op: ConvOperands): string {
  const g = op.geometry;
  const reach = g.kernel.map((k, i) => (k - 1) * g.dilations[i]);
  return emit.op('Conv', [op.dY, adjointKernel(emit, op)], {
    kernel_shape: attr.ints(g.kernel),
    dilations: attr.ints(g.dilations),
    pads: attr.ints([...g.padsBegin.map((p, i) => reach[i] - p), ...g.padsEnd.map((p, i) => reach[i] - p)]),
    group: attr.int(op.group),
  });
}

/** Emits the input gradient under a scope named after the formulation (profiles and tests read it). */
export function convInputGrad(emit: Emitter, op: ConvOperands): string {
  const formulation = inputGradFormulation(op);
  const scoped = emit.scoped(`${emit.prefix}/${formulation}`);
  if (formulation === 'adjointConv') return adjointConv(scoped, op);
  return scoped.op('ConvTranspose', [op.dY, op.w], transposeAttrs(op.geometry, op.group));
}
