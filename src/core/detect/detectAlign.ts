/**
 * detect-align over a folder, an image or a list: finds the images, skips those the manifest
 * says are done (same settings, outputs still there), processes the rest over the cores with a
 * bounded number in flight (memory stays flat however many images there are), appends one
 * manifest line per image as it finishes, and returns the counts and the time per step.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { InputError } from '../errors';
import { peakRssBytes } from '../util/memory';
import { DetectorChoice, detectorSpec } from './factory';
import { FailureReason, ManifestRecord, ManifestWriter, isDone, readManifest } from './manifest';
import { AlignSettings, ImageOutcome, STEPS, StepTimes, checkAlignSettings, settingsFingerprint } from './pipeline';
import { ImageProcessor, ProcessorConfig, inlineProcessor, workerProcessor } from './pool';
import { SourceImage, SourceKind, SourceList, listSources } from './sources';

export interface DetectAlignOptions {
  input: string;
  outputDir: string;
  /** Default: manifest.jsonl in the output folder. */
  manifest?: string;
  detector: DetectorChoice;
  align: AlignSettings;
  /** 0: one worker thread per core; 1: everything in this thread; n: n worker threads. */
  workers: number;
  /** Skip images the manifest says are done (default true). */
  resume: boolean;
  /** Images in flight per thread (default 2: one decodes or encodes while another is detected). */
  inFlight?: number;
}

export interface DetectAlignProgress {
  done: number;
  total: number;
  faces: number;
  errors: number;
}

export interface DetectAlignSummary {
  input: string;
  inputKind: SourceKind;
  outputDir: string;
  manifest: string;
  detector: string;
  /** Images found. */
  images: number;
  /** Files in the folder without an image extension, not processed. */
  skippedFiles: number;
  /** Images the manifest already had done. */
  alreadyDone: number;
  processed: number;
  /** Aligned faces written. */
  faces: number;
  /** Images with at least one face written. */
  imagesWithFaces: number;
  noFace: number;
  errors: number;
  errorsByReason: Partial<Record<FailureReason, number>>;
  /** The first few error messages (all of them are in the manifest). */
  errorSamples: string[];
  /** Images processed with a warning (e.g. contents not matching the extension). */
  warnings: number;
  /** Worker threads (0: all in the main thread). */
  workers: number;
  seconds: number;
  imagesPerSecond: number;
  /** CPU time of the whole process (every thread) per processed image, ms: what the work costs, whatever else the machine runs. */
  cpuMsPerImage: number;
  /** Peak resident memory of the process (all threads), bytes. */
  peakRssBytes: number;
  /** Mean milliseconds per processed image in each step (summed over threads, so they can exceed wall time / images). */
  meanStepMs: StepTimes;
}

/** Worker threads for a run: 0 means one per core; a single image never needs more than this thread. */
export function workerCount(requested: number, images: number): number {
  const wanted = requested === 0 ? os.availableParallelism() : requested;
  const n = Math.min(wanted, images);
  return n >= 2 ? n : 0;
}

function ensureOutputDir(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'EEXIST' || code === 'ENOTDIR' ? 'a file is in the way' : code === 'EACCES' || code === 'EPERM' || code === 'EROFS' ? 'not writable' : (code ?? String(err));
    throw new InputError(`${dir}: cannot create the output folder (${why})`);
  }
  if (!fs.statSync(dir).isDirectory()) throw new InputError(`${dir}: the output path is a file, expected a folder`);
}

/** What a rejected job (a bug or a crashed worker, not a bad image) records. */
function failedOutcome(job: SourceImage, err: unknown, fingerprint: string): ImageOutcome {
  const message = `${job.file}: ${(err instanceof Error ? err.message : String(err)).split('\n')[0]}`;
  return {
    record: { source: job.relative, status: 'error', faces: [], settings: fingerprint, error: { reason: 'failed', message } },
    times: { decode: 0, detect: 0, align: 0, encode: 0, write: 0 },
  };
}

/** Runs `jobs` through `processor` with at most its capacity in flight; `onOutcome` sees each as it finishes. */
async function runBounded(jobs: SourceImage[], processor: ImageProcessor, fingerprint: string, onOutcome: (o: ImageOutcome) => void): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < jobs.length) {
      const job = jobs[next++];
      const outcome = await processor.process(job).catch((err: unknown) => failedOutcome(job, err, fingerprint));
      onOutcome(outcome);
    }
  };
  await Promise.all(Array.from({ length: Math.min(processor.capacity, jobs.length) }, lane));
}

