import { GraphBuilder } from '../graph/builder';
import { BackboneBuilder } from './backbone';
import { add, batchNorm, conv2d, convBn, dropout, flatten, linear, prelu } from './layers';

/**
 * insightface's IResNet (arcface_torch backbones/iresnet.py; Duta et al., "Improved Residual
 * Networks"): a 3x3 stem at full resolution, four stages that each halve the resolution
 * (112 -> 7), and a BN-Flatten-Dropout-FC-BN output on the 7x7x512 map.
 * Leaf names follow insightface's state_dict (bn1, conv1, bn2, prelu, conv2, bn3, downsample).
 */

const STAGE_WIDTHS = [64, 128, 256, 512] as const;
const STEM_WIDTH = 64;
/** Spatial size of the last stage's output for a 112x112 input. */
const FINAL_MAP = 7;

type StageDepths = readonly [number, number, number, number];

interface BlockSpec {
  inC: number;
  outC: number;
  stride: number;
}

/** IBasicBlock: BN-Conv3x3-BN-PReLU-Conv3x3(stride)-BN plus a shortcut (conv1x1+BN when the shape changes). */
function iBasicBlock(b: GraphBuilder, name: string, x: string, s: BlockSpec): string {
  return b.within(name, () => {
    let y = batchNorm(b, 'bn1', x, s.inC);
    y = conv2d(b, 'conv1', y, { inC: s.inC, outC: s.outC, k: 3, pad: 1 });
    y = batchNorm(b, 'bn2', y, s.outC);
    y = prelu(b, 'prelu', y, s.outC);
    y = conv2d(b, 'conv2', y, { inC: s.outC, outC: s.outC, k: 3, stride: s.stride, pad: 1 });
    y = batchNorm(b, 'bn3', y, s.outC);
    const shortcut = s.stride !== 1 || s.inC !== s.outC ? convBn(b, 'downsample', x, { inC: s.inC, outC: s.outC, k: 1, stride: s.stride }) : x;
    return add(b, y, shortcut);
  });
}

/** One stage: a strided block that changes width, then `depth - 1` blocks that keep it. */
function stage(b: GraphBuilder, name: string, x: string, inC: number, outC: number, depth: number): string {
  return b.within(name, () => {
    let y = iBasicBlock(b, 'block0', x, { inC, outC, stride: 2 });
    for (let i = 1; i < depth; i++) y = iBasicBlock(b, `block${i}`, y, { inC: outC, outC, stride: 1 });
    return y;
  });
}

function iresnet(depths: StageDepths): BackboneBuilder {
  return (b, input, { embeddingSize, dropout: dropoutRatio }) => {
    let x = conv2d(b, 'conv1', input, { inC: 3, outC: STEM_WIDTH, k: 3, pad: 1 });
    x = prelu(b, 'prelu', batchNorm(b, 'bn1', x, STEM_WIDTH), STEM_WIDTH);
    let channels: number = STEM_WIDTH;
    STAGE_WIDTHS.forEach((width, i) => {
      x = stage(b, `layer${i + 1}`, x, channels, width, depths[i]);
      channels = width;
    });
    x = flatten(b, batchNorm(b, 'bn2', x, channels));
    if (dropoutRatio > 0) x = dropout(b, x, dropoutRatio);
    x = linear(b, 'fc', x, channels * FINAL_MAP * FINAL_MAP, embeddingSize);
    // insightface freezes this BN's weight at 1; it is still one of its parameters().
    return batchNorm(b, 'features', x, embeddingSize);
  };
}

export const iresnet18 = iresnet([2, 2, 2, 2]);
export const iresnet34 = iresnet([3, 4, 6, 3]);
export const iresnet50 = iresnet([3, 4, 14, 3]);
export const iresnet100 = iresnet([3, 13, 30, 3]);
