import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadCheckpoint } from '../src/core/checkpoint/checkpoint';
import { Config, loadConfig } from '../src/core/config';
import { InputError } from '../src/core/errors';
import { describeModelMetadata } from '../src/core/export/metadata';
import { encodeOnnx } from '../src/core/graph/onnx';
import { TensorData } from '../src/core/graph/types';
import { buildFromConfig, describeModel, loadCheckpointModel } from '../src/core/model/load';
import { writeSynthSet } from '../src/core/synth/synthSet';
import { loadTrainingCheckpoint, resumeConflicts } from '../src/core/train/checkpointing';
import { readMetrics } from '../src/core/train/metrics';
import { TrainResult, train } from '../src/core/train/trainer';
import { TrainingSession } from '../src/core/train/session';
import { sessionOptions } from '../src/core/engines/onnxruntime';
import { attachHead } from '../src/core/heads';
import { headSpec } from '../src/core/config/sections/head';
import { Rng } from '../src/core/util/rng';

/**
 * Whole training runs of the tiny backbone on a small synthetic set: exact resume (the Resume
 * must-show), NaN handling, fine-tuning from a checkpoint or an ONNX backbone with frozen layers,
 * and the one-line errors for bad input.
 */

const ENGINE = { provider: 'cpu' as const, threads: 2, graphOptimization: 'all' as const };
let tmp: string;
let data: string;
let other: string;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'arcface-train-'));
  data = path.join(tmp, 'synth');
  other = path.join(tmp, 'synth-other');
  await writeSynthSet({ outDir: data, identities: 4, imagesPerIdentity: 5, seed: 1, size: 112 });
  await writeSynthSet({ outDir: other, identities: 3, imagesPerIdentity: 4, seed: 2, size: 112 });
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** 20 images in batches of 6 (the last of 2: a smaller batch through the same graph), 2 micro-batches per step. */
function config(out: string, ...sets: string[]): Config {
  return loadConfig('tiny', [
    `data.train_dir=${data}`,
    'data.batch_size=6',
    'data.drop_last=false',
    'data.workers=0',
    'optimizer.lr=0.05',
    'optimizer.accumulation_steps=2',
    'head.s=16',
    'schedule.warmup_epochs=0.5',
    'train.epochs=3',
    `train.output_dir=${path.join(tmp, out)}`,
    'train.checkpoint_every=0',
    'train.export_onnx=false',
    ...sets,
  ]);
}

const losses = (r: TrainResult) => readMetrics(r.metrics).map((m) => m.loss as number);

function tensorsEqual(a: Map<string, TensorData>, b: Map<string, TensorData>): boolean {
  return a.size === b.size && [...a].every(([k, t]) => Buffer.from(t.data.buffer).equals(Buffer.from(b.get(k)!.data.buffer)));
}

