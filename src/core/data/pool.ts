/**
 * Where samples are prepared (decode, resize, augment, normalise): in this thread, or in worker
 * threads behind the same interface. Workers matter because the training step runs
 * synchronously on the main thread (onnxruntime-node's session.run): samples prepared inline
 * would wait for it, while workers keep decoding during the step. Jobs run first-in,
 * first-out, so batches are finished in the order the loader asked for them.
 */
import * as os from 'os';
// Loaded by the main thread before any worker uses it: sharp's documentation asks for this, as
// terminating workers that loaded it first can crash the process.
import 'sharp';
import { Worker } from 'worker_threads';
import { ImageError, ImageErrorReason } from '../image/image';
import { workerScript } from '../util/workerScript';
import { AugmentPlan } from './augment';
import { SampleSpec, prepareSample } from './sample';

export interface SampleJob {
  file: string;
  plan: AugmentPlan;
  /** The loader's running batch number the sample belongs to (see `hold`). */
  batch: number;
}

export type WorkerRequest = { id: number; job: SampleJob };
export type WorkerReply =
  | { kind: 'done'; id: number; data: Float32Array }
  /** The image could not be decoded: the loader skips it. */
  | { kind: 'bad-image'; id: number; file: string; reason: ImageErrorReason; message: string }
  /** Anything else: a bug or a broken environment, which stops the loader. */
  | { kind: 'failed'; id: number; message: string };

export interface SampleExecutor {
  /** Worker threads in use (0 = this thread). */
  readonly workers: number;
  /** Rejects with an ImageError for a bad image. */
  run(job: SampleJob): Promise<Float32Array>;
  /**
   * While a training step has the cores, workers start only samples of batches up to `upTo`
   * (the one the next step needs); later ones wait for `hold(undefined)`. A no-op inline, where
   * samples are prepared only between steps anyway.
   */
  hold(upTo: number | undefined): void;
  close(): Promise<void>;
}

/** Samples each thread works on at once: one decodes (sharp, off the JS thread) while another is augmented. */
export const IN_FLIGHT_PER_THREAD = 4;

/** `auto` = one worker per core but one (the main thread runs the training step). */
export function resolveWorkers(setting: number | 'auto'): number {
  return setting === 'auto' ? Math.max(0, os.availableParallelism() - 1) : setting;
}

/**
 * Whether workers should hold off while a training step runs on `engineThreads` CPU threads:
 * when those threads take every core. A worker preempting one of onnxruntime's threads stalls
 * the other at the next barrier (its GEMMs split the work evenly), so on 2 cores the engine's
 * step got slower by about the workers' CPU time (BENCHMARKS.md "train"). Between steps (the
 * optimiser runs on one core) the workers have a core of their own; during a step they only
 * finish the batch the next step needs, so a short gap between steps (MobileFaceNet's) does not
 * starve the loader.
 */
export function workersYieldToEngine(engineThreads: number): boolean {
  return engineThreads >= os.availableParallelism();
}

/** The highest batch number workers may start, shared with them (an Int32Array over shared memory, read with Atomics). */
export type HoldFlag = Int32Array;

const NO_LIMIT = 0x7fffffff;

export function newHoldFlag(): HoldFlag {
  const flag = new Int32Array(new SharedArrayBuffer(4));
  flag[0] = NO_LIMIT;
  return flag;
}

export function setHold(flag: HoldFlag, upTo: number | undefined): void {
  Atomics.store(flag, 0, upTo === undefined ? NO_LIMIT : Math.min(upTo, NO_LIMIT));
  Atomics.notify(flag, 0);
}

/**
 * Undefined when samples of `batch` may start now; otherwise a promise that settles when the
 * limit changes (check again then). Waits asynchronously: a worker blocked in Atomics.wait could
 * not finish the samples it has in flight, which the held step's successor may need.
 */
export function turnFor(flag: HoldFlag, batch: number): Promise<unknown> | undefined {
  const limit = Atomics.load(flag, 0);
  if (batch <= limit) return undefined;
  const wait = Atomics.waitAsync(flag, 0, limit);
  return wait.async ? wait.value : Promise.resolve();
}

/** What each worker is started with. */
export interface WorkerSetup {
  spec: SampleSpec;
  hold: HoldFlag;
}

/** The message text of an ImageError without the "file: " prefix it adds again. */
function detailOf(err: ImageError): string {
  return err.message.startsWith(`${err.file}: `) ? err.message.slice(err.file.length + 2) : err.message;
}

interface Queued {
  job: SampleJob;
  resolve: (data: Float32Array) => void;
  reject: (err: Error) => void;
}

/** A FIFO queue handing jobs to `lanes` lanes, at most `perLane` jobs in each. */
class Dispatcher {
  private readonly queue: Queued[] = [];
  private readonly busy: number[];

