import { BackboneBuilder } from './backbone';
import { batchNorm, convBnPrelu, flatten, globalAvgPool, linear } from './layers';

/** A few layers, for fast tests: four strided conv blocks (one depthwise), pooling, a linear embedding. */
export const tiny: BackboneBuilder = (b, input, { embeddingSize }) => {
  let x = convBnPrelu(b, 'conv1', input, { inC: 3, outC: 8, k: 3, stride: 2, pad: 1 }); // 56x56
  x = convBnPrelu(b, 'conv2', x, { inC: 8, outC: 16, k: 3, stride: 2, pad: 1 }); // 28x28
  x = convBnPrelu(b, 'conv3', x, { inC: 16, outC: 16, k: 3, stride: 2, pad: 1, groups: 16 }); // 14x14
  x = convBnPrelu(b, 'conv4', x, { inC: 16, outC: 32, k: 3, stride: 2, pad: 1 }); // 7x7
  x = flatten(b, globalAvgPool(b, x));
  return b.within('features', () => batchNorm(b, 'bn', linear(b, 'fc', x, 32, embeddingSize, false), embeddingSize));
};
