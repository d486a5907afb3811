import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import type { DetectAlignOptions, DetectAlignSummary } from '../src/core/detect/detectAlign';
import { DEFAULT_MTCNN } from '../src/core/detect/mtcnn';
import { DEFAULT_ALIGN, STEPS } from '../src/core/detect/pipeline';
import { DEFAULT_YUNET } from '../src/core/detect/yunet';
import { Rng } from '../src/core/util/rng';

/**
 * detect-align benchmarks for BENCHMARKS.md (## detect-align). Off by default (minutes of work):
 *
 *     npm run build && DETECT_BENCH=1 npx jest test/detect-bench.test.ts
 *
 * Synthetic photos: real yalefaces heads (1-3 per photo, not overlapping) pasted at random sizes
 * into 1920x1080 and 640x480 canvases over a smooth random background, JPEG quality 90, seeded.
 * They are generated under the OS temp folder (kept for the next run), never in the repository.
 * Each run is a fresh Node process on the compiled dist/ code, like the CLI.
 */

const ENABLED = process.env.DETECT_BENCH === '1';
const REPEATS = Number(process.env.DETECT_BENCH_REPEATS ?? 3);
const YALE = path.resolve(__dirname, '..', '..', 'shared', 'data', 'faces', 'yalefaces');
// DETECT_BENCH_DIST: a private build (npx tsc -p tsconfig.build.json --outDir <dir inside the repo>) that a concurrent `npm run build` cannot delete mid-run.
const DIST = process.env.DETECT_BENCH_DIST ? path.resolve(process.env.DETECT_BENCH_DIST, 'core', 'detect', 'detectAlign.js') : path.resolve(__dirname, '..', 'dist', 'core', 'detect', 'detectAlign.js');
const DATA = path.join(os.tmpdir(), 'arcface-detect-bench');
const YUNET = path.resolve(__dirname, '..', '..', 'shared', 'models', 'yunet_n_dynamic.onnx');

interface PhotoSet {
  name: string;
  width: number;
  height: number;
  count: number;
  /** Face paste scales: the 320x243 yalefaces image (head ~120x155 px) times this. */
  scale: [number, number];
}

const SETS: Record<string, PhotoSet> = {
  p1080: { name: 'p1080', width: 1920, height: 1080, count: 100, scale: [0.8, 2.2] },
  p480: { name: 'p480', width: 640, height: 480, count: 200, scale: [0.7, 1.2] },
  p1080x1000: { name: 'p1080x1000', width: 1920, height: 1080, count: 1000, scale: [0.8, 2.2] },
};

/** Generates (once) a set of photos; returns its folder and the number of faces pasted. */
async function photoSet(set: PhotoSet): Promise<{ dir: string; faces: number }> {
  const dir = path.join(DATA, set.name);
  const countFile = path.join(dir, 'faces.json');
  if (fs.existsSync(countFile)) return { dir, faces: JSON.parse(fs.readFileSync(countFile, 'utf8')).faces };
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const heads = fs.readdirSync(YALE).flatMap((p) => fs.readdirSync(path.join(YALE, p)).map((f) => path.join(YALE, p, f)));
  const rng = new Rng(7, `detect-bench-${set.name}`);
  let faces = 0;
  for (let i = 0; i < set.count; i++) {
    const placed: { left: number; top: number; w: number; h: number }[] = [];
    const composites: sharp.OverlayOptions[] = [];
    const wanted = 1 + rng.int(3);
    for (let tries = 0; placed.length < wanted && tries < 50; tries++) {
      const s = rng.range(set.scale[0], set.scale[1]);
      const w = Math.round(320 * s);
      const h = Math.round(243 * s);
      const left = rng.int(set.width - w);
      const top = rng.int(set.height - h);
      if (placed.some((p) => left < p.left + p.w && p.left < left + w && top < p.top + p.h && p.top < top + h)) continue;
      placed.push({ left, top, w, h });
      composites.push({ input: await sharp(heads[rng.int(heads.length)]).resize(w, h).toBuffer(), left, top });
    }
    faces += placed.length;
    const bw = Math.ceil(set.width / 32);
    const bh = Math.ceil(set.height / 32);
    const noise = Buffer.from(Array.from({ length: bw * bh * 3 }, () => rng.int(256)));
    const background = await sharp(noise, { raw: { width: bw, height: bh, channels: 3 } }).resize(set.width, set.height, { kernel: 'cubic' }).png().toBuffer();
    await sharp(background).composite(composites).jpeg({ quality: 90 }).toFile(path.join(dir, `photo_${String(i).padStart(4, '0')}.jpg`));
  }
  fs.writeFileSync(countFile, JSON.stringify({ faces }));
  return { dir, faces };
}

