import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { flattenModel, writeSyntheticFolder } from './helpers/evalFixtures';

/**
 * `arcface eval` through the built CLI (`npm test` builds first): the documented --json
 * contract, the files written next to the results, the embedding cache across runs (a damaged
 * entry is rewritten), and one-line errors with exit code 2 for bad input.
 */
const BIN = path.resolve(__dirname, '../bin/run.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'arcface-eval-cli-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function arcface(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: tmp, timeout: 120000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function expectCleanError(r: ReturnType<typeof arcface>, message: string | RegExp) {
  expect(r.code).toBe(2);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(message);
  expect(r.stdout).toBe('');
}

const folder = path.join(tmp, 'faces');
const model = path.join(tmp, 'flatten8.onnx');
const cache = path.join(tmp, 'cache');

beforeAll(async () => {
  await writeSyntheticFolder(folder, 4, 4, 8);
  fs.writeFileSync(model, flattenModel({ size: 8, metadata: { color_order: 'rgb', input_mean: '127.5', input_std: '127.5' } }));
});

describe('arcface eval', () => {
  let first: Record<string, unknown> & { cache: { dir: string } };

  test('--json prints the documented contract; --out holds results.json and the ROC as SVG, PNG and CSV', () => {
    const out = path.join(tmp, 'out');
    const r = arcface('eval', folder, '--model', model, '--cache-dir', cache, '--out', out, '--folds', '4', '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    first = JSON.parse(r.stdout);
    expect(first).toEqual(
      expect.objectContaining({
        model: 'flatten8.onnx',
        format: 'folder',
        accuracy: 1,
        accuracyStd: 0,
        threshold: expect.any(Number),
        auc: 1,
        eer: 0,
        tarAtFar: [{ far: 0.1, tar: 1, threshold: expect.any(Number), achievedFar: expect.any(Number) }],
        pairs: 48,
        missing: { images: 0, pairs: 0, first: [] },
        images: 16,
        folds: 4,
        embeddingSize: 192,
        flip: false,
        identification: expect.objectContaining({ rank1: 1, rank5: 1 }),
        cache: expect.objectContaining({ hits: 0, misses: 16, corrupt: 0 }),
      }),
    );
    expect(first.input).toEqual({ size: 8, color: 'rgb', mean: 127.5, std: 127.5, layout: 'NCHW', origin: expect.any(Object) });
    for (const f of ['results.json', 'roc.svg', 'roc.png', 'roc.csv']) expect(fs.existsSync(path.join(out, f))).toBe(true);
    expect(fs.readFileSync(path.join(out, 'roc.png')).subarray(1, 4).toString()).toBe('PNG');
    expect(JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8')).accuracy).toBe(1);
  });

  test('a damaged cache entry is ignored and rewritten; then every image comes from the cache', () => {
    const entries = fs.readdirSync(first.cache.dir, { recursive: true }).map(String).filter((f) => f.endsWith('.emb'));
    expect(entries).toHaveLength(16);
    fs.writeFileSync(path.join(first.cache.dir, entries[0]), Buffer.from('AFEMB001 damaged'));
    const second = JSON.parse(arcface('eval', folder, '--model', model, '--cache-dir', cache, '--folds', '4', '--json').stdout);
    expect(second.cache).toEqual(expect.objectContaining({ hits: 15, misses: 1, corrupt: 1 }));
    expect(second.threshold).toBe(first.threshold);
    const third = JSON.parse(arcface('eval', folder, '--model', model, '--cache-dir', cache, '--folds', '4', '--json').stdout);
    expect(third.cache).toEqual(expect.objectContaining({ hits: 16, misses: 0, corrupt: 0 }));
  });

  test('human output: a table with accuracy, threshold, AUC, EER, TAR@FAR and rank-1/rank-5', () => {
    const r = arcface('eval', folder, '--model', model, '--cache-dir', cache, '--folds', '4', '--flip');
    expect(r.code).toBe(0);
    for (const row of [/^accuracy +100\.00% ± 0\.00% \(4-fold\)$/m, /^threshold +cosine >= /m, /^AUC +1\.00000$/m, /^EER +0\.00%/m, /^TAR@FAR=0\.1 +100\.00%/m, /^rank-1 +100\.00%/m, /^rank-5 /m]) {
      expect(r.stdout).toMatch(row);
    }
    expect(r.stdout).toMatch(/flip TTA/);
    // Progress goes to stderr (plain lines when it is not a terminal).
    expect(r.stderr).toMatch(/^embedding: \d+\/16/m);
  });

  describe('bad input: one line, exit code 2', () => {
    test('pairs.txt naming missing images: the first five listed, the rest counted', () => {
      const lfw = path.join(tmp, 'lfw');
      fs.mkdirSync(lfw, { recursive: true });
      fs.writeFileSync(path.join(lfw, 'pairs.txt'), ['1 3', 'A 1 2', 'B 1 2', 'C 1 2', 'D 1 E 1', 'F 1 G 1', 'H 1 I 1'].join('\n'));
      expectCleanError(
        arcface('eval', path.join(lfw, 'pairs.txt'), '--model', model),
        `Error: ${path.join(lfw, 'pairs.txt')}: 12 of 12 images missing under ${lfw}: A/A_0001.jpg, A/A_0002.jpg, B/B_0001.jpg, B/B_0002.jpg, C/C_0001.jpg and 7 more (--skip-missing evaluates the pairs whose images exist)`,
      );
    });

    test('a model with two inputs', () => {
      const two = path.join(tmp, 'two-inputs.onnx');
      fs.writeFileSync(two, flattenModel({ size: 8, secondInput: true }));
      expectCleanError(arcface('eval', folder, '--model', two, '--no-cache'), 'Error: two-inputs.onnx: expected a model with one image input, found 2 (input, other)');
    });

    test('an embedding size that disagrees with the model metadata', () => {
      const wrong = path.join(tmp, 'wrong-size.onnx');
      fs.writeFileSync(wrong, flattenModel({ size: 8, metadata: { embedding_size: '512' } }));
      expectCleanError(arcface('eval', folder, '--model', wrong, '--no-cache'), 'Error: model wrong-size.onnx: outputs 192-d embeddings, but its metadata embedding_size says 512');
    });

    test('an input size the model does not take', () => {
      expectCleanError(arcface('eval', folder, '--model', model, '--input-size', '112', '--no-cache'), 'Error: model flatten8.onnx (input shape [N, 3, 8, 8]): the model takes 8x8 images, but --input-size says 112');
    });

    test('a .bin that is not the expected pickle, also as --json', () => {
      const bad = path.join(tmp, 'bad.bin');
      fs.writeFileSync(bad, Buffer.from([0x80, 0x04, 0x7d, 0x2e]));
      const message = `${bad}: unsupported pickle opcode 0x7d (EMPTY_DICT) at offset 2; expected a pickled a tuple (list of image bytes, list of bools)`;
      expectCleanError(arcface('eval', bad, '--model', model), `Error: ${message}`);
      const r = arcface('eval', bad, '--model', model, '--json');
      expect(r.code).toBe(2);
      expect(JSON.parse(r.stdout)).toEqual({ error: { message, exitCode: 2 } });
    });

    test('an unknown pretrained model; a data path that does not exist', () => {
      expectCleanError(arcface('eval', folder, '--model', 'pretrained:arcface'), 'Error: model pretrained:arcface: unknown pretrained model; expected one of pretrained:mobilefacenet');
      expectCleanError(arcface('eval', path.join(tmp, 'nope'), '--model', model), /nope: no such file or directory/);
    });
  });
});
