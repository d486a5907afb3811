#!/usr/bin/env node
/**
 * Training-step benchmark for BENCHMARKS.md: one session.run of the autodiff training graph
 * (forward + backward, every parameter's gradient) for mobilefacenet and resnet50 with a
 * representative head (normalised-linear logits * 64 over 1000 classes, softmax cross-entropy
 * on one-hot labels), embedding 512, batch 32, 2 intra-op threads.
 *
 * Each model runs in its own child process, so its peak RSS (VmHWM) is its own. A child times
 * STEPS steps after one warm-up step, then (with --profile) runs two more steps under
 * onnxruntime's profiler in a fresh session and prints the op-time split by what the ops are for
 * (forward / backward of each forward op type, sub-scoped: Conv dX / dW), so that variants can
 * be compared by shares, which a shared machine disturbs less than wall time.
 *
 * Usage: node bench/train-step.js [--models mobilefacenet,resnet50] [--steps 3] [--rounds 1]
 *          [--threads 2] [--batch 32] [--classes 1000] [--spin 1|0] [--pattern 0|1] [--nchwc 1|0] [--profile] [--torch]
 *   --pattern 1 turns on onnxruntime's memory pattern (off in training sessions).
 *   --spin 0 turns off onnxruntime's intra-op spinning (EngineOptions.spinning), which helps on
 *   a machine whose cores other processes share.
 *   --nchwc 0 keeps every conv on onnxruntime's NCHW path (engines/nchwcConvs.ts; on by default,
 *   as in `train`).
 *   --torch interleaves ../shared/anchors/torch_anchor.py (Debian's python3-torch) per round.
 * Prints per-round lines on stderr and a JSON summary (medians) on stdout.
 */
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const ANCHOR = path.resolve(ROOT, '../shared/anchors/torch_anchor.py');
const TORCH_NAME = { mobilefacenet: 'mobilefacenet', resnet50: 'seed-resnet50' };

function parseArgs(argv) {
  const opts = { models: ['mobilefacenet', 'resnet50'], steps: 3, rounds: 1, threads: 2, batch: 32, classes: 1000, spin: 1, pattern: 0, nchwc: 1, profile: false, torch: false, child: undefined };
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i].replace(/^--/, '');
    if (key === 'profile' || key === 'torch') opts[key] = true;
    else if (key === 'models') opts.models = argv[++i].split(',');
    else if (key === 'child') opts.child = argv[++i];
    else if (key in opts) opts[key] = Number(argv[++i]);
    else throw new Error(`unknown option ${argv[i]}`);
  }
  return opts;
}

