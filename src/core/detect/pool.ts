/**
 * Where detect-align's images are processed: in this thread (one detector, onnxruntime using the
 * configured threads) or in worker threads (one detector each, one intra-op thread each), behind
 * one interface. Workers win on a CPU (measured in BENCHMARKS.md): onnxruntime-node runs a
 * session synchronously on the calling JS thread, so in one thread the JS work (pyramid, crops,
 * NMS, warps) and the nets take turns; two workers keep both cores busy.
 */
// sharp is loaded here first: its native module must be loaded by the main thread before worker
// threads use it, or terminating them can crash the process (sharp's documentation).
import 'sharp';
import { Worker } from 'worker_threads';
import { InputError } from '../errors';
import { workerScript } from '../util/workerScript';
import { DetectorSpec, createDetector } from './factory';
import { AlignSettings, ImageOutcome, processImage } from './pipeline';
import { SourceImage } from './sources';

/** Everything a worker needs; structured-cloneable. */
export interface ProcessorConfig {
  spec: DetectorSpec;
  settings: AlignSettings;
  outputDir: string;
  fingerprint: string;
}

export type WorkerRequest = { id: number; job: SourceImage };
export type WorkerReply =
  | { kind: 'ready' }
  /** The detector could not be built; `input` when it is the user's to fix (InputError). */
  | { kind: 'fatal'; message: string; input: boolean }
  | { kind: 'done'; id: number; outcome: ImageOutcome }
  | { kind: 'failed'; id: number; message: string };

export interface ImageProcessor {
  /** How many images it can usefully have in flight. */
  readonly capacity: number;
  process(job: SourceImage): Promise<ImageOutcome>;
  close(): Promise<void>;
}

/** Images in flight per worker (or in the main thread) by default: the next one decodes while one is detected. */
export const IN_FLIGHT_PER_THREAD = 2;

/** Processes in this thread with one detector, `inFlight` images at a time. */
export async function inlineProcessor(config: ProcessorConfig, inFlight = IN_FLIGHT_PER_THREAD): Promise<ImageProcessor> {
  const detector = await createDetector(config.spec);
  return {
    capacity: inFlight,
    process: (job) => processImage(job, detector, config.settings, config.outputDir, config.fingerprint),
    close: () => detector.release(),
  };
}

interface Pending {
  resolve: (outcome: ImageOutcome) => void;
  reject: (err: Error) => void;
}

class WorkerHandle {
  readonly pending = new Map<number, Pending>();

  constructor(readonly worker: Worker) {}
}

/** Starts `count` workers and waits until each has built its detector; each gets up to `inFlight` images at a time. */
export async function workerProcessor(config: ProcessorConfig, count: number, inFlight = IN_FLIGHT_PER_THREAD): Promise<ImageProcessor> {
  const script = workerScript(__dirname, 'worker');
  const handles: WorkerHandle[] = [];
  let nextId = 0;
  let broken: Error | undefined;

  const fail = (handle: WorkerHandle, err: Error): void => {
    broken ??= err;
    for (const p of handle.pending.values()) p.reject(err);
    handle.pending.clear();
  };

  const start = (): Promise<WorkerHandle> =>
    new Promise((resolve, reject) => {
      const worker = new Worker(script.file, { workerData: config, execArgv: script.execArgv });
      const handle = new WorkerHandle(worker);
      let ready = false;
      worker.on('message', (reply: WorkerReply) => {
        if (reply.kind === 'ready') {
          ready = true;
          resolve(handle);
        } else if (reply.kind === 'fatal') {
          reject(reply.input ? new InputError(reply.message) : new Error(reply.message));
        } else {
          const p = handle.pending.get(reply.id);
          handle.pending.delete(reply.id);
          if (reply.kind === 'done') p?.resolve(reply.outcome);
          else p?.reject(new Error(reply.message));
        }
      });
      worker.on('error', (err) => (ready ? fail(handle, err) : reject(err)));
      worker.on('exit', (code) => {
        if (handle.pending.size > 0) fail(handle, new Error(`detect-align worker exited (code ${code}) with ${handle.pending.size} images unfinished`));
      });
    });

  const started = await Promise.allSettled(Array.from({ length: count }, start));
  for (const s of started) if (s.status === 'fulfilled') handles.push(s.value);
  const failure = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failure) {
    await Promise.all(handles.map((h) => h.worker.terminate()));
    throw failure.reason;
  }

  return {
    capacity: count * inFlight,
    process(job) {
      if (broken) return Promise.reject(broken);
      // The least busy worker takes the image.
      const handle = handles.reduce((a, b) => (b.pending.size < a.pending.size ? b : a));
      const id = nextId++;
      return new Promise<ImageOutcome>((resolve, reject) => {
        handle.pending.set(id, { resolve, reject });
        handle.worker.postMessage({ id, job } satisfies WorkerRequest);
      });
    },
    async close() {
      await Promise.all(handles.map((h) => h.worker.terminate()));
    },
  };
}
