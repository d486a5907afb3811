import * as fs from 'fs';
import { applyWeights } from '../checkpoint/checkpoint';
import { saveCheckpoint } from '../checkpoint/checkpoint';
import { Config } from '../config';
import { headSpec } from '../config/sections/head';
import { baseLearningRate, optimizerSpec } from '../config/sections/optimizer';
import { scheduleOf } from '../config/sections/schedule';
import { DataLoader, Dataset, SkippedImage, loaderOptions, openDataset, workersYieldToEngine } from '../data';
import { EngineOptions, effectiveThreads } from '../engines/onnxruntime';
import { InputError } from '../errors';
import { ExportResult, exportOnnx } from '../export/exportOnnx';
import { Graph } from '../graph/types';
import { LABELS_NAME, attachHead } from '../heads';
import { INPUT_NAME } from '../nn/backbone';
import { writeFileAtomic } from '../util/atomic';
import { TrainBackbone, initialBackbone, rebuildBackbone } from './backbone';
import { loaderSource } from './batches';
import { RunSnapshot, SavedRun, hasCheckpoint, headTensors, loadTrainingCheckpoint, resumeConflicts, runFiles, saveTrainingCheckpoint } from './checkpointing';
import { LoopTiming, TrainingDivergedError, runLoop } from './loop';
import { MetricsLog, StepMetrics } from './metrics';
import { Updater, createOptimizer, noDecayRule } from './optim';
import { learningRate, validateSchedule } from './schedule';
import { TrainingSession } from './session';

/**
 * A whole training run from a config: dataset, backbone (fresh, fine-tuned or resumed), head,
 * training session, loader, optimiser and schedule; the step loop with its checkpoints and
 * metrics log; at the end the last and final checkpoints and the ONNX export. Reports through
 * `events`, never prints.
 */

export interface TrainOptions {
  engine: EngineOptions;
  /** Overrides train.resume. */
  resume?: boolean | 'auto';
  /** Aborting (Ctrl-C) stops at the next optimiser step with a checkpoint. */
  signal?: AbortSignal;
}

export interface RunInfo {
  outputDir: string;
  dataset: { source: string; images: number; classes: number };
  backbone: string;
  origin: TrainBackbone['origin']['kind'];
  /** Trained parameters (tensors and values) and frozen values. */
  trainedTensors: number;
  trainedValues: number;
  frozenValues: number;
  batchSize: number;
  accumulationSteps: number;
  batchesPerEpoch: number;
  stepsPerEpoch: number;
  startStep: number;
  totalSteps: number;
  workers: number;
  resumedFrom?: string;
}

export interface TrainEvents {
  onStart?(info: RunInfo): void;
  onStep?(m: StepMetrics): void;
  onCheckpoint?(file: string, step: number): void;
  onSkip?(s: SkippedImage): void;
  /** Warnings and decisions, one line each. */
  onNote?(text: string): void;
}

export interface LossSummary {
  /** Steps this process ran. */
  steps: number;
  first: number | null;
  last: number | null;
  /** Means over the first and last (up to) 10 steps of this process. */
  firstMean: number | null;
  lastMean: number | null;
  lastAccuracy: number | null;
}

export interface TrainResult {
  status: 'completed' | 'interrupted';
  outputDir: string;
  startStep: number;
  step: number;
  totalSteps: number;
  /** The resumable checkpoint (training state included). */
  checkpoint: string;
  /** The model-only checkpoint at the end (not for an imported ONNX backbone). */
  finalCheckpoint?: string;
  metrics: string;
  onnx?: ExportResult;
  loss: LossSummary;
  /** Images over the time spent in steps (data wait, engine, optimiser). */
  imagesPerSecond: number;
  timing: { setupS: number; dataS: number; engineS: number; optimizerS: number; checkpointS: number; exportS: number; totalS: number };
  skipped: SkippedImage[];
  notes: string[];
}