const median = (v: number[]): number => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

function mtcnn(minFaceSize: number, threads = 0): DetectAlignOptions['detector'] {
  return {
    detector: 'mtcnn',
    mtcnn: { ...DEFAULT_MTCNN, minFaceSize },
    yunet: { ...DEFAULT_YUNET, minFaceSize },
    engine: { provider: 'cpu', threads, graphOptimization: 'all' },
  };
}

function options(input: string, minFaceSize: number, extra: Partial<DetectAlignOptions> = {}): DetectAlignOptions {
  return {
    input,
    outputDir: fs.mkdtempSync(path.join(DATA, 'out-')),
    detector: mtcnn(minFaceSize),
    align: { ...DEFAULT_ALIGN },
    workers: 0,
    resume: false,
    ...extra,
  };
}

const lines: string[] = [];
afterAll(() => {
  if (lines.length > 0) process.stdout.write(`\n${lines.join('\n')}\n`);
});

/**
 * One detect-align run in a fresh Node process (not inside Jest, whose module sandbox slows the
 * main thread several times over), on the compiled code. `rssEvery`: also sample the resident
 * memory every that many images.
 */
function run(opts: DetectAlignOptions, rssEvery = 0): DetectAlignSummary & { rss: [number, number][] } {
  const script = `
    const { detectAlign } = require(${JSON.stringify(DIST)});
    const rss = [];
    const every = Number(process.argv[2]);
    detectAlign(JSON.parse(process.argv[1]), (p) => { if (every > 0 && p.done % every === 0) rss.push([p.done, process.memoryUsage().rss]); })
      .then((s) => process.stdout.write(JSON.stringify({ ...s, rss })), (e) => { process.stderr.write(e.message); process.exit(1); });`;
  try {
    const r = spawnSync(process.execPath, ['-e', script, JSON.stringify(opts), String(rssEvery)], { encoding: 'utf8', maxBuffer: 1 << 26 });
    if (r.status !== 0) throw new Error(`detect-align run failed (exit ${r.status}): ${r.stderr}`);
    return JSON.parse(r.stdout);
  } finally {
    fs.rmSync(opts.outputDir, { recursive: true, force: true });
  }
}

