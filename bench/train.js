#!/usr/bin/env node
/**
 * Training benchmark for BENCHMARKS.md: whole `arcface train` runs (data loading and
 * augmentation in worker threads, the autodiff training graph on onnxruntime, the optimiser in
 * JS) for MobileFaceNet and the seed's ResNet50 with an ArcFace head (s 64, m 0.5), embedding
 * 512, batch 32, 1000 classes, 2 threads, SGD with momentum and weight decay, against
 * ../shared/anchors/torch_anchor.py (Debian's python3-torch, the same batch, head size and
 * optimiser on random tensors) interleaved per round.
 *
 * Data: `arcface synth` renders 1000 identities x 2 images (112x112 PNG) into the OS temp folder
 * once. Each train run is STEPS optimiser steps in a fresh process; its result's own timing
 * (data wait, engine, optimiser) gives the split, and a preloaded hook reports the process's
 * peak RSS. images/s counts every step but the first (allocations, kernel selection), as the
 * anchor times steps after a warm-up.
 *
 * Usage: node bench/train.js [--rounds 3] [--steps 8] [--models mobilefacenet,resnet50] [--no-torch]
 */
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const ANCHOR = path.resolve(ROOT, '../shared/anchors/torch_anchor.py');
const TORCH_NAME = { mobilefacenet: 'mobilefacenet', resnet50: 'seed-resnet50' };
const WORK = path.join(os.tmpdir(), 'arcface-train-bench');
const DATA = path.join(WORK, 'synth-1000');

function parseArgs(argv) {
  const opts = { rounds: 3, steps: 8, models: ['mobilefacenet', 'resnet50'], torch: true };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--no-torch') opts.torch = false;
    else if (argv[i] === '--models') opts.models = argv[++i].split(',');
    else if (argv[i] === '--rounds' || argv[i] === '--steps') opts[argv[i].slice(2)] = Number(argv[++i]);
    else throw new Error(`unknown option ${argv[i]}`);
  }
  return opts;
}

const median = (xs) => {
  const s = xs.slice().sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const arcface = (args, env = process.env) => execFileSync(process.execPath, [path.join(ROOT, 'bin/run.js'), ...args], { encoding: 'utf8', env, maxBuffer: 1 << 26 });

function ensureData() {
  if (fs.existsSync(path.join(DATA, 'synth.json'))) return;
  arcface(['synth', '-o', DATA, '--identities', '1000', '--images-per-identity', '2', '--seed', '1', '--force', '--json']);
}

/** One train run; returns its --json result and the process's peak RSS (MiB). */
function train(model, steps) {
  const out = path.join(WORK, `run-${model}`);
  fs.rmSync(out, { recursive: true, force: true });
  const rssFile = path.join(WORK, `rss-${process.pid}.txt`);
  const hook = path.join(WORK, 'peak-rss.js');
  fs.writeFileSync(hook, `process.on('exit', () => require('fs').writeFileSync(${JSON.stringify(rssFile)}, String(process.resourceUsage().maxRSS)));\n`);
  const sets = {
    'data.train_dir': DATA,
    'data.batch_size': 32,
    'model.embedding_size': 512,
    'train.epochs': 1,
    'train.max_steps': steps,
    'train.output_dir': out,
    'train.checkpoint_every': 0,
    'train.log_every': 1,
    'train.export_onnx': false,
    'engine.threads': 2,
  };
  const args = ['train', '-c', model, ...Object.entries(sets).flatMap(([k, v]) => ['--set', `${k}=${v}`]), '--json'];
  const result = JSON.parse(arcface(args, { ...process.env, NODE_OPTIONS: `--require ${hook}` }));
  const lines = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const peakRssMb = Number(fs.readFileSync(rssFile, 'utf8')) / 1024;
  fs.rmSync(out, { recursive: true, force: true });
  return { result, lines, peakRssMb };
}

function torch(model) {
  const out = execFileSync('/usr/bin/python3', [ANCHOR, '2', TORCH_NAME[model]], { encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').pop());
}

const opts = parseArgs(process.argv.slice(2));
fs.mkdirSync(WORK, { recursive: true });
ensureData();
const rows = {};
for (let round = 1; round <= opts.rounds; round++) {
  for (const model of opts.models) {
    const load = os.loadavg()[0];
    const { result, lines, peakRssMb } = train(model, opts.steps);
    // Per-step lines (log_every 1): skip the first step, as the anchor skips its warm-up.
    const later = lines.slice(1);
    const sum = (f) => later.reduce((s, l) => s + l[f], 0);
    const images = later.reduce((s, l) => s + l.images, 0);
    const stepMs = sum('data_ms') + sum('engine_ms') + sum('optimizer_ms');
    const row = {
      imagesPerSecond: (images / stepMs) * 1000,
      split: { dataMs: sum('data_ms') / later.length, engineMs: sum('engine_ms') / later.length, optimizerMs: sum('optimizer_ms') / later.length },
      setupS: result.timing.setupS,
      peakRssMb,
      load,
    };
    if (opts.torch) row.torch = torch(model);
    (rows[model] ??= []).push(row);
    const vs = row.torch ? `; torch ${row.torch.train_img_s} img/s, ${row.torch.peak_rss_mb} MB` : '';
    const s = row.split;
    process.stderr.write(
      `round ${round} ${model}: ${row.imagesPerSecond.toFixed(2)} img/s (per step: data wait ${s.dataMs.toFixed(0)} ms, engine ${s.engineMs.toFixed(0)} ms, optimiser ${s.optimizerMs.toFixed(0)} ms), peak RSS ${peakRssMb.toFixed(0)} MB${vs}, load ${load.toFixed(1)}\n`,
    );
  }
}
const summary = Object.fromEntries(
  Object.entries(rows).map(([model, rs]) => {
    const s = {
      imagesPerSecond: +median(rs.map((r) => r.imagesPerSecond)).toFixed(2),
      split: Object.fromEntries(Object.keys(rs[0].split).map((k) => [k, Math.round(median(rs.map((r) => r.split[k])))])),
      peakRssMb: Math.round(median(rs.map((r) => r.peakRssMb))),
      loads: rs.map((r) => +r.load.toFixed(1)),
    };
    if (opts.torch) {
      s.torchImagesPerSecond = median(rs.map((r) => r.torch.train_img_s));
      s.torchPeakRssMb = median(rs.map((r) => r.torch.peak_rss_mb));
      s.ratios = rs.map((r) => +(r.imagesPerSecond / r.torch.train_img_s).toFixed(2));
      s.speedRatio = median(s.ratios);
      s.memoryRatio = +(s.peakRssMb / s.torchPeakRssMb).toFixed(2);
    }
    return [model, s];
  }),
);
process.stdout.write(`${JSON.stringify({ machine: os.cpus()[0].model, cores: os.availableParallelism(), steps: opts.steps, summary }, null, 2)}\n`);
