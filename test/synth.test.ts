import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { scanImageFolder } from '../src/core/data/imageFolder';
import { InputError } from '../src/core/errors';
import { decodeImage } from '../src/core/image/image';
import { MANIFEST, renderSynthImage, writeSynthSet } from '../src/core/synth/synthSet';

/**
 * `arcface synth`: the same seed gives the same bytes, people differ more from each other than
 * their own photos do, the folder is a valid ImageFolder, the output folder is handled safely,
 * and the CLI's contract (--json, exit codes).
 */

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'arcface-synth-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function meanAbsDifference(a: Uint8Array, b: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i] - b[i]);
  return sum / a.length;
}

describe('rendering', () => {
  test('deterministic: the same seed, person and photo give the same pixels; other seeds and photos differ', () => {
    const a = renderSynthImage(5, 3, 2, 48);
    expect(renderSynthImage(5, 3, 2, 48)).toEqual(a);
    expect(a.width).toBe(48);
    expect(renderSynthImage(6, 3, 2, 48).data).not.toEqual(a.data);
    expect(renderSynthImage(5, 3, 1, 48).data).not.toEqual(a.data);
  });

  test('identities differ more between than within: mean pixel distance and nearest-neighbour identification', () => {
    const people = 8;
    const photos = 4;
    const images = Array.from({ length: people }, (_, i) => Array.from({ length: photos }, (_, j) => renderSynthImage(0, i, j, 40).data));
    let within = 0;
    let withinPairs = 0;
    let between = 0;
    let betweenPairs = 0;
    let nearestCorrect = 0;
    for (let i = 0; i < people; i++) {
      for (let j = 0; j < photos; j++) {
        let best = { distance: Infinity, person: -1 };
        for (let k = 0; k < people; k++) {
          for (let l = 0; l < photos; l++) {
            if (k === i && l === j) continue;
            const d = meanAbsDifference(images[i][j], images[k][l]);
            if (d < best.distance) best = { distance: d, person: k };
            if (k === i) (within += d), withinPairs++;
            else (between += d), betweenPairs++;
          }
        }
        if (best.person === i) nearestCorrect++;
      }
    }
    within /= withinPairs;
    between /= betweenPairs;
    // Distinguishable, yet not trivially: raw pixels find the same person well above chance (1/8) but far from always.
    expect(within).toBeLessThan(0.9 * between);
    expect(nearestCorrect / (people * photos)).toBeGreaterThan(0.25);
    expect(nearestCorrect / (people * photos)).toBeLessThan(0.95);
  });
});

describe('writeSynthSet', () => {
  test('an ImageFolder of PNGs with a manifest, byte-identical for the same seed, extended by more identities', async () => {
    const a = path.join(tmp, 'a');
    const b = path.join(tmp, 'b');
    const progress: number[] = [];
    const summary = await writeSynthSet({ outDir: a, identities: 3, imagesPerIdentity: 2, seed: 4, size: 32 }, (p) => progress.push(p.done));
    expect(summary).toMatchObject({ outDir: a, manifest: path.join(a, MANIFEST), identities: 3, imagesPerIdentity: 2, images: 6, size: 32, seed: 4 });
    expect(progress).toEqual([1, 2, 3, 4, 5, 6]);
    await writeSynthSet({ outDir: b, identities: 4, imagesPerIdentity: 2, seed: 4, size: 32 });
    const ds = scanImageFolder(a);
    expect(ds.classes).toEqual(['id_0000', 'id_0001', 'id_0002']);
    expect(ds.samples.map((s) => path.relative(a, s.path))).toEqual(['id_0000/0000.png', 'id_0000/0001.png', 'id_0001/0000.png', 'id_0001/0001.png', 'id_0002/0000.png', 'id_0002/0001.png']);
    for (const s of ds.samples) expect(fs.readFileSync(s.path)).toEqual(fs.readFileSync(path.join(b, path.relative(a, s.path))));
    const { image } = await decodeImage(ds.samples[0].path);
    expect(image).toEqual(renderSynthImage(4, 0, 0, 32));
    expect(JSON.parse(fs.readFileSync(path.join(a, MANIFEST), 'utf8'))).toEqual({ generator: 'arcface synth', version: 1, seed: 4, identities: 3, imagesPerIdentity: 2, size: 32, format: 'png' });
  });

  test('the output folder: a previous set needs --force, a foreign folder is never touched', async () => {
    const dir = path.join(tmp, 'again');
    const options = { outDir: dir, identities: 2, imagesPerIdentity: 1, seed: 0, size: 16 };
    await writeSynthSet({ ...options, identities: 3 });
    await expect(writeSynthSet(options)).rejects.toThrow(new InputError(`${dir}: already holds a synthetic set (synth.json); pass --force to replace it`));
    await writeSynthSet({ ...options, force: true });
    expect(fs.readdirSync(dir).sort()).toEqual(['id_0000', 'id_0001', MANIFEST]);
    const foreign = path.join(tmp, 'photos');
    fs.mkdirSync(foreign);
    fs.writeFileSync(path.join(foreign, 'me.jpg'), 'x');
    await expect(writeSynthSet({ ...options, outDir: foreign, force: true })).rejects.toThrow(/photos: folder is not empty and holds no synth\.json; choose a new or empty folder$/);
    expect(fs.readdirSync(foreign)).toEqual(['me.jpg']);
    await expect(writeSynthSet({ ...options, size: 8 })).rejects.toThrow('size 8: expected an integer in 16..1024');
  });
});

describe('arcface synth (built CLI)', () => {
  const BIN = path.resolve(__dirname, '../bin/run.js');
  const built = fs.existsSync(path.resolve(__dirname, '../dist/commands/synth.js'));
  if (!built) console.warn('synth.test: skipping the CLI tests, dist/commands/synth.js is absent (run npm run build)');
  const cli = built ? test : test.skip;
  const arcface = (...args: string[]) => {
    const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: tmp, timeout: 120000 });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  cli('--json prints the summary and nothing else', () => {
    const r = arcface('synth', '--out', 'cli-set', '--identities', '2', '--images-per-identity', '3', '--size', '24', '--seed', '9', '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(
      expect.objectContaining({ outDir: 'cli-set', identities: 2, imagesPerIdentity: 3, images: 6, size: 24, seed: 9, bytes: expect.any(Number), seconds: expect.any(Number) }),
    );
    expect(scanImageFolder(path.join(tmp, 'cli-set')).samples).toHaveLength(6);
  });

  cli('a non-empty folder is a one-line error with exit code 2', () => {
    fs.mkdirSync(path.join(tmp, 'busy'));
    fs.writeFileSync(path.join(tmp, 'busy', 'x'), '');
    const r = arcface('synth', '--out', 'busy');
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('Error: busy: folder is not empty and holds no synth.json; choose a new or empty folder\n');
    expect(r.stdout).toBe('');
  });
});