const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(0)} MiB`;

(ENABLED ? describe : describe.skip)('detect-align benchmarks (DETECT_BENCH=1)', () => {
  beforeAll(() => {
    if (!fs.existsSync(DIST)) throw new Error(`${DIST} is missing: run npm run build first`);
    fs.mkdirSync(DATA, { recursive: true });
  });

  test('throughput and time split: 1080p and 640x480, min face 80 and 40', async () => {
    lines.push(`machine: ${os.cpus()[0].model}, ${os.availableParallelism()} cores, load average before ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
    lines.push('| photos | min face | img/s, 2 workers (runs) | CPU ms/img | 2 cores / CPU ms | faces found / pasted | decode | detect | align | encode | write | one thread, one image at a time |');
    lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|');
    for (const key of ['p1080', 'p480']) {
      const set = SETS[key];
      const { dir, faces } = await photoSet(set);
      for (const minFace of [80, 40]) {
        const runs = Array.from({ length: REPEATS }, () => run(options(dir, minFace)));
        const rates = runs.map((s) => s.imagesPerSecond);
        const cpu = median(runs.map((s) => s.cpuMsPerImage));
        const split = run(options(dir, minFace, { workers: 1, inFlight: 1, detector: mtcnn(minFace, 1) }));
        lines.push(
          `| ${set.width}x${set.height} | ${minFace} | ${median(rates).toFixed(1)} (${rates.map((x) => x.toFixed(1)).join(', ')}) | ${cpu.toFixed(0)} | ${(2000 / cpu).toFixed(1)} | ${runs[0].faces} / ${faces} | ` +
            `${STEPS.map((step) => split.meanStepMs[step].toFixed(1)).join(' | ')} | ${split.imagesPerSecond.toFixed(1)} img/s |`,
        );
      }
    }
  }, 3600_000);

  test('parallelism: worker threads vs one thread, with and without overlap (1080p, min face 80)', async () => {
    const { dir } = await photoSet(SETS.p1080);
    const variants: [string, Partial<DetectAlignOptions>][] = [
      ['2 workers, 2 images in flight each, 1 onnxruntime thread each (default)', { workers: 2, inFlight: 2 }],
      ['2 workers, 1 image in flight each', { workers: 2, inFlight: 1 }],
      ['main thread only, 2 images in flight, 1 onnxruntime thread', { workers: 1, inFlight: 2, detector: mtcnn(80, 1) }],
      ['main thread only, 2 images in flight, onnxruntime 2 threads', { workers: 1, inFlight: 2, detector: mtcnn(80, 2) }],
      ['main thread only, 1 image at a time, 1 onnxruntime thread', { workers: 1, inFlight: 1, detector: mtcnn(80, 1) }],
    ];
    lines.push('', '| how | img/s (median) | runs | CPU ms/img |', '|---|---:|---|---:|');
    for (const [label, extra] of variants) {
      const runs = Array.from({ length: REPEATS }, () => run(options(dir, 80, extra)));
      const rates = runs.map((s) => s.imagesPerSecond);
      lines.push(`| ${label} | ${median(rates).toFixed(1)} | ${rates.map((x) => x.toFixed(1)).join(', ')} | ${median(runs.map((s) => s.cpuMsPerImage)).toFixed(0)} |`);
    }
    lines.push(`load average after: ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  }, 3600_000);

  (fs.existsSync(YUNET) ? test : test.skip)('YuNet from its ONNX file, same photos', async () => {
    lines.push('', '| YuNet | min face | img/s, 2 workers (runs) | CPU ms/img | faces found / pasted |', '|---|---:|---:|---:|---:|');
    for (const key of ['p1080', 'p480']) {
      const { dir, faces } = await photoSet(SETS[key]);
      for (const minFace of [80, 40]) {
        const detector = { ...mtcnn(minFace), detector: 'yunet' as const, yunetModel: YUNET };
        const runs = Array.from({ length: REPEATS }, () => run(options(dir, minFace, { detector })));
        const rates = runs.map((s) => s.imagesPerSecond);
        lines.push(`| ${SETS[key].width}x${SETS[key].height} | ${minFace} | ${median(rates).toFixed(1)} (${rates.map((x) => x.toFixed(1)).join(', ')}) | ${median(runs.map((s) => s.cpuMsPerImage)).toFixed(0)} | ${runs[0].faces} / ${faces} |`);
      }
    }
  }, 3600_000);

  test('peak memory stays flat over 1000 photos (1080p, min face 80)', async () => {
    const { dir } = await photoSet(SETS.p1080x1000);
    const s = run(options(dir, 80), 100);
    lines.push('', `1000 photos: ${s.faces} faces, ${s.imagesPerSecond.toFixed(1)} img/s, peak RSS ${mib(s.peakRssBytes)} (whole process, all threads)`);
    lines.push(`| images done | ${s.rss.map(([n]) => n).join(' | ')} |`, `|---|${s.rss.map(() => '---:').join('|')}|`, `| RSS | ${s.rss.map(([, b]) => mib(b)).join(' | ')} |`);
  }, 3600_000);
});