const median = (xs) => {
  const s = xs.slice().sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

// ------------------------------------------------------------------ child: one model

/** Backbone + normalised-linear head + softmax cross-entropy; returns the forward graph (loss 'loss'). */
function classifierGraph(model, opts) {
  const { buildBackbone } = require('../src/core/nn/registry');
  const { attr, float32Tensor, int64Tensor } = require('../src/core/graph/types');
  const { Rng } = require('../src/core/util/rng');
  const graph = buildBackbone(model, { embeddingSize: 512, dropout: model === 'resnet50' ? 0.4 : 0, seed: 1 });
  const rng = new Rng(2, 'head');
  const bound = Math.sqrt(6 / (512 + opts.classes));
  graph.initializers.set('head.weight', {
    name: 'head.weight',
    role: 'trainable',
    tensor: float32Tensor([opts.classes, 512], Float32Array.from({ length: opts.classes * 512 }, () => rng.range(-bound, bound))),
  });
  graph.initializers.set('head.scale', { name: 'head.scale', role: 'constant', tensor: float32Tensor([], Float32Array.of(64)) });
  graph.initializers.set('head.axes', { name: 'head.axes', role: 'constant', tensor: int64Tensor([1]) });
  graph.inputs.push({ name: 'labels', dtype: 'float32', shape: ['N', opts.classes] });
  const node = (opType, inputs, output, attrs = {}) => graph.nodes.push({ name: `head.${output}`, opType, domain: '', inputs, outputs: [output], attrs });
  node('LpNormalization', ['embedding'], 'unit', { axis: attr.int(1), p: attr.int(2) });
  node('LpNormalization', ['head.weight'], 'unit_weight', { axis: attr.int(1), p: attr.int(2) });
  node('Gemm', ['unit', 'unit_weight'], 'cosine', { transB: attr.int(1) });
  node('Mul', ['cosine', 'head.scale'], 'logits');
  node('LogSoftmax', ['logits'], 'log_probabilities', { axis: attr.int(1) });
  node('Mul', ['log_probabilities', 'labels'], 'picked');
  node('ReduceSum', ['picked', 'head.axes'], 'per_sample', { keepdims: attr.int(0) });
  node('ReduceMean', ['per_sample'], 'mean_loss', { keepdims: attr.int(0) });
  node('Neg', ['mean_loss'], 'loss');
  graph.outputs = [{ name: 'loss', dtype: 'float32', shape: [] }];
  return graph;
}

function feedsFor(ort, forward, training, opts) {
  const { Rng } = require('../src/core/util/rng');
  const { sampleDropoutMask } = require('../src/core/autodiff');
  const rng = new Rng(3, 'inputs');
  const n = opts.batch;
  const feeds = {
    input: new ort.Tensor('float32', Float32Array.from({ length: n * 3 * 112 * 112 }, () => rng.range(-1, 1)), [n, 3, 112, 112]),
  };
  const labels = new Float32Array(n * opts.classes);
  for (let i = 0; i < n; i++) labels[i * opts.classes + rng.int(opts.classes)] = 1;
  feeds.labels = new ort.Tensor('float32', labels, [n, opts.classes]);
  for (const p of training.params) {
    const t = forward.initializers.get(p).tensor;
    feeds[p] = new ort.Tensor('float32', t.data, t.dims);
  }
  for (const mask of training.dropoutMasks) {
    const dims = mask.shape.map((d) => (typeof d === 'number' ? d : n));
    feeds[mask.input] = new ort.Tensor('float32', sampleDropoutMask(rng, dims.reduce((a, b) => a * b, 1), mask.ratio), dims);
  }
  return feeds;
}

/**
 * What a training-graph node is for: the forward node it belongs to (its own name, a training
 * form's `<node>/train/...`, or a gradient's `grad/<node>/...` with an optional sub-scope such
 * as dX/dW), as "<forward op type> forward|backward[ sub-scope]".
 */
function categorizer(forward) {
  const opOf = new Map(forward.nodes.map((n) => [n.name, n.opType]));
  return (name) => {
    const grad = name.startsWith('grad/');
    const rest = grad ? name.slice(5) : name;
    const slash = rest.indexOf('/');
    const owner = slash < 0 ? rest : rest.slice(0, slash);
    const op = opOf.get(owner);
    if (!op) return grad ? 'gradient outputs' : 'other';
    if (!grad) return `${op} forward`;
    const sub = /^(d[A-Z]\w*)\//.exec(rest.slice(slash + 1));
    return `${op} backward${sub ? ` ${sub[1]}` : ''}`;
  };
}

/** Sums kernel times of a profile file per category and per (category, op type), in ms per step. */
function splitProfile(file, categorize, steps) {
  const events = JSON.parse(fs.readFileSync(file, 'utf8'));
  const runs = events.filter((e) => e.cat === 'Session' && e.name === 'model_run');
  const byCategory = {};
  const byOp = {};
  const byNode = {};
  const byPart = {};
  let total = 0;
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
    const node = e.name.slice(0, -'_kernel_time'.length);
    const cat = categorize(node);
    const ms = e.dur / 1000 / steps;
    byCategory[cat] = (byCategory[cat] ?? 0) + ms;
    const key = `${cat} :: ${e.args.op_name}`;
    byOp[key] = (byOp[key] ?? 0) + ms;
    byNode[node] = (byNode[node] ?? 0) + ms;
    const part = /^grad\/(.+?)\/(d[A-Z])\//.exec(node);
    if (part) byPart[`${part[1]} ${part[2]}`] = (byPart[`${part[1]} ${part[2]}`] ?? 0) + ms;
    total += ms;
  }
  const sorted = (o) => Object.fromEntries(Object.entries(o).sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, { ms: Math.round(v), share: +(v / total).toFixed(3) }]));
  return { kernelMsPerStep: Math.round(total), runMsPerStep: Math.round(runs.reduce((s, e) => s + e.dur, 0) / 1000 / steps), byCategory: sorted(byCategory), byOp: sorted(byOp), topNodes: Object.fromEntries(Object.entries(sorted(byNode)).slice(0, 40)), convParts: sorted(byPart) };
}

