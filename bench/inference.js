#!/usr/bin/env node
/**
 * Inference benchmark for BENCHMARKS.md: `arcface bench` (batch 64, 2 threads, embedding 512)
 * against PyTorch's inference figure from ../shared/anchors/torch_anchor.py, interleaved in
 * the same session, ROUNDS times; prints per-round figures and medians as JSON.
 * Usage: node bench/inference.js [ROUNDS=3]   (needs Debian's python3-torch, python3-torchvision)
 */
const { execFileSync } = require('node:child_process');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const ANCHOR = path.resolve(ROOT, '../shared/anchors/torch_anchor.py');
const MODELS = [
  { ours: 'mobilefacenet', torch: 'mobilefacenet' },
  { ours: 'resnet50', torch: 'seed-resnet50' },
];
const rounds = Number(process.argv[2] ?? 3);

function ours(model) {
  const out = execFileSync(process.execPath, [path.join(ROOT, 'bin/run.js'), 'bench', model, '--batch-sizes', '64', '--threads', '2', '--repeats', '3', '--warmup', '2', '--latency-iterations', '20', '--json'], { encoding: 'utf8' });
  return JSON.parse(out)[0];
}

function torch(model) {
  const out = execFileSync('/usr/bin/python3', [ANCHOR, '2', model], { encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').pop());
}

const median = (xs) => {
  const s = xs.slice().sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const results = {};
for (let r = 0; r < rounds; r++) {
  for (const m of MODELS) {
    const a = ours(m.ours);
    const t = torch(m.torch);
    const row = { ours: a.throughput[0].imagesPerSecond, torch: t.infer_img_s_b64, oursRss: a.peakRssBytes, torchRssMb: t.peak_rss_mb, flops: a.flops, latencyP50: a.latencyMs.p50 };
    (results[m.ours] ??= []).push(row);
    process.stderr.write(`round ${r + 1} ${m.ours}: ours ${row.ours.toFixed(1)} img/s, torch ${row.torch} img/s, ratio ${(row.ours / row.torch).toFixed(2)}\n`);
  }
}
const summary = Object.fromEntries(
  Object.entries(results).map(([name, rows]) => {
    const oursMed = median(rows.map((r) => r.ours));
    const torchMed = median(rows.map((r) => r.torch));
    return [name, {
      oursImagesPerSecond: oursMed,
      torchImagesPerSecond: torchMed,
      ratioOfMedians: oursMed / torchMed,
      medianOfRatios: median(rows.map((r) => r.ours / r.torch)),
      achievedGflops: (oursMed * rows[0].flops) / 1e9,
      latencyP50Ms: median(rows.map((r) => r.latencyP50)),
      rounds: rows,
    }];
  }),
);
console.log(JSON.stringify(summary, null, 2));
