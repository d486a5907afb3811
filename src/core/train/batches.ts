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
  close(): Promise<void>;
}

/** The data loader as a BatchSource. */
export function loaderSource(loader: DataLoader): BatchSource {
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
    close: () => loader.close(),
  };
}