describe('train: the training session', () => {
  test('one run returns the loss, scores and every gradient; running statistics follow ONNX momentum', async () => {
    const cfg = config('x');
    const { graph: forward, outputs } = attachHead(buildFromConfig(cfg), headSpec(cfg.head), 3, 0);
    const session = await TrainingSession.create(forward, { loss: outputs.loss, scores: outputs.scores, input: 'input', labels: 'labels', freeze: [] }, ENGINE);
    try {
      const n = 2;
      const rng = new Rng(5);
      const images = Float32Array.from({ length: n * 3 * 112 * 112 }, () => rng.range(-1, 1));
      const oneHot = Float32Array.of(1, 0, 0, 0, 0, 1);
      const out = await session.run({ images, imageDims: [n, 3, 112, 112], labels: Int32Array.of(0, 2), oneHot, size: n }, rng);
      expect(Number.isFinite(out.loss)).toBe(true);
      expect(out.scores).toHaveLength(n * 3);
      expect([...out.grads.keys()].sort()).toEqual([...session.params.keys()].sort());
      for (const [name, g] of out.grads) expect([name, g.length]).toEqual([name, session.params.get(name)!.length]);
      // The first BatchNorm's running mean starts at 0 and variance at 1: after one update, 0.1 x the batch's.
      const bn = session.batchNormStats[0];
      expect(bn.momentum).toBeCloseTo(0.9, 6);
      session.updateRunningStats(out.batchStats);
      const mean = forward.initializers.get(bn.runningMean)!.tensor.data as Float32Array;
      const variance = forward.initializers.get(bn.runningVar)!.tensor.data as Float32Array;
      mean.forEach((v, c) => expect(v).toBeCloseTo(0.1 * out.batchStats[0].mean[c], 6));
      variance.forEach((v, c) => expect(v).toBeCloseTo(0.9 + 0.1 * out.batchStats[0].var[c], 6));
    } finally {
      await session.release();
    }
  });

  test('with a fixed batch size (drop_last) the graph is built for it: same loss and gradients, other sizes refused', async () => {
    const cfg = config('x');
    const { graph: forward, outputs } = attachHead(buildFromConfig(cfg), headSpec(cfg.head), 3, 0);
    const spec = { loss: outputs.loss, scores: outputs.scores, input: 'input', labels: 'labels', freeze: [] };
    const symbolic = await TrainingSession.create(forward, spec, ENGINE);
    const fixed = await TrainingSession.create(forward, { ...spec, batchSize: 2 }, ENGINE);
    try {
      expect(fixed.training.graph.inputs.find((v) => v.name === 'input')?.shape[0]).toBe(2);
      expect(symbolic.training.graph.inputs.find((v) => v.name === 'input')?.shape[0]).toBe(forward.inputs[0].shape[0]);
      const batch = (n: number) => {
        const rng = new Rng(7);
        const oneHot = new Float32Array(n * 3);
        for (let i = 0; i < n; i++) oneHot[i * 3 + (i % 3)] = 1;
        const images = Float32Array.from({ length: n * 3 * 112 * 112 }, () => rng.range(-1, 1));
        return { images, imageDims: [n, 3, 112, 112] as const, labels: Int32Array.from({ length: n }, (_, i) => i % 3), oneHot, size: n };
      };
      const a = await symbolic.run(batch(2), new Rng(1));
      const b = await fixed.run(batch(2), new Rng(1));
      expect(b.loss).toBeCloseTo(a.loss, 5);
      // onnxruntime fuses more of the fixed-size graph (a residual Add into the conv before it), so
      // the two differ by float32 rounding. A BatchNorm scale's gradient sums dy * (x - mean) as
      // sum(dy * x) - mean * sum(dy), which cancels 70-1000x in this untrained net's conv2 and
      // turns ~1e-7 differences into ~3e-3 of its largest value; a wrong batch size would be 50%.
      for (const [name, g] of a.grads) {
        const h = b.grads.get(name) as Float32Array;
        const scale = Math.max(...g.map(Math.abs), 1e-6);
        const tolerance = /\.bn\.weight$/.test(name) ? 1e-2 : 1e-4;
        expect([name, Math.max(...g.map((v, i) => Math.abs(v - h[i]))) / scale < tolerance]).toEqual([name, true]);
      }
      await expect(fixed.run(batch(3), new Rng(1))).rejects.toThrow();
    } finally {
      await symbolic.release();
      await fixed.release();
    }
  });
});

test('engine options map to onnxruntime session config entries (spinning, spinning after a run)', () => {
  const base = { provider: 'cpu', threads: 2, graphOptimization: 'all' } as const;
  expect(sessionOptions(base).extra).toBeUndefined();
  expect(sessionOptions({ ...base, spinAfterRun: false }).extra).toEqual({ session: { force_spinning_stop: '1' } });
  expect(sessionOptions({ ...base, spinning: false, spinAfterRun: false }).extra).toEqual({ session: { intra_op: { allow_spinning: '0' }, force_spinning_stop: '1' } });
});