function prepareOutputDir(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'EACCES' || code === 'EPERM' || code === 'EROFS' ? 'permission denied' : code === 'EEXIST' || code === 'ENOTDIR' ? 'a file is in the way' : (err as Error).message;
    throw new InputError(`train.output_dir ${dir}: cannot create the folder (${why})`);
  }
  if (!fs.statSync(dir).isDirectory()) throw new InputError(`train.output_dir ${dir}: expected a folder, got a file`);
}

/** The checkpoint to resume from, per train.resume (false / true / auto), or undefined for a new run. */
function resumePoint(outputDir: string, mode: boolean | 'auto'): string | undefined {
  const { last } = runFiles(outputDir);
  const exists = hasCheckpoint(outputDir);
  if (mode === true && !exists) throw new InputError(`cannot resume: ${last} does not exist (train.output_dir ${outputDir} holds no run)`);
  if (mode === false && exists) {
    throw new InputError(`train.output_dir ${outputDir} already holds a run (${last}): pass --resume to continue it, or choose another output_dir`);
  }
  return exists ? last : undefined;
}

function checkResumable(saved: SavedRun, config: Config, dataset: Dataset): void {
  const conflicts = resumeConflicts(saved.state.config, config);
  if (conflicts.length > 0) {
    const more = conflicts.length > 1 ? ` (and ${conflicts.length - 1} more)` : '';
    throw new InputError(`cannot resume ${saved.file}: ${conflicts[0]}${more}`);
  }
  const was = saved.state.classes;
  const now = dataset.classes;
  const differs = was.findIndex((c, i) => c !== now[i]);
  if (was.length !== now.length || differs >= 0) {
    const detail = differs >= 0 ? `class ${differs} was ${was[differs]}, is now ${now[differs] ?? 'absent'}` : `${was.length} classes then, ${now.length} now`;
    throw new InputError(`cannot resume ${saved.file}: the dataset ${dataset.source} changed (${detail})`);
  }
}

/** Loads the saved head into the fresh forward graph (names and shapes must match). */
function applyHead(forward: Graph, backbone: Graph, saved: SavedRun): void {
  const wanted = headTensors(forward, backbone);
  for (const [name, mine] of wanted) {
    const t = saved.head.get(name);
    if (!t || t.dims.join() !== mine.dims.join()) {
      throw new InputError(`${saved.file}: head tensor ${name} is ${t ? `[${t.dims}]` : 'missing'}, the head needs [${mine.dims}]`);
    }
  }
  for (const [name, t] of saved.head) {
    const init = forward.initializers.get(name);
    if (!init || !wanted.has(name)) throw new InputError(`${saved.file}: head tensor ${name} is not in this head (head.type changed?)`);
    init.tensor = { dtype: t.dtype, dims: [...t.dims], data: t.data.slice() };
  }
}

function checkFreeze(prefixes: readonly string[], forward: Graph): void {
  const trainable = [...forward.initializers.values()].filter((i) => i.role === 'trainable').map((i) => i.name);
  for (const prefix of prefixes) {
    if (!trainable.some((name) => name.startsWith(prefix))) {
      throw new InputError(`train.freeze: ${prefix} matches no trainable parameter (names look like ${trainable[0]}, ${trainable[trainable.length - 1]})`);
    }
  }
  if (trainable.every((name) => prefixes.some((p) => name.startsWith(p)))) throw new InputError('train.freeze: freezes every parameter; nothing would be trained');
}

function lossSummary(losses: number[], accuracies: number[]): LossSummary {
  const mean = (xs: number[]) => (xs.length === 0 ? null : xs.reduce((a, b) => a + b, 0) / xs.length);
  const k = Math.min(10, losses.length);
  return {
    steps: losses.length,
    first: losses[0] ?? null,
    last: losses[losses.length - 1] ?? null,
    firstMean: mean(losses.slice(0, k)),
    lastMean: mean(losses.slice(losses.length - k)),
    lastAccuracy: mean(accuracies.slice(accuracies.length - k)),
  };
}