/** The settings that shape the outputs; a change makes a resumed run redo the images. */
function fingerprintOf(options: DetectAlignOptions): string {
  const { detector, align } = options;
  const detection = detector.detector === 'mtcnn' ? { mtcnn: detector.mtcnn } : { yunet: detector.yunet, model: path.resolve(detector.yunetModel ?? '') };
  return settingsFingerprint({ detector: detector.detector, ...detection, size: align.size, format: align.format, quality: align.quality, largest: align.largest, pad: align.pad });
}

function emptySummary(options: DetectAlignOptions, sources: SourceList, todo: number, manifest: string): DetectAlignSummary {
  return {
    input: options.input,
    inputKind: sources.kind,
    outputDir: options.outputDir,
    manifest,
    detector: options.detector.detector,
    images: sources.images.length,
    skippedFiles: sources.skipped.length,
    alreadyDone: sources.images.length - todo,
    processed: 0,
    faces: 0,
    imagesWithFaces: 0,
    noFace: 0,
    errors: 0,
    errorsByReason: {},
    errorSamples: [],
    warnings: 0,
    workers: 0,
    seconds: 0,
    imagesPerSecond: 0,
    meanStepMs: { decode: 0, detect: 0, align: 0, encode: 0, write: 0 },
    cpuMsPerImage: 0,
    peakRssBytes: 0,
  };
}

export async function detectAlign(options: DetectAlignOptions, onProgress?: (p: DetectAlignProgress) => void): Promise<DetectAlignSummary> {
  const started = performance.now();
  checkAlignSettings(options.align);
  if (path.resolve(options.input) === path.resolve(options.outputDir)) throw new InputError(`${options.outputDir}: the output folder is the input folder; choose another (it may lie inside the input)`);
  const sources = listSources(options.input, options.outputDir);
  const spec = detectorSpec(options.detector);
  ensureOutputDir(options.outputDir);
  const manifest = options.manifest ?? path.join(options.outputDir, 'manifest.jsonl');
  const fingerprint = fingerprintOf(options);
  const previous = options.resume ? readManifest(manifest) : new Map<string, ManifestRecord>();
  const outputExists = (relative: string): boolean => fs.existsSync(path.join(options.outputDir, ...relative.split('/')));
  const todo = sources.images.filter((img) => !isDone(previous.get(img.relative), fingerprint, outputExists));
  previous.clear();

  const summary = emptySummary(options, sources, todo.length, manifest);
  const writer = ManifestWriter.open(manifest);
  try {
    if (todo.length > 0) {
      const workers = workerCount(options.workers, todo.length);
      summary.workers = workers;
      // One intra-op thread per session unless the config asks for more: the detector nets are
      // too small for onnxruntime's thread pool to pay (its spinning threads cost more CPU than
      // they save, measured in BENCHMARKS.md); the cores are used by the worker threads.
      const engine = { ...spec.engine, threads: spec.engine.threads || 1 };
      const config: ProcessorConfig = { spec: { ...spec, engine }, settings: options.align, outputDir: options.outputDir, fingerprint };
      const processor = workers > 0 ? await workerProcessor(config, workers, options.inFlight) : await inlineProcessor(config, options.inFlight);
      const processingStarted = performance.now();
      const cpuStarted = process.cpuUsage();
      try {
        await runBounded(todo, processor, fingerprint, ({ record, times }) => {
          writer.append(record);
          tally(summary, record, times);
          onProgress?.({ done: summary.processed, total: todo.length, faces: summary.faces, errors: summary.errors });
        });
      } finally {
        await processor.close();
      }
      const processingSeconds = (performance.now() - processingStarted) / 1000;
      const cpu = process.cpuUsage(cpuStarted);
      summary.cpuMsPerImage = (cpu.user + cpu.system) / 1000 / summary.processed;
      summary.imagesPerSecond = summary.processed / processingSeconds;
      for (const step of STEPS) summary.meanStepMs[step] /= summary.processed;
    }
  } finally {
    writer.close();
  }
  summary.seconds = (performance.now() - started) / 1000;
  summary.peakRssBytes = peakRssBytes();
  return summary;
}

const ERROR_SAMPLES = 5;

function tally(summary: DetectAlignSummary, record: ManifestRecord, times: StepTimes): void {
  summary.processed++;
  for (const step of STEPS) summary.meanStepMs[step] += times[step];
  if (record.warnings?.length) summary.warnings++;
  if (record.status === 'ok') {
    summary.imagesWithFaces++;
    summary.faces += record.faces.length;
  } else if (record.status === 'no-face') {
    summary.noFace++;
  } else {
    summary.errors++;
    const reason = record.error?.reason ?? 'failed';
    summary.errorsByReason[reason] = (summary.errorsByReason[reason] ?? 0) + 1;
    if (summary.errorSamples.length < ERROR_SAMPLES) summary.errorSamples.push(record.error?.message ?? record.source);
  }
}