describe('train: resume', () => {
  let straight: TrainResult;

  beforeAll(async () => {
    straight = await train(config('straight', 'train.export_onnx=true'), { engine: ENGINE });
  });

  test('a run: 6 steps over 3 epochs, metrics per step, checkpoints and the ONNX export', () => {
    expect(straight).toMatchObject({ status: 'completed', startStep: 0, step: 6, totalSteps: 6 });
    const rows = readMetrics(straight.metrics);
    expect(rows.map((r) => [r.step, r.epoch, r.batch, r.images])).toEqual([
      [1, 0, 1, 12],
      [2, 0, 3, 8],
      [3, 1, 1, 12],
      [4, 1, 3, 8],
      [5, 2, 1, 12],
      [6, 2, 3, 8],
    ]);
    for (const r of rows) expect(Number.isFinite(r.loss as number) && (r.lr as number) >= 0 && (r.accuracy as number) >= 0).toBe(true);
    expect(rows[0].lr).toBe(0); // warm-up starts at 0
    expect(straight.onnx?.verification?.maxRelativeError).toBeLessThan(1e-4);
    expect(fs.existsSync(path.join(straight.outputDir, 'config.json'))).toBe(true);
    // The training checkpoint is also a model checkpoint: model-only readers skip its training state.
    const model = loadCheckpointModel(straight.checkpoint);
    expect(model.config.model.backbone).toBe('tiny');
    expect(tensorsEqual(loadCheckpoint(straight.checkpoint).tensors, loadCheckpoint(straight.finalCheckpoint!).tensors)).toBe(true);
    const saved = loadTrainingCheckpoint(straight.checkpoint);
    expect(saved.state).toMatchObject({ step: 6, totalSteps: 6, position: { epoch: 3, batch: 0 }, optimizer: { type: 'sgd', step: 6 } });
    expect([...saved.head.keys()]).toEqual(['head.weight']);
    expect(saved.optimizer.buffers.size).toBeGreaterThan(10);
  });

  test('3 steps, Ctrl-C (mid-epoch), --resume, 3 steps: the same losses and weights as 6 straight steps', async () => {
    const controller = new AbortController();
    const first = await train(config('resumed'), { engine: ENGINE, signal: controller.signal }, { onStep: (m) => m.step === 3 && controller.abort() });
    expect(first).toMatchObject({ status: 'interrupted', step: 3 });
    expect(loadTrainingCheckpoint(first.checkpoint).state.position).toEqual({ epoch: 1, batch: 2 });
    const second = await train(config('resumed'), { engine: ENGINE, resume: true });
    expect(second).toMatchObject({ status: 'completed', startStep: 3, step: 6 });
    const a = losses(straight);
    const b = losses(second);
    expect(b).toHaveLength(6);
    b.forEach((loss, i) => expect(Math.abs(loss - a[i])).toBeLessThanOrEqual(1e-5 * Math.abs(a[i])));
    // Not only the losses: the resumed run ends with the same bytes.
    expect(tensorsEqual(loadCheckpoint(second.checkpoint).tensors, loadCheckpoint(straight.checkpoint).tensors)).toBe(true);
  });

  test('resume refuses a changed config, and a new run refuses a folder that holds one', async () => {
    await expect(train(config('straight', 'optimizer.lr=0.1'), { engine: ENGINE, resume: true })).rejects.toThrow(
      /cannot resume .*last\.safetensors: optimizer\.lr: the run used 0\.05, the config now says 0\.1/,
    );
    await expect(train(config('straight'), { engine: ENGINE })).rejects.toThrow(/already holds a run .*pass --resume/);
    await expect(train(config('nothing-here'), { engine: ENGINE, resume: true })).rejects.toThrow(/cannot resume: .*last\.safetensors does not exist/);
    expect(resumeConflicts(config('x'), config('x', 'train.epochs=9', 'data.workers=2', 'train.checkpoint_every=5'))).toEqual([]);
  });

  test('fine-tuning from the checkpoint: a new head for new identities, frozen layers unchanged', async () => {
    const init = straight.finalCheckpoint!;
    const r = await train(
      config('finetune', `data.train_dir=${other}`, `train.init_from=${init}`, 'train.freeze=[backbone.conv1,backbone.conv2]', 'train.epochs=1', 'data.batch_size=4', 'optimizer.accumulation_steps=1'),
      { engine: ENGINE },
    );
    expect(r).toMatchObject({ status: 'completed', step: 3 });
    expect(r.notes.join('\n')).toMatch(/backbone tiny .* from .*final\.safetensors/);
    const before = loadCheckpoint(init).tensors;
    const after = loadCheckpoint(r.finalCheckpoint!).tensors;
    for (const [name, t] of after) {
      const same = Buffer.from(t.data.buffer).equals(Buffer.from(before.get(name)!.data.buffer));
      // conv1/conv2 are frozen whole (their BatchNorms too, running statistics included); the rest trains.
      expect([name, same]).toEqual([name, /^backbone\.conv[12]\./.test(name)]);
    }
    expect(loadTrainingCheckpoint(r.checkpoint).head.get('head.weight')!.dims).toEqual([3, 128]);
  });

  test('fine-tuning from ONNX: ours by name, a folded export or a third party\'s graph trained as imported', async () => {
    // Ours, unfolded: every tensor of the tiny backbone by name.
    const cfg = config('x');
    const ours = buildFromConfig(cfg);
    ours.metadata = describeModelMetadata(describeModel(cfg), false);
    const oursFile = path.join(tmp, 'ours.onnx');
    fs.writeFileSync(oursFile, encodeOnnx(ours));
    // A third party's: other input/output names, no metadata.
    const theirs = buildFromConfig(cfg);
    theirs.metadata = {};
    for (const n of theirs.nodes) {
      n.inputs = n.inputs.map((t) => (t === 'input' ? 'data' : t));
      n.outputs = n.outputs.map((t) => (t === 'embedding' ? 'fc1' : t));
    }
    theirs.inputs[0].name = 'data';
    theirs.outputs[0].name = 'fc1';
    const theirsFile = path.join(tmp, 'theirs.onnx');
    fs.writeFileSync(theirsFile, encodeOnnx(theirs));

    const cases: [string, RegExp, string][] = [
      [oursFile, /tiny tensors loaded by name into our tiny graph/, 'onnx-mapped'],
      [straight.onnx!.path, /training the imported graph itself .*BatchNorm folded at export/, 'onnx-imported'],
      [theirsFile, /training the imported graph itself .*metadata names none of our backbones/, 'onnx-imported'],
    ];
    for (const [file, note, origin] of cases) {
      const r = await train(config(`onnx-${path.basename(file)}`, `train.init_from=${file}`, 'train.epochs=1', 'train.export_onnx=true'), { engine: ENGINE });
      expect(r.notes.join('\n')).toMatch(note);
      expect(loadTrainingCheckpoint(r.checkpoint).state.origin.kind).toBe(origin);
      expect(r.onnx?.verification?.maxRelativeError).toBeLessThan(1e-4);
      expect(r.finalCheckpoint === undefined).toBe(origin === 'onnx-imported');
    }
  });
});

