/** Training data: datasets (ImageFolder, list file), the seed's augmentation, and the seeded, prefetching loader. */
export { AugmentPlan, AugmentSettings, NO_AUGMENTATION, applyAugmentation, drawAugmentation } from './augment';
export { Dataset, Sample, classCounts } from './dataset';
export { scanImageFolder } from './imageFolder';
export { readListFile } from './listFile';
export { Batch, DataLoader, LoaderOptions, LoaderStats, Position, SkippedImage } from './loader';
export { DatasetLocation, openDataset } from './open';
export { resolveWorkers, workersYieldToEngine } from './pool';
export { SampleSpec, prepareSample } from './sample';
export { loaderOptions } from './settings';