async function child(model, opts) {
  require('ts-node').register({ transpileOnly: true, project: path.join(ROOT, 'tsconfig.json') });
  const ort = require('onnxruntime-node');
  const { buildTrainingGraph } = require('../src/core/autodiff');
  const { encodeOnnx } = require('../src/core/graph/onnx');
  const { sessionOptions } = require('../src/core/engines/onnxruntime');
  const { convsToNchwc, nchwcBlockSize } = require('../src/core/engines/nchwcConvs');
  const { peakRssBytes } = require('../src/core/util/memory');

  const forward = classifierGraph(model, opts);
  // A static batch, as a trainer with fixed-size batches would build it (TrainingSpec.dims).
  const training = buildTrainingGraph(forward, { loss: 'loss', dims: { N: opts.batch } });
  const blocked = opts.nchwc === 1 ? convsToNchwc(training.graph, await nchwcBlockSize()) : 0;
  const bytes = encodeOnnx(training.graph);
  const feeds = feedsFor(ort, forward, training, opts);
  // A training session: no memory pattern unless --pattern 1 (it doubles the peak); spinning as --spin says.
  const options = sessionOptions({ provider: 'cpu', threads: opts.threads, graphOptimization: 'all', memoryPattern: opts.pattern === 1, spinning: opts.spin === 1 });

  let session = await ort.InferenceSession.create(bytes, options);
  await session.run(feeds); // warm-up: allocations, kernel selection
  const times = [];
  for (let i = 0; i < opts.steps; i++) {
    const t = process.hrtime.bigint();
    await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - t) / 1e9);
  }
  const peak = peakRssBytes();
  await session.release();
  const result = {
    model,
    nodes: training.graph.nodes.length,
    nchwcConvs: blocked,
    stepSeconds: median(times),
    steps: times.map((t) => +t.toFixed(3)),
    imagesPerSecond: opts.batch / median(times),
    peakRssMb: Math.round(peak / 2 ** 20),
  };
  if (opts.profile) {
    const prefix = path.join(os.tmpdir(), `train-step-${model}-${process.pid}`);
    session = await ort.InferenceSession.create(bytes, { ...options, enableProfiling: true, profileFilePrefix: prefix });
    await session.run(feeds);
    await session.run(feeds);
    session.endProfiling();
    await session.release();
    const file = fs.readdirSync(os.tmpdir()).map((f) => path.join(os.tmpdir(), f)).find((f) => f.startsWith(prefix) && f.endsWith('.json'));
    result.profile = splitProfile(file, categorizer(forward), 2);
    fs.unlinkSync(file);
  }
  console.log(JSON.stringify(result));
}

// ------------------------------------------------------------------ parent: rounds

function runChild(model, opts) {
  const args = [__filename, '--child', model, '--steps', opts.steps, '--threads', opts.threads, '--batch', opts.batch, '--classes', opts.classes, '--spin', opts.spin, '--pattern', opts.pattern, '--nchwc', opts.nchwc];
  if (opts.profile) args.push('--profile');
  const out = execFileSync(process.execPath, args.map(String), { encoding: 'utf8', maxBuffer: 64 << 20 });
  return JSON.parse(out.trim().split('\n').pop());
}

function runTorch(model, threads) {
  const out = execFileSync('/usr/bin/python3', [ANCHOR, String(threads), TORCH_NAME[model]], { encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').pop());
}

function parent(opts) {
  const results = {};
  for (let r = 0; r < opts.rounds; r++) {
    for (const model of opts.models) {
      const ours = runChild(model, opts);
      const row = { ours };
      if (opts.torch) row.torch = runTorch(model, opts.threads);
      (results[model] ??= []).push(row);
      const vs = row.torch ? `; torch ${row.torch.train_img_s} img/s, ${row.torch.peak_rss_mb} MB` : '';
      process.stderr.write(`round ${r + 1} ${model}: ${ours.imagesPerSecond.toFixed(2)} img/s (${ours.stepSeconds.toFixed(2)} s/step), peak RSS ${ours.peakRssMb} MB${vs}\n`);
    }
  }
  const summary = Object.fromEntries(
    Object.entries(results).map(([model, rows]) => {
      const ours = median(rows.map((x) => x.ours.imagesPerSecond));
      const s = { imagesPerSecond: +ours.toFixed(2), peakRssMb: median(rows.map((x) => x.ours.peakRssMb)), nodes: rows[0].ours.nodes, nchwcConvs: rows[0].ours.nchwcConvs };
      if (opts.torch) {
        s.torchImagesPerSecond = median(rows.map((x) => x.torch.train_img_s));
        s.torchPeakRssMb = median(rows.map((x) => x.torch.peak_rss_mb));
        s.speedRatio = +median(rows.map((x) => x.ours.imagesPerSecond / x.torch.train_img_s)).toFixed(2);
        s.memoryRatio = +median(rows.map((x) => x.ours.peakRssMb / x.torch.peak_rss_mb)).toFixed(2);
      }
      if (opts.profile) s.profile = rows[rows.length - 1].ours.profile;
      s.rounds = rows;
      return [model, s];
    }),
  );
  console.log(JSON.stringify(summary, null, 2));
}

module.exports = { classifierGraph, feedsFor, categorizer };

if (require.main === module) {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.child) {
    child(opts.child, opts).catch((e) => {
      console.error(e);
      process.exit(1);
    });
  } else {
    parent(opts);
  }
}
