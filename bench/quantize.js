#!/usr/bin/env node
/**
 * Quantization benchmark for BENCHMARKS.md: `arcface quantize` (static int8 and dynamic int8)
 * on MobileFaceNet (the pretrained one, and ours as export-onnx writes it) and the seed's
 * ResNet50, ROUNDS times with the modes interleaved. Each quantize run measures fp32 and the
 * quantized model in the same process (batch 32, 2 threads), so each ratio comes from one run.
 *
 * Faces: ../shared/data/faces/dlib_johns and yalefaces are aligned once by `arcface
 * detect-align` into the OS temp folder (never the repository). Calibration: 32 aligned
 * dlib_johns crops; cosine: the other 23; verification accuracy before/after: aligned
 * yalefaces (10-fold, 1450 pairs). Our MobileFaceNet and ResNet50 have random weights (their
 * cosines are meaningful, their accuracies are not, so they are not evaluated).
 *
 * Usage: node bench/quantize.js [ROUNDS=3]   (after npm run build)
 * Prints per-run lines on stderr and medians as JSON on stdout.
 */
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const FACES = path.resolve(ROOT, '../shared/data/faces');
const WORK = path.join(os.tmpdir(), 'arcface-quantize-bench');
const rounds = Number(process.argv[2] ?? 3);

const arcface = (args) => execFileSync(process.execPath, [path.join(ROOT, 'bin/run.js'), ...args], { encoding: 'utf8', maxBuffer: 1 << 26 });

function aligned(name) {
  const out = path.join(WORK, 'aligned', name);
  if (!fs.existsSync(path.join(out, 'manifest.jsonl'))) arcface(['detect-align', path.join(FACES, name), '-o', out, '--largest', '--json']);
  return out;
}

function exported(config) {
  const file = path.join(WORK, `${config}.onnx`);
  if (!fs.existsSync(file)) arcface(['export-onnx', '-c', config, '-o', file, '--json']);
  return file;
}

const median = (xs) => {
  const s = xs.slice().sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

fs.mkdirSync(WORK, { recursive: true });
const calibration = aligned('dlib_johns');
const evalSet = aligned('yalefaces');
const MODELS = [
  { name: 'mobilefacenet (pretrained)', source: 'pretrained:mobilefacenet', evaluate: true },
  { name: 'mobilefacenet (ours)', source: exported('mobilefacenet'), evaluate: false },
  { name: 'resnet50 (seed)', source: exported('resnet50'), evaluate: false },
];
const MODES = ['static', 'dynamic'];

function quantize(model, mode) {
  const out = path.join(WORK, `out-${mode}.onnx`);
  const args = ['quantize', model.source, '-o', out, '--mode', mode, '--calibration', calibration, '--calibration-count', '32', '--threads', '2', '--batch-sizes', '32', '--json'];
  if (model.evaluate) args.push('--eval', evalSet);
  const r = JSON.parse(arcface(args));
  fs.rmSync(out, { force: true });
  const rate = (side) => r.speed[side].throughput[0].imagesPerSecond;
  return {
    fp32: rate('before'),
    quantized: rate('after'),
    speedup: rate('after') / rate('before'),
    sizeRatio: r.sizeBytes.ratio,
    sizeBytes: r.sizeBytes,
    cosineMean: r.cosine?.mean,
    cosineMin: r.cosine?.min,
    accuracyBefore: r.verification?.before.accuracy,
    accuracyAfter: r.verification?.after.accuracy,
    dropPoints: r.verification?.dropPoints,
    leftInFloat: r.details.leftInFloat,
  };
}

const runs = {};
for (let round = 1; round <= rounds; round++) {
  for (const model of MODELS) {
    for (const mode of MODES) {
      const load = os.loadavg()[0];
      const r = quantize(model, mode);
      (runs[`${model.name} / ${mode}`] ??= []).push({ ...r, load });
      process.stderr.write(
        `round ${round} ${model.name} ${mode}: fp32 ${r.fp32.toFixed(1)} img/s, int8 ${r.quantized.toFixed(1)} img/s (${r.speedup.toFixed(2)}x), ` +
          `size ${(100 * r.sizeRatio).toFixed(1)}%, cosine ${r.cosineMean?.toFixed(4)} (min ${r.cosineMin?.toFixed(4)})` +
          `${r.dropPoints === undefined ? '' : `, accuracy ${(100 * r.accuracyBefore).toFixed(2)} -> ${(100 * r.accuracyAfter).toFixed(2)}`}, load ${load.toFixed(1)}\n`,
      );
    }
  }
}

const summary = Object.fromEntries(
  Object.entries(runs).map(([key, rs]) => {
    const med = (f) => (rs[0][f] === undefined ? undefined : median(rs.map((r) => r[f])));
    return [
      key,
      {
        fp32ImagesPerSecond: med('fp32'),
        quantizedImagesPerSecond: med('quantized'),
        speedup: med('speedup'),
        speedups: rs.map((r) => Number(r.speedup.toFixed(2))),
        sizeRatio: med('sizeRatio'),
        sizeBytes: rs[0].sizeBytes,
        cosineMean: med('cosineMean'),
        cosineMin: med('cosineMin'),
        accuracyBefore: med('accuracyBefore'),
        accuracyAfter: med('accuracyAfter'),
        dropPoints: med('dropPoints'),
        loadAverages: rs.map((r) => Number(r.load.toFixed(1))),
        leftInFloat: rs[0].leftInFloat,
      },
    ];
  }),
);
process.stdout.write(`${JSON.stringify({ machine: os.cpus()[0].model, cores: os.availableParallelism(), rounds, summary }, null, 2)}\n`);
