/**
 * Worker-thread entry for the data loader: prepares the samples the main thread sends (see
 * pool.ts), several at a time, and returns each as a transferred float32 buffer.
 */
import { parentPort, workerData } from 'worker_threads';
import { WorkerReply, WorkerRequest, failureReply } from './pool';
import { SampleSpec, prepareSample } from './sample';

const port = parentPort;
if (port === null) throw new Error('data loader worker: expected to run in a worker thread');
const spec = workerData as SampleSpec;
port.on('message', (request: WorkerRequest) => {
  prepareSample(request.job.file, request.job.plan, spec).then(
    (data) => port.postMessage({ kind: 'done', id: request.id, data } satisfies WorkerReply, [data.buffer as ArrayBuffer]),
    (err: unknown) => port.postMessage(failureReply(request.id, err)),
  );
});
