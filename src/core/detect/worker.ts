/**
 * Worker-thread entry for detect-align: builds its own detector (own onnxruntime sessions) from
 * the description in workerData, then processes the images the main thread sends, several at a
 * time so that decoding and encoding (sharp, off the JS thread) overlap with detection.
 */
import { parentPort, workerData } from 'worker_threads';
import { InputError } from '../errors';
import { createDetector } from './factory';
import { processImage } from './pipeline';
import { ProcessorConfig, WorkerReply, WorkerRequest } from './pool';

async function main(): Promise<void> {
  const port = parentPort;
  if (port === null) throw new Error('detect-align worker: expected to run in a worker thread');
  const config = workerData as ProcessorConfig;
  let detector;
  try {
    detector = await createDetector(config.spec);
  } catch (err) {
    port.postMessage({ kind: 'fatal', message: err instanceof Error ? err.message : String(err), input: err instanceof InputError } satisfies WorkerReply);
    return;
  }
  const ready = detector;
  port.on('message', (request: WorkerRequest) => {
    processImage(request.job, ready, config.settings, config.outputDir, config.fingerprint).then(
      (outcome) => port.postMessage({ kind: 'done', id: request.id, outcome } satisfies WorkerReply),
      (err: unknown) => port.postMessage({ kind: 'failed', id: request.id, message: err instanceof Error ? err.message : String(err) } satisfies WorkerReply),
    );
  });
  port.postMessage({ kind: 'ready' } satisfies WorkerReply);
}

void main();