export async function train(config: Config, options: TrainOptions, events: TrainEvents = {}): Promise<TrainResult> {
  const started = performance.now();
  const notes: string[] = [];
  const note = (text: string) => {
    notes.push(text);
    events.onNote?.(text);
  };
  const outputDir = config.train.output_dir;
  const files = runFiles(outputDir);
  prepareOutputDir(outputDir);
  const resumeFrom = resumePoint(outputDir, options.resume ?? config.train.resume);
  const saved = resumeFrom === undefined ? undefined : loadTrainingCheckpoint(resumeFrom);

  const dataset = openDataset({ trainDir: config.data.train_dir, listFile: config.data.list_file });
  dataset.warnings.forEach(note);
  if (saved) checkResumable(saved, config, dataset);
  // Written early: it records the run and proves the folder writable before any real work.
  writeFileAtomic(files.config, `${JSON.stringify(config, null, 2)}\n`);

  let backbone: TrainBackbone;
  if (saved) {
    backbone = rebuildBackbone(saved.state.origin, saved.model, saved.input);
    applyWeights(backbone.graph, saved.backbone, saved.file);
  } else {
    backbone = initialBackbone(config);
  }
  backbone.notes.forEach(note);
  const head = attachHead(backbone.graph, headSpec(config.head), dataset.classes.length, config.model.seed);
  const forward = head.graph;
  if (saved) applyHead(forward, backbone.graph, saved);
  checkFreeze(config.train.freeze, forward);

  const skipped: SkippedImage[] = [];
  const loader = DataLoader.create(
    dataset,
    loaderOptions({ data: config.data, input: backbone.input, model: config.model }, (s) => {
      skipped.push(s);
      events.onSkip?.(s);
    }),
  );
  let session: TrainingSession | undefined;
  try {
    session = await TrainingSession.create(
      forward,
      {
        loss: head.outputs.loss,
        scores: head.outputs.scores,
        input: INPUT_NAME,
        labels: LABELS_NAME,
        freeze: config.train.freeze,
        ...(config.data.drop_last ? { batchSize: config.data.batch_size } : {}),
      },
      options.engine,
    );
    const accumulation = config.optimizer.accumulation_steps;
    const stepsPerEpoch = Math.ceil(loader.batchesPerEpoch / accumulation);
    const totalSteps = Math.min(config.train.epochs * stepsPerEpoch, config.train.max_steps ?? Infinity);
    const startStep = saved?.state.step ?? 0;
    if (saved && saved.optimizer.step !== startStep) throw new InputError(`${saved.file}: optimiser step ${saved.optimizer.step} differs from the run's step ${startStep}`);
    if (saved && saved.state.totalSteps !== totalSteps) {
      note(`the run is now ${totalSteps} steps long (was ${saved.state.totalSteps}): the schedule is recomputed for the new length`);
    }

    const optimizer = createOptimizer(optimizerSpec(config.optimizer), noDecayRule(forward, config.optimizer.no_decay_bn_bias), saved?.optimizer);
    const schedule = scheduleOf(config.schedule, baseLearningRate(config.optimizer), { stepsPerEpoch, totalSteps });
    try {
      validateSchedule(schedule);
    } catch (err) {
      throw new InputError(`schedule: ${(err as Error).message}`);
    }
    const updater = new Updater({ optimizer, learningRate: (s) => learningRate(schedule, s), accumulationSteps: accumulation, gradClip: config.optimizer.grad_clip });

    const source = loaderSource(loader, options.engine.provider === 'cpu' && workersYieldToEngine(effectiveThreads(options.engine.threads)));
    if (saved) source.startAt(saved.state.position.epoch, saved.state.position.batch);
    const log = MetricsLog.open(files.metrics, saved ? startStep : undefined);
    const trainedValues = [...session.params.values()].reduce((n, p) => n + p.length, 0);
    const allValues = [...forward.initializers.values()].filter((i) => i.role === 'trainable').reduce((n, i) => n + i.tensor.data.length, 0);
    events.onStart?.({
      outputDir,
      dataset: { source: dataset.source, images: dataset.samples.length, classes: dataset.classes.length },
      backbone: backbone.description.backbone,
      origin: backbone.origin.kind,
      trainedTensors: session.params.size,
      trainedValues,
      frozenValues: allValues - trainedValues,
      batchSize: config.data.batch_size,
      accumulationSteps: accumulation,
      batchesPerEpoch: loader.batchesPerEpoch,
      stepsPerEpoch,
      startStep,
      totalSteps,
      workers: loader.workers,
      resumedFrom: saved?.file,
    });

    const snapshot = (step: number): RunSnapshot => ({
      backbone: backbone.graph,
      forward,
      model: backbone.model,
      input: backbone.input,
      optimizer: optimizer.state(),
      state: {
        version: 1,
        step,
        totalSteps,
        position: source.position,
        optimizer: { type: optimizer.type, step: optimizer.step },
        classes: dataset.classes,
        origin: backbone.origin,
        config,
      },
    });
    let lastGood: { file: string; step: number } | undefined = saved ? { file: saved.file, step: startStep } : undefined;
    const checkpoint = (step: number) => {
      saveTrainingCheckpoint(files.last, snapshot(step));
      lastGood = { file: files.last, step };
      events.onCheckpoint?.(files.last, step);
    };

    const losses: number[] = [];
    const accuracies: number[] = [];
    const setupS = (performance.now() - started) / 1000;
    let loop: { status: 'completed' | 'interrupted'; step: number; timing: LoopTiming };
    try {
      loop = await runLoop({
        runner: session,
        source,
        updater,
        startStep,
        totalSteps,
        seed: config.model.seed,
        checkpointEvery: config.train.checkpoint_every,
        signal: options.signal,
        checkpoint,
        onStep: (m) => {
          losses.push(m.loss);
          accuracies.push(m.accuracy);
          if (m.step % config.train.log_every === 0 || m.step === totalSteps) log.append(m);
          events.onStep?.(m);
        },
      });
    } catch (err) {
      if (err instanceof TrainingDivergedError) {
        const good = lastGood as { file: string; step: number } | undefined;
        throw err.withCheckpoint(good?.file, good?.step);
      }
      throw err;
    }

    let exportMs = 0;
    let finalCheckpoint: string | undefined;
    let onnx: ExportResult | undefined;
    if (loop.status === 'completed') {
      const t = performance.now();
      checkpoint(loop.step);
      loop.timing.checkpointMs += performance.now() - t;
      if (backbone.origin.kind !== 'onnx-imported') {
        saveCheckpoint(files.final, backbone.graph, { model: backbone.model, input: backbone.input }, { step: loop.step, epoch: source.position.epoch });
        finalCheckpoint = files.final;
      }
      if (config.train.export_onnx) {
        const e = performance.now();
        onnx = await exportOnnx(backbone.graph, backbone.description, files.onnx, {
          l2Normalize: config.export.l2_normalize,
          verify: config.export.verify,
          engine: options.engine,
          seed: config.model.seed,
        });
        exportMs = performance.now() - e;
      }
    }
    const { dataMs, engineMs, optimizerMs, checkpointMs } = loop.timing;
    const stepSeconds = (dataMs + engineMs + optimizerMs) / 1000;
    return {
      status: loop.status,
      outputDir,
      startStep,
      step: loop.step,
      totalSteps,
      checkpoint: files.last,
      finalCheckpoint,
      metrics: files.metrics,
      onnx,
      loss: lossSummary(losses, accuracies),
      imagesPerSecond: stepSeconds > 0 ? loader.stats().images / stepSeconds : 0,
      timing: {
        setupS,
        dataS: dataMs / 1000,
        engineS: engineMs / 1000,
        optimizerS: optimizerMs / 1000,
        checkpointS: checkpointMs / 1000,
        exportS: exportMs / 1000,
        totalS: (performance.now() - started) / 1000,
      },
      skipped,
      notes,
    };
  } finally {
    await loader.close();
    await session?.release();
  }
}