  constructor(
    lanes: number,
    private readonly perLane: number,
    private readonly start: (lane: number, item: Queued) => void,
  ) {
    this.busy = new Array<number>(lanes).fill(0);
  }

  push(item: Queued): void {
    this.queue.push(item);
    this.pump();
  }

  /** A job on `lane` has settled. */
  release(lane: number): void {
    this.busy[lane]--;
    this.pump();
  }

  /** Rejects everything still queued. */
  drain(err: Error): void {
    for (const item of this.queue.splice(0)) item.reject(err);
  }

  private pump(): void {
    while (this.queue.length > 0) {
      let lane = 0;
      for (let i = 1; i < this.busy.length; i++) if (this.busy[i] < this.busy[lane]) lane = i;
      if (this.busy[lane] >= this.perLane) return;
      this.busy[lane]++;
      this.start(lane, this.queue.shift() as Queued);
    }
  }
}

/** Prepares samples in this thread, `inFlight` at a time (decoding overlaps in sharp's own threads). */
export function inlineExecutor(spec: SampleSpec, inFlight = IN_FLIGHT_PER_THREAD): SampleExecutor {
  const dispatcher: Dispatcher = new Dispatcher(1, inFlight, (lane, item) => {
    prepareSample(item.job.file, item.job.plan, spec)
      .then(item.resolve, item.reject)
      .finally(() => dispatcher.release(lane));
  });
  return {
    workers: 0,
    run: (job) => new Promise((resolve, reject) => dispatcher.push({ job, resolve, reject })),
    hold: () => undefined,
    close: async () => dispatcher.drain(new Error('data loader closed')),
  };
}

/**
 * Prepares samples in `count` worker threads. Every job is posted as soon as it is asked for, to
 * the worker with the fewest unfinished ones; each worker queues them and works on
 * IN_FLIGHT_PER_THREAD at a time (worker.ts), so it keeps going while the main thread is
 * blocked in a training step and cannot hand out more.
 */
export function workerExecutor(spec: SampleSpec, count: number): SampleExecutor {
  const script = workerScript(__dirname, 'worker');
  const hold = newHoldFlag();
  const pending = new Map<number, { lane: number; item: Queued }>();
  let nextId = 0;
  let broken: Error | undefined;
  let closing = false;

  const fail = (err: Error): void => {
    broken ??= err;
    for (const { item } of pending.values()) item.reject(err);
    pending.clear();
    dispatcher.drain(err);
  };

  const workers = Array.from({ length: count }, (_, lane) => {
    const worker = new Worker(script.file, { workerData: { spec, hold } satisfies WorkerSetup, execArgv: script.execArgv });
    worker.on('message', (reply: WorkerReply) => {
      const entry = pending.get(reply.id);
      if (entry === undefined) return;
      pending.delete(reply.id);
      if (reply.kind === 'done') entry.item.resolve(reply.data);
      else if (reply.kind === 'bad-image') entry.item.reject(new ImageError(reply.file, reply.reason, reply.message));
      else entry.item.reject(new Error(reply.message));
      dispatcher.release(lane);
    });
    worker.on('error', (err) => fail(err));
    // A worker that dies outside close() would leave later jobs waiting forever: stop instead.
    worker.on('exit', (code) => {
      if (!closing) fail(new Error(`data loader worker exited (code ${code}) with ${pending.size} samples unfinished`));
    });
    return worker;
  });

  const dispatcher: Dispatcher = new Dispatcher(count, Number.POSITIVE_INFINITY, (lane, item) => {
    const id = nextId++;
    pending.set(id, { lane, item });
    workers[lane].postMessage({ id, job: item.job } satisfies WorkerRequest);
  });

  return {
    workers: count,
    run(job) {
      if (broken) return Promise.reject(broken);
      return new Promise((resolve, reject) => dispatcher.push({ job, resolve, reject }));
    },
    hold: (upTo) => setHold(hold, upTo),
    async close() {
      closing = true;
      setHold(hold, undefined);
      const closed = new Error('data loader closed');
      broken ??= closed;
      dispatcher.drain(closed);
      for (const { item } of pending.values()) item.reject(closed);
      pending.clear();
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}

export function createExecutor(spec: SampleSpec, workers: number): SampleExecutor {
  return workers === 0 ? inlineExecutor(spec) : workerExecutor(spec, workers);
}

/** What a worker sends back for a failed sample. */
export function failureReply(id: number, err: unknown): WorkerReply {
  if (err instanceof ImageError) return { kind: 'bad-image', id, file: err.file, reason: err.reason, message: detailOf(err) };
  return { kind: 'failed', id, message: err instanceof Error ? err.message : String(err) };
}
