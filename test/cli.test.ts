import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * End-to-end runs of the built CLI (`npm test` builds first). Checks the user-facing contract:
 * exit codes, one-line errors without stack traces, and the documented JSON fields.
 */
const BIN = path.resolve(__dirname, '../bin/run.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'arcface-cli-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function arcface(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: tmp, timeout: 120000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A clean failure: the expected exit code, the message on stderr, no stack trace. */
function expectCleanError(r: ReturnType<typeof arcface>, code: number, message: RegExp) {
  expect(r.code).toBe(code);
  expect(r.stderr).toMatch(message);
  expect(r.stderr).not.toMatch(/\n\s+at .+\(.*:\d+:\d+\)/);
  expect(r.stdout).toBe('');
}

const quick = ['--batch-sizes', '2', '--repeats', '1', '--warmup', '0', '--latency-iterations', '2'];

describe('arcface CLI', () => {
  test('bench --json prints the documented contract, one object per model', () => {
    const r = arcface('bench', 'tiny', '--compare', 'threads=1', ...quick, '--json');
    expect(r.code).toBe(0);
    const results = JSON.parse(r.stdout);
    expect(results).toHaveLength(2);
    for (const m of results) {
      expect(m).toEqual(
        expect.objectContaining({
          params: expect.any(Number),
          flops: expect.any(Number),
          fileBytes: expect.any(Number),
          latencyMs: { p50: expect.any(Number), p95: expect.any(Number), p99: expect.any(Number) },
          threads: expect.any(Number),
          provider: 'cpu',
          peakRssBytes: expect.any(Number),
        }),
      );
      expect(m.throughput).toEqual([expect.objectContaining({ batch: 2, imagesPerSecond: expect.any(Number) })]);
    }
    expect(results[1].threads).toBe(1);
    // Nothing but the JSON on stdout and no progress lines on stderr under --json.
    expect(r.stderr).toBe('');
  });

  test('bench --markdown prints a table', () => {
    const r = arcface('bench', 'tiny', ...quick, '--markdown');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^\| model \| params \|/m);
    expect(r.stdout).toMatch(/^\| tiny \|/m);
  });

  test('export-onnx then bench the exported file', () => {
    const out = path.join(tmp, 'tiny.onnx');
    const e = arcface('export-onnx', '-c', 'tiny', '-o', out, '--json');
    expect(e.code).toBe(0);
    const result = JSON.parse(e.stdout);
    expect(result.verification.maxRelativeError).toBeLessThan(1e-4);
    const b = arcface('bench', out, ...quick, '--json');
    expect(b.code).toBe(0);
    expect(JSON.parse(b.stdout)[0].model).toBe('tiny.onnx');
  });

  test('a missing model file', () => {
    expectCleanError(arcface('bench', 'missing.onnx'), 2, /missing\.onnx: no such file/);
  });

  test('a file that is not ONNX', () => {
    const junk = path.join(tmp, 'junk.onnx');
    fs.writeFileSync(junk, 'this is not a model');
    expectCleanError(arcface('bench', junk, ...quick), 2, /junk\.onnx/);
  });

  test('an unknown backbone names the key and the choices', () => {
    expectCleanError(arcface('bench', 'tiny', '--set', 'model.backbone=resnet51', ...quick), 2, /--set model\.backbone=resnet51: expected one of .*mobilefacenet.*got "resnet51"/);
  });

  test('batch size 0', () => {
    expectCleanError(arcface('bench', 'tiny', '--batch-sizes', '0'), 2, /--batch-sizes 0: expected a comma-separated list of integers >= 1/);
  });

  test('an unwritable output path', () => {
    expectCleanError(arcface('export-onnx', '-c', 'tiny', '-o', path.join(tmp, 'no', 'such', 'dir', 'x.onnx')), 2, /cannot write .*x\.onnx: directory .* does not exist/);
  });

  test('an unknown --compare setting', () => {
    expectCleanError(arcface('bench', 'tiny', '--compare', 'thread=1', ...quick), 2, /--compare thread=1: unknown setting "thread"/);
  });

  test('a bad config file reports file and line', () => {
    const cfg = path.join(tmp, 'bad.yaml');
    fs.writeFileSync(cfg, 'model:\n  backbone: tiny\n  embedding_size: -3\n');
    expectCleanError(arcface('export-onnx', '-c', cfg, '-o', 'x.onnx'), 2, /bad\.yaml:3: model\.embedding_size: expected an integer/);
  });

  test('--json errors are JSON too', () => {
    const r = arcface('bench', 'missing.onnx', '--json');
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout).error).toEqual({ message: expect.stringMatching(/missing\.onnx/), exitCode: 2 });
  });

  test('--verbose shows the stack trace', () => {
    const r = arcface('bench', 'missing.onnx', '--verbose');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/\n\s+at /);
  });

  test('an unavailable GPU provider says what is missing', () => {
    expectCleanError(arcface('bench', 'tiny', '--provider', 'cuda', ...quick), 2, /execution provider 'cuda' is not available.*libonnxruntime_providers/);
  });
});
