import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * `arcface train` end to end through the built CLI (`npm test` builds first): --json contract,
 * the human report, Ctrl-C (exit 130 with a checkpoint) then --resume, and the exit codes of
 * bad input (2) and a diverged run (1).
 */
const BIN = path.resolve(__dirname, '../bin/run.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'arcface-train-cli-'));
const data = path.join(tmp, 'synth');
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function arcface(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: tmp, timeout: 120000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A quick run: 20 images in batches of 4, inline decoding. */
const quick = (out: string, ...more: string[]) => [
  'train',
  '-c',
  'tiny',
  '-o',
  out,
  '--threads',
  '2',
  '--set',
  `data.train_dir=${data}`,
  '--set',
  'data.batch_size=4',
  '--set',
  'data.workers=0',
  '--set',
  'head.s=16',
  '--set',
  'train.epochs=1',
  ...more,
];

const lines = (file: string) => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.endsWith('}')) : []);

beforeAll(() => {
  const r = arcface('synth', '--out', data, '--identities', '4', '--images-per-identity', '5', '--seed', '3', '--json');
  expect(r.code).toBe(0);
});

describe('arcface train', () => {
  test('--json: the result object only, metrics per step, an exported model', () => {
    const out = path.join(tmp, 'json');
    const r = arcface(...quick(out), '--json');
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const result = JSON.parse(r.stdout);
    expect(result).toMatchObject({ status: 'completed', startStep: 0, step: 5, totalSteps: 5, skipped: [] });
    expect(result.loss).toMatchObject({ steps: 5, first: expect.any(Number), last: expect.any(Number) });
    expect(result.imagesPerSecond).toBeGreaterThan(0);
    expect(result.onnx.verification.maxRelativeError).toBeLessThan(1e-4);
    expect(lines(path.join(out, 'metrics.jsonl'))).toHaveLength(5);
    for (const f of ['last.safetensors', 'final.safetensors', 'model.onnx', 'config.json']) expect(fs.existsSync(path.join(out, f))).toBe(true);
    // The exported model is a plain backbone any command can take.
    const b = arcface('bench', path.join(out, 'model.onnx'), '--batch-sizes', '2', '--repeats', '1', '--warmup', '0', '--latency-iterations', '2', '--json');
    expect(b.code).toBe(0);
  });

  test('Ctrl-C saves a checkpoint and exits 130; --resume finishes the run', async () => {
    const out = path.join(tmp, 'interrupted');
    const metrics = path.join(out, 'metrics.jsonl');
    const args = quick(out, '--set', 'train.epochs=8', '--set', 'train.export_onnx=false');
    const child = spawn(process.execPath, [BIN, ...args], { cwd: tmp });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    // Interrupt once training is under way (its first metrics line).
    const poll = setInterval(() => {
      if (lines(metrics).length === 0) return;
      clearInterval(poll);
      child.kill('SIGINT');
    }, 50);
    const code = await exited;
    clearInterval(poll);
    expect(stderr).toMatch(/interrupt: finishing the current step and saving a checkpoint/);
    expect(code).toBe(130);
    const stopped = Number(/interrupted after step (\d+) of 40: saved .*last\.safetensors; continue with --resume/.exec(stdout)?.[1]);
    expect(stopped).toBeGreaterThanOrEqual(1);
    expect(stopped).toBeLessThan(40);

    const again = arcface(...args);
    expectCleanError(again, 2, /already holds a run .*pass --resume/);
    const resumed = arcface(...args, '--resume');
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toMatch(new RegExp(`trained steps ${stopped + 1}\\.\\.40 of 40`));
    expect(resumed.stdout).toMatch(/^loss [\d.]+ -> [\d.]+/m);
    expect(resumed.stderr).toMatch(new RegExp(`resuming .*last\\.safetensors at step ${stopped}`));
    expect(lines(metrics).map((l) => JSON.parse(l).step)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
  });

  test('bad input exits 2 with one line; a diverged run exits 1 naming the step', () => {
    const empty = path.join(tmp, 'empty');
    fs.mkdirSync(empty);
    expectCleanError(arcface(...quick(path.join(tmp, 'e1')), '--set', `data.train_dir=${empty}`), 2, /empty: empty dataset folder/);
    expectCleanError(arcface(...quick(path.join(tmp, 'e2')), '--set', 'data.batch_size=50'), 2, /data\.batch_size 50 is larger than the dataset/);
    expectCleanError(arcface(...quick(path.join(tmp, 'e3')), '--set', 'train.epochs=0'), 2, /train\.epochs/);
    const nan = arcface(...quick(path.join(tmp, 'nan')), '--set', 'head.type=softmax', '--set', 'optimizer.lr=1e30', '--set', 'train.checkpoint_every=1');
    expectCleanError(nan, 1, /step 2 \(epoch 0, batch 1\): the .* is .*; training stopped; the last good checkpoint, .*last\.safetensors \(step 1\), is kept/);
  });
});

/** A clean failure: the expected exit code, one message line on stderr (after any notes), no stack trace. */
function expectCleanError(r: { code: number | null; stdout: string; stderr: string }, code: number, message: RegExp) {
  expect(r.code).toBe(code);
  const errors = r.stderr.split('\n').filter((l) => l.startsWith('Error: '));
  expect(errors).toHaveLength(1);
  expect(errors[0]).toMatch(message);
  expect(r.stderr).not.toMatch(/\n\s+at .+\(.*:\d+:\d+\)/);
  expect(r.stdout).toBe('');
}
