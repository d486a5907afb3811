import { DataLoader, Position } from '../data/loader';
import { TrainBatch } from './session';

/**
 * Where the training loop gets its micro-batches: an endless, resumable stream. The data
 * loader is one; tests use in-memory ones. Its position is part of a checkpoint.
 */
export interface BatchSource {
  readonly batchesPerEpoch: number;
  /** Where the next batch comes from. */
  readonly position: Position;
  startAt(epoch: number, batch: number): void;
  next(): Promise<TrainBatch & Position>;
  /** Told when a training step starts (true) and ends (false); a source may keep its background work off the cores meanwhile. */
  stepping?(running: boolean): void;
  close(): Promise<void>;
}

/** The data loader as a BatchSource; `holdDuringSteps`: while a step runs its workers prepare only the next batch (pool.ts, workersYieldToEngine). */
export function loaderSource(loader: DataLoader, holdDuringSteps = false): BatchSource {
  return {
    batchesPerEpoch: loader.batchesPerEpoch,
    get position() {
      return loader.position;
    },
    startAt: (epoch, batch) => loader.startAt(epoch, batch),
    async next() {
      const b = await loader.next();
      return { images: b.images.data, imageDims: b.images.dims, labels: b.labels, oneHot: b.oneHot, size: b.labels.length, epoch: b.epoch, batch: b.index };
    },
    ...(holdDuringSteps ? { stepping: (running: boolean) => loader.hold(running) } : {}),
    close: () => loader.close(),
  };
}