describe('train: bad input and divergence', () => {
  test('a NaN loss stops naming the step and keeps the last good checkpoint', async () => {
    // No normalisation in a softmax head: a huge step overflows the logits at the next step.
    const cfg = config('nan', 'head.type=softmax', 'optimizer.lr=1e30', 'schedule.warmup_epochs=0', 'optimizer.accumulation_steps=1', 'train.checkpoint_every=1');
    const err = (await train(cfg, { engine: ENGINE }).catch((e: Error) => e)) as Error;
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toMatch(/^step 2 \(epoch 0, batch 1\): the (loss|gradient of .*) is (NaN|-?Infinity); training stopped; the last good checkpoint, .*last\.safetensors \(step 1\), is kept/);
    expect(loadTrainingCheckpoint(path.join(cfg.train.output_dir, 'last.safetensors')).state.step).toBe(1);
  });

  test('one-line errors naming the file, key or value', async () => {
    const empty = path.join(tmp, 'empty');
    fs.mkdirSync(empty);
    const file = path.join(tmp, 'a-file');
    fs.writeFileSync(file, 'x');
    const cases: [Config, RegExp][] = [
      [config('e1', `data.train_dir=${empty}`), /empty.*: empty dataset folder/],
      [config('e2', 'data.batch_size=64'), /data\.batch_size 64 is larger than the dataset: .*synth has 20 images/],
      [config('e3', `train.output_dir=${path.join(file, 'run')}`), /train\.output_dir .*a-file\/run: cannot create the folder/],
      [config('e4', 'train.freeze=[backbone.nothing]'), /train\.freeze: backbone\.nothing matches no trainable parameter/],
      [config('e5', `train.init_from=${path.join(tmp, 'missing.onnx')}`), /train\.init_from .*missing\.onnx: cannot read \(no such file\)/],
    ];
    if (process.getuid?.() !== 0) {
      const locked = path.join(tmp, 'locked');
      fs.mkdirSync(locked, { mode: 0o555 });
      cases.push([config('e6', `train.output_dir=${locked}`), /cannot write .*locked\/config\.json: directory .*locked is not writable/]);
    } else if (fs.existsSync('/sys/kernel')) {
      // Root writes anywhere a mode allows; /sys refuses even root.
      cases.push([config('e6', 'train.output_dir=/sys/arcface-train-test'), /train\.output_dir \/sys\/arcface-train-test: cannot create the folder \(permission denied\)/]);
    }
    for (const [cfg, message] of cases) {
      const err = (await train(cfg, { engine: ENGINE }).catch((e: Error) => e)) as Error;
      expect(err).toBeInstanceOf(InputError);
      expect(err.message).toMatch(message);
      expect(err.message).not.toContain('\n');
    }
  });
});
