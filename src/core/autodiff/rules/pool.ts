import { attr, float32Tensor, getAttr } from '../../graph/types';
import { Emitter } from '../emitter';
import { AutodiffError, GradientRule, outputGrad, staticDims } from '../types';
import { WindowGeometry, kernelTaps, padForTaps, tapSlice, transposeAttrs, windowGeometry } from './window';

/**
 * MaxPool without argmax indices. Per kernel tap, the window element that equals the pooled
 * maximum receives that output's gradient; overlapping windows (3x3 stride 2) add up.
 *
 * Tie rule: when several elements of one window equal its maximum, the first in row-major
 * kernel order takes the whole gradient (PyTorch's CPU rule, whose argmax keeps the first).
 * Padding is -inf, so it never wins.
 *
 * The per-tap gradients are stacked as channels [N, C*K, ...out] and scattered back onto the
 * input grid by one grouped ConvTranspose whose kernel is one-hot per tap.
 */

/** Weight [C*K, 1, ...kernel] with a 1 at tap t for stacked channel c*K + t. */
function oneHotTapKernel(emit: Emitter, channels: number, kernel: number[]): string {
  const taps = kernel.reduce((p, q) => p * q, 1);
  const data = new Float32Array(channels * taps * taps);
  for (let c = 0; c < channels; c++) for (let t = 0; t < taps; t++) data[(c * taps + t) * taps + t] = 1;
  return emit.constant(float32Tensor([channels * taps, 1, ...kernel], data));
}

/** Per tap, a mask of the outputs whose gradient that tap receives (the first tap equal to the max). */
function winningTaps(emit: Emitter, padded: string, y: string, g: WindowGeometry): string[] {
  const winners: string[] = [];
  let claimed: string | undefined;
  const taps = kernelTaps(g.kernel);
  taps.forEach((tap, i) => {
    const equal = emit.op('Equal', [tapSlice(emit, padded, g, tap), y]);
    winners.push(claimed ? emit.op('And', [equal, emit.op('Not', [claimed])]) : equal);
    if (i < taps.length - 1) claimed = claimed ? emit.op('Or', [claimed, equal]) : equal;
  });
  return winners;
}

const maxPool: GradientRule = {
  differentiable: [0],
  backward: (ctx) => {
    const { emit, node } = ctx;
    if (node.outputs.length > 1 && node.outputs[1] !== '') {
      throw new AutodiffError(`MaxPool ${node.name}: the Indices output is not supported in training graphs`);
    }
    const kernel = getAttr(node, 'kernel_shape', 'ints');
    if (!kernel) throw new AutodiffError(`MaxPool ${node.name}: kernel_shape is required`);
    const dY = outputGrad(ctx);
    const xShape = ctx.inputShapes[0];
    const channels = staticDims(ctx, [xShape[1]], 'the channel axis')[0];
    const geometry = windowGeometry(ctx, kernel);
    const padded = padForTaps(emit, node.inputs[0], xShape.length, geometry, -Infinity);
    const zero = emit.scalar(0);
    const perTap = winningTaps(emit, padded, node.outputs[0], geometry).map((mask) =>
      emit.op('Unsqueeze', [emit.op('Where', [mask, dY, zero]), emit.ints([2])]),
    );
    const taps = perTap.length;
    const stacked = taps === 1 ? perTap[0] : emit.op('Concat', perTap, { axis: attr.int(2) }); // [N, C, K, ...out]
    const asChannels = emit.op('Reshape', [stacked, emit.ints([0, channels * taps, ...geometry.outSize])]);
    return [emit.op('ConvTranspose', [asChannels, oneHotTapKernel(emit, channels, kernel)], transposeAttrs(geometry, channels))];
  },
};

export const POOL_RULES: Record<string, GradientRule> = { MaxPool: maxPool };
