/**
 * Images of any size to the model's square input. Like the seed (cv2.resize to 112x112) the
 * whole image is stretched to the square, with no crop: training sets are face crops already,
 * and cropping would cut off what alignment put in place. Bilinear resizing alone skips pixels
 * when shrinking by more than 2x (aliasing), so large images are first halved by 2x2 averaging
 * until a side is within 2x of the target.
 */
import { RgbImage, createRgbImage } from '../image/image';
import { resizeBilinear } from '../image/ops';

/** Half the size (rounded down), each output pixel the mean of a 2x2 block. */
export function halve(img: RgbImage): RgbImage {
  const out = createRgbImage(Math.max(1, img.width >> 1), Math.max(1, img.height >> 1));
  const stride = img.width * 3;
  const dx = img.width > 1 ? 3 : 0;
  const dy = img.height > 1 ? stride : 0;
  let o = 0;
  for (let y = 0; y < out.height; y++) {
    const row = 2 * y * stride;
    for (let x = 0; x < out.width; x++) {
      const at = row + 2 * x * 3;
      for (let c = 0; c < 3; c++) {
        const i = at + c;
        out.data[o++] = (img.data[i] + img.data[i + dx] + img.data[i + dy] + img.data[i + dy + dx] + 2) >> 2;
      }
    }
  }
  return out;
}

export function fitToSquare(img: RgbImage, size: number): RgbImage {
  let src = img;
  // Both sides must stay >= size, or a long thin image would lose resolution across its short side.
  while (src.width >= 2 * size && src.height >= 2 * size) src = halve(src);
  if (src.width === size && src.height === size) return src;
  return resizeBilinear(src, size, size);
}
