import { GraphBuilder } from '../graph/builder';
import { BackboneBuilder } from './backbone';
import { add, batchNorm, convBn, convBnPrelu, flatten, linear } from './layers';

/**
 * MobileFaceNet as insightface arcface_torch's `mbf` (backbones/mobilefacenet.py): blocks
 * (1, 4, 6, 2) at width scale 2, and the GDC head (7x7 depthwise conv instead of pooling).
 * With a 512-d embedding: 2,059,520 parameters.
 */

/** Residual blocks per stage; mbf's leading 1 (before these) means a single grouped conv. */
const STAGE_BLOCKS = [4, 6, 2] as const;
const SCALE = 2;
const SEPARABLE_CHANNELS = 512;

interface DepthWiseSpec {
  inC: number;
  outC: number;
  /** Width of the expanded (depthwise) middle: insightface's `groups`. */
  expand: number;
  stride: number;
}

/**
 * Inverted bottleneck: 1x1 expand (PReLU), 3x3 depthwise (PReLU), 1x1 linear projection.
 * A shortcut is added when the block keeps its shape (insightface's `residual=True`).
 */
function depthWise(b: GraphBuilder, name: string, x: string, s: DepthWiseSpec): string {
  return b.within(name, () => {
    let y = convBnPrelu(b, 'expand', x, { inC: s.inC, outC: s.expand, k: 1 });
    y = convBnPrelu(b, 'dw', y, { inC: s.expand, outC: s.expand, k: 3, stride: s.stride, pad: 1, groups: s.expand });
    y = convBn(b, 'project', y, { inC: s.expand, outC: s.outC, k: 1 });
    return s.stride === 1 && s.inC === s.outC ? add(b, x, y) : y;
  });
}

/** `count` shape-preserving residual depthwise blocks (insightface's `Residual`). */
function residualStage(b: GraphBuilder, name: string, x: string, channels: number, count: number, expand: number): string {
  return b.within(name, () => {
    let y = x;
    for (let i = 0; i < count; i++) y = depthWise(b, `block${i}`, y, { inC: channels, outC: channels, expand, stride: 1 });
    return y;
  });
}

/** Global depthwise conv head: 7x7 depthwise conv + BN, flatten, Linear (no bias), BatchNorm1d. */
function gdc(b: GraphBuilder, name: string, x: string, channels: number, embeddingSize: number): string {
  return b.within(name, () => {
    const pooled = convBn(b, 'dw', x, { inC: channels, outC: channels, k: 7, groups: channels });
    const fc = linear(b, 'fc', flatten(b, pooled), channels, embeddingSize, false);
    return batchNorm(b, 'bn', fc, embeddingSize);
  });
}

export const mobilefacenet: BackboneBuilder = (b, input, { embeddingSize }) => {
  const c64 = 64 * SCALE;
  const c128 = 128 * SCALE;
  let x = convBnPrelu(b, 'stem', input, { inC: 3, outC: c64, k: 3, stride: 2, pad: 1 }); // 56x56
  // insightface uses groups=64 here (2 channels per group at scale 2), not a full depthwise conv.
  x = convBnPrelu(b, 'stem_dw', x, { inC: c64, outC: c64, k: 3, pad: 1, groups: 64 });
  x = depthWise(b, 'down1', x, { inC: c64, outC: c64, expand: 128, stride: 2 }); // 28x28
  x = residualStage(b, 'stage1', x, c64, STAGE_BLOCKS[0], 128);
  x = depthWise(b, 'down2', x, { inC: c64, outC: c128, expand: 256, stride: 2 }); // 14x14
  x = residualStage(b, 'stage2', x, c128, STAGE_BLOCKS[1], 256);
  x = depthWise(b, 'down3', x, { inC: c128, outC: c128, expand: 512, stride: 2 }); // 7x7
  x = residualStage(b, 'stage3', x, c128, STAGE_BLOCKS[2], 256);
  x = convBnPrelu(b, 'conv_sep', x, { inC: c128, outC: SEPARABLE_CHANNELS, k: 1 });
  return gdc(b, 'features', x, SEPARABLE_CHANNELS, embeddingSize);
};
