/**
 * Worker-thread entry for the data loader: prepares the samples the main thread sends (see
 * pool.ts), IN_FLIGHT_PER_THREAD at a time in the order they came, and returns each as a
 * transferred float32 buffer. While a training step has the cores it starts only samples of the
 * batch the next step needs (pool.ts, `hold`).
 */
import { MessagePort, parentPort, workerData } from 'worker_threads';
import { IN_FLIGHT_PER_THREAD, WorkerReply, WorkerRequest, WorkerSetup, failureReply, turnFor } from './pool';
import { prepareSample } from './sample';

function parent(): MessagePort {
  if (parentPort === null) throw new Error('data loader worker: expected to run in a worker thread');
  return parentPort;
}
const port = parent();
const { spec, hold } = workerData as WorkerSetup;
// Jobs queue here, not in the main thread: it is blocked for the whole of each training step
// (session.run is synchronous), so a worker that had to ask it for the next job would idle.
const queue: WorkerRequest[] = [];
let running = 0;
/** Set while the next job waits for its turn (a step holds its batch back). */
let waiting = false;
function pump(): void {
  while (running < IN_FLIGHT_PER_THREAD && queue.length > 0 && !waiting) {
    const turn = turnFor(hold, queue[0].job.batch);
    if (turn !== undefined) {
      waiting = true;
      void turn.then(() => {
        waiting = false;
        pump();
      });
      return;
    }
    const request = queue.shift() as WorkerRequest;
    running++;
    prepareSample(request.job.file, request.job.plan, spec)
      .then(
        (data) => port.postMessage({ kind: 'done', id: request.id, data } satisfies WorkerReply, [data.buffer as ArrayBuffer]),
        (err: unknown) => port.postMessage(failureReply(request.id, err)),
      )
      .finally(() => {
        running--;
        pump();
      });
  }
}
port.on('message', (request: WorkerRequest) => {
  queue.push(request);
  pump();
});
