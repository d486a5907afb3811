import { GraphBuilder } from '../graph/builder';
import { BackboneBuilder } from './backbone';
import { add, batchNorm, conv2d, convBn, dropout, flatten, globalAvgPool, linear, maxPool, relu } from './layers';

/**
 * The seed's model: torchvision's ResNet50 body (Bottleneck v1.5, stride on the 3x3 conv) with
 * its fc removed, then BatchNorm1d(2048) - Dropout - Linear(2048, E) - BatchNorm1d(E, eps 1e-3).
 * At 112x112 the body ends on a 4x4 map, which global average pooling reduces to 2048 values.
 * Leaf names follow torchvision's state_dict (conv1, bn1, ..., downsample).
 */

const STEM_WIDTH = 64;
const EXPANSION = 4;
/** Bottleneck widths and depths of the four stages; only the first keeps the resolution. */
const STAGES = [
  { width: 64, depth: 3, stride: 1 },
  { width: 128, depth: 4, stride: 2 },
  { width: 256, depth: 6, stride: 2 },
  { width: 512, depth: 3, stride: 2 },
] as const;
const EMBEDDING_BN_EPS = 1e-3;

interface BottleneckSpec {
  inC: number;
  width: number;
  stride: number;
}

function convBnRelu(b: GraphBuilder, conv: string, bn: string, x: string, inC: number, outC: number, k: number, stride = 1): string {
  const y = conv2d(b, conv, x, { inC, outC, k, stride, pad: (k - 1) / 2 });
  return relu(b, batchNorm(b, bn, y, outC));
}

/** Bottleneck: 1x1 reduce, 3x3 (stride), 1x1 expand x4, shortcut (conv1x1+BN when the shape changes), ReLU. */
function bottleneck(b: GraphBuilder, name: string, x: string, s: BottleneckSpec): string {
  const outC = s.width * EXPANSION;
  return b.within(name, () => {
    let y = convBnRelu(b, 'conv1', 'bn1', x, s.inC, s.width, 1);
    y = convBnRelu(b, 'conv2', 'bn2', y, s.width, s.width, 3, s.stride);
    y = batchNorm(b, 'bn3', conv2d(b, 'conv3', y, { inC: s.width, outC, k: 1 }), outC);
    const shortcut = s.stride !== 1 || s.inC !== outC ? convBn(b, 'downsample', x, { inC: s.inC, outC, k: 1, stride: s.stride }) : x;
    return relu(b, add(b, y, shortcut));
  });
}

function stage(b: GraphBuilder, name: string, x: string, inC: number, spec: (typeof STAGES)[number]): string {
  return b.within(name, () => {
    let y = bottleneck(b, 'block0', x, { inC, width: spec.width, stride: spec.stride });
    for (let i = 1; i < spec.depth; i++) y = bottleneck(b, `block${i}`, y, { inC: spec.width * EXPANSION, width: spec.width, stride: 1 });
    return y;
  });
}

/** BatchNorm1d - Dropout - Linear - BatchNorm1d(eps 1e-3): the seed's embedding layer. */
function embeddingHead(b: GraphBuilder, name: string, x: string, inF: number, embeddingSize: number, dropoutRatio: number): string {
  return b.within(name, () => {
    let y = batchNorm(b, 'bn_in', x, inF);
    if (dropoutRatio > 0) y = dropout(b, y, dropoutRatio);
    y = linear(b, 'fc', y, inF, embeddingSize);
    return batchNorm(b, 'bn_out', y, embeddingSize, EMBEDDING_BN_EPS);
  });
}

export const resnet50: BackboneBuilder = (b, input, { embeddingSize, dropout: dropoutRatio }) => {
  let x = convBnRelu(b, 'conv1', 'bn1', input, 3, STEM_WIDTH, 7, 2); // 56x56
  x = maxPool(b, x, 3, 2, 1); // 28x28
  let channels: number = STEM_WIDTH;
  STAGES.forEach((spec, i) => {
    x = stage(b, `layer${i + 1}`, x, channels, spec);
    channels = spec.width * EXPANSION;
  });
  x = flatten(b, globalAvgPool(b, x));
  return embeddingHead(b, 'embedding', x, channels, embeddingSize, dropoutRatio);
};
