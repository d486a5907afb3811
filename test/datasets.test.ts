import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseCsvPairs } from '../src/core/datasets/csvPairs';
import { imageFolderPairs, LabelledImage } from '../src/core/datasets/imageFolderPairs';
import { BinFormatError, parseInsightfaceBin, readInsightfaceBin } from '../src/core/datasets/insightfaceBin';
import { describeMissingImages, findMissingImages, lfwImagePath, parseLfwPairs, readLfwPairs } from '../src/core/datasets/lfwPairs';
import { Rng } from '../src/core/util/rng';

const LFW_PAIRS = path.resolve(__dirname, '../../shared/data/faces/lfw_pairs.txt');
const hasShared = fs.existsSync(LFW_PAIRS);
if (!hasShared) console.warn(`skipping the real pairs.txt test: ${LFW_PAIRS} is absent (../shared not mounted)`);

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'arcface-datasets-'));
}

describe('LFW pairs.txt', () => {
  (hasShared ? it : it.skip)('parses the real file: 10 folds x (300 same + 300 different)', () => {
    const parsed = readLfwPairs(LFW_PAIRS);
    expect(parsed.folds).toBe(10);
    expect(parsed.pairsPerFold).toBe(300);
    expect(parsed.pairs).toHaveLength(6000);
    expect(parsed.pairs.filter((p) => p.same)).toHaveLength(3000);
    expect(parsed.pairs[0]).toEqual({ a: 'Abel_Pacheco/Abel_Pacheco_0001.jpg', b: 'Abel_Pacheco/Abel_Pacheco_0004.jpg', same: true, fold: 0 });
    expect(parsed.pairs[300]).toEqual({
      a: 'Abdel_Madi_Shabneh/Abdel_Madi_Shabneh_0001.jpg',
      b: 'Dean_Barker/Dean_Barker_0001.jpg',
      same: false,
      fold: 0,
    });
    for (let fold = 0; fold < 10; fold++) {
      const inFold = parsed.pairs.filter((p) => p.fold === fold);
      expect(inFold).toHaveLength(600);
      expect(inFold.slice(0, 300).every((p) => p.same)).toBe(true);
      expect(inFold.slice(300).every((p) => !p.same)).toBe(true);
    }
    expect(parsed.pairs[5999].fold).toBe(9);
  });

  it('formats image paths as name/name_%04d.jpg', () => {
    expect(lfwImagePath('Zico', 3)).toBe('Zico/Zico_0003.jpg');
    expect(lfwImagePath('X', 12345)).toBe('X/X_12345.jpg');
  });

  const good = '2\t1\nAnn\t1\t2\nBob 1 Cid 2\nDee\t3\t4\nEve\t1\tFay\t1\n';

  it('parses a small file with tabs and spaces, and a one-number header as one fold', () => {
    const parsed = parseLfwPairs(good, 'p.txt');
    expect(parsed.pairs.map((p) => [p.a, p.b, p.same, p.fold])).toEqual([
      ['Ann/Ann_0001.jpg', 'Ann/Ann_0002.jpg', true, 0],
      ['Bob/Bob_0001.jpg', 'Cid/Cid_0002.jpg', false, 0],
      ['Dee/Dee_0003.jpg', 'Dee/Dee_0004.jpg', true, 1],
      ['Eve/Eve_0001.jpg', 'Fay/Fay_0001.jpg', false, 1],
    ]);
    expect(parseLfwPairs('1\r\nAnn 1 2\r\nBob 1 Cid 2\r\n\r\n', 'dev.txt')).toMatchObject({ folds: 1, pairsPerFold: 1 });
  });

  it.each([
    ['', 'p.txt: empty file, expected a header line'],
    ['10 300 7\n', "p.txt:1: expected a header 'folds pairsPerFold'"],
    ['x 1\n', "p.txt:1: the fold count must be a positive integer, got 'x'"],
    ['1 1\nAnn 1 Bob 2\nBob 1 Cid 2\n', "p.txt:2: expected a matched pair 'name n1 n2' (fold 1), got 4 fields"],
    ['1 1\nAnn 1 2\nBob 1 2\n', "p.txt:3: expected a mismatched pair 'name1 n1 name2 n2' (fold 1), got 3 fields"],
    ['1 1\nAnn one 2\nBob 1 Cid 2\n', "p.txt:2: an image number must be a positive integer, got 'one'"],
    ['1 1\nAnn 0 2\nBob 1 Cid 2\n', "p.txt:2: an image number must be a positive integer, got '0'"],
    ['2 1\nAnn 1 2\nBob 1 Cid 2\nDee 1 2\n', 'p.txt:4: file ends after 3 pairs; the header announces 2 folds'],
    ['1 1\nAnn 1 2\nBob 1 Cid 2\nEve 1 2\n', 'p.txt:4: unexpected line after the 2 pairs'],
  ])('rejects malformed input %j', (text, message) => {
    expect(() => parseLfwPairs(text, 'p.txt')).toThrow(message);
  });

  it('reports missing images (first few listed, the rest counted) without throwing unless asked', () => {
    const root = tempDir();
    fs.mkdirSync(path.join(root, 'Ann'));
    fs.writeFileSync(path.join(root, 'Ann', 'Ann_0001.jpg'), '');
    const { pairs } = parseLfwPairs('1 3\nAnn 1 2\nAnn 1 3\nAnn 1 4\nBob 1 Cid 1\nBob 2 Cid 2\nAnn 1 Bob 1\n');
    const report = findMissingImages(root, pairs, { show: 2 });
    expect(report).toEqual({
      checked: 8,
      missingCount: 7,
      firstMissing: ['Ann/Ann_0002.jpg', 'Ann/Ann_0003.jpg'],
      moreMissing: 5,
    });
    expect(describeMissingImages(root, report)).toBe(`7 of 8 images missing under ${root}: Ann/Ann_0002.jpg, Ann/Ann_0003.jpg and 5 more`);
    expect(() => findMissingImages(root, pairs, { throwIfMissing: true })).toThrow(
      '7 of 8 images missing under', // the default shows 5
    );
    expect(findMissingImages(root, [{ a: 'Ann/Ann_0001.jpg', b: 'Ann/Ann_0001.jpg' }], { throwIfMissing: true }).missingCount).toBe(0);
    fs.rmSync(root, { recursive: true });
  });
});

describe('CSV pairs', () => {
  it('skips a header, including one whose third column reads "same"', () => {
    expect(parseCsvPairs('path1,path2,same\na.jpg,b.jpg,1\n')).toEqual([{ a: 'a.jpg', b: 'b.jpg', same: true }]);
    expect(parseCsvPairs('img1,img2,label\na.jpg,b.jpg,diff\n')).toEqual([{ a: 'a.jpg', b: 'b.jpg', same: false }]);
    expect(parseCsvPairs('x/a.jpg,x/b.jpg,0\n')).toEqual([{ a: 'x/a.jpg', b: 'x/b.jpg', same: false }]);
  });

  it('accepts quoted fields, CRLF, spaces and every label spelling', () => {
    const text = [
      '"dir, with comma/a.jpg","say ""cheese"".jpg",TRUE',
      ' a.jpg , b.jpg , false ',
      '"multi\nline.jpg",c.jpg,Same',
      '',
      'd.jpg,e.jpg,DIFF',
      'f.jpg,g.jpg,1',
    ].join('\r\n');
    expect(parseCsvPairs(text).map((p) => [p.a, p.b, p.same])).toEqual([
      ['dir, with comma/a.jpg', 'say "cheese".jpg', true],
      ['a.jpg', 'b.jpg', false],
      ['multi\nline.jpg', 'c.jpg', true],
      ['d.jpg', 'e.jpg', false],
      ['f.jpg', 'g.jpg', true],
    ]);
  });

  it('honours an explicit header choice', () => {
    expect(parseCsvPairs('a,b,1\nc,d,0\n', 'f.csv', { header: false })).toHaveLength(2);
    expect(parseCsvPairs('a.jpg,b.jpg,1\nc.jpg,d.jpg,0\n', 'f.csv', { header: true })).toHaveLength(1);
  });

  it.each([
    ['a.jpg,b.jpg,1\nc.jpg,d.jpg\n', 'f.csv:2: expected 3 fields (path1, path2, same), got 2'],
    ['a.jpg,b.jpg,1\nc.jpg,d.jpg,yes\n', "f.csv:2: 'same' must be one of 1/0/true/false/same/diff, got 'yes'"],
    ['a.jpg,b.jpg,1\nc.jpg,d.jpg,constructor\n', "got 'constructor'"],
    ['"a\n.jpg",b.jpg,1\nc.jpg,d.jpg,yes\n', "f.csv:3: 'same' must be one of"],
    ['a.jpg,b.jpg,1\n"c.jpg,d.jpg,1\n', 'f.csv:2: unterminated quoted field'],
    ['a.jpg,b.jpg,1\n"c".jpg,d.jpg,1\n', "f.csv:2: unexpected '.' after a closing quote"],
    ['a.jpg,b.jpg,1\n,d.jpg,1\n', 'f.csv:2: empty image path'],
    ['path1,path2,same\n', 'f.csv: no pairs'],
  ])('rejects %j', (text, message) => {
    expect(() => parseCsvPairs(text, 'f.csv')).toThrow(message);
  });
});

describe('ImageFolder pairs', () => {
  const items: LabelledImage[] = [
    ...['a1', 'a2', 'a3'].map((p) => ({ path: p, identity: 'a' })),
    ...['b1', 'b2'].map((p) => ({ path: p, identity: 'b' })),
    { path: 'c1', identity: 'c' },
  ];
  const identityOf = new Map(items.map((i) => [i.path, i.identity]));
  const key = (p: { a: string; b: string }) => [p.a, p.b].sort().join('|');

  it('takes every positive and as many distinct negatives, deterministically for a seed', () => {
    const pairs = imageFolderPairs(items, { seed: 4, folds: 2 });
    const positives = pairs.filter((p) => p.same);
    const negatives = pairs.filter((p) => !p.same);
    // 3 choose 2 + 2 choose 2 = 4 positives.
    expect(positives.map(key).sort()).toEqual(['a1|a2', 'a1|a3', 'a2|a3', 'b1|b2']);
    expect(negatives).toHaveLength(4);
    expect(new Set(negatives.map(key)).size).toBe(4);
    for (const p of negatives) expect(identityOf.get(p.a)).not.toBe(identityOf.get(p.b));
    expect(imageFolderPairs(items, { seed: 4, folds: 2 })).toEqual(pairs);
    const samples = new Set([1, 2, 3, 4, 5, 6].map((seed) => imageFolderPairs(items, { seed }).filter((p) => !p.same).map(key).sort().join()));
    expect(samples.size).toBeGreaterThan(1);
  });

  it('deals positives and negatives evenly into folds, ordered by fold', () => {
    const pairs = imageFolderPairs(items, { seed: 4, folds: 2 });
    expect(pairs.map((p) => p.fold)).toEqual([0, 0, 0, 0, 1, 1, 1, 1]);
    for (const fold of [0, 1]) {
      expect(pairs.filter((p) => p.fold === fold).map((p) => p.same)).toEqual([true, true, false, false]);
    }
  });

  it('caps negatives at what exists and at maxNegatives, positives at maxPositives', () => {
    // 15 pairs of 6 images, 4 of them positive: 11 negatives exist.
    const dense = imageFolderPairs(items, { seed: 1, negativesPerPositive: 10 });
    expect(dense.filter((p) => !p.same)).toHaveLength(11);
    expect(new Set(dense.filter((p) => !p.same).map(key)).size).toBe(11);
    expect(imageFolderPairs(items, { seed: 1, maxNegatives: 2 }).filter((p) => !p.same)).toHaveLength(2);
    const fewer = imageFolderPairs(items, { seed: 1, maxPositives: 2 });
    expect(fewer.filter((p) => p.same)).toHaveLength(2);
    expect(fewer.filter((p) => !p.same)).toHaveLength(2);
  });

  it('samples sparse negatives uniformly enough from a larger folder', () => {
    const big: LabelledImage[] = [];
    for (let id = 0; id < 40; id++) for (let k = 0; k < 5; k++) big.push({ path: `${id}/${k}`, identity: String(id) });
    const pairs = imageFolderPairs(big, { seed: 9 });
    const negatives = pairs.filter((p) => !p.same);
    expect(negatives).toHaveLength(40 * 10);
    expect(new Set(negatives.map(key)).size).toBe(400);
    const touched = new Set(negatives.flatMap((p) => [p.a, p.b]));
    expect(touched.size).toBeGreaterThan(150);
  });

  it('fails cleanly without positives or negatives', () => {
    expect(() => imageFolderPairs([{ path: 'x', identity: 'x' }, { path: 'y', identity: 'y' }], { seed: 0 })).toThrow('no positive pairs');
    expect(() => imageFolderPairs([{ path: 'x', identity: 'x' }, { path: 'y', identity: 'x' }], { seed: 0 })).toThrow('no negative pairs');
  });
});

/** Pickle opcode bytes, written out by hand (names as in CPython's pickletools). */
const P = {
  proto: (n: number) => [0x80, n],
  frame: (n: number) => [0x95, ...le(n, 8)],
  stop: [0x2e],
  mark: [0x28],
  emptyList: [0x5d],
  append: [0x61],
  appends: [0x65],
  tuple: [0x74],
  tuple2: [0x86],
  newTrue: [0x88],
  newFalse: [0x89],
  shortBinbytes: (s: string) => [0x43, s.length, ...ascii(s)],
  binbytes: (s: string) => [0x42, ...le(s.length, 4), ...ascii(s)],
  binbytes8: (s: string) => [0x8e, ...le(s.length, 8), ...ascii(s)],
  shortBinstring: (s: string) => [0x55, s.length, ...ascii(s)],
  binstring: (s: string) => [0x54, ...le(s.length, 4), ...ascii(s)],
  binunicode: (s: string) => [0x58, ...le(Buffer.byteLength(s), 4), ...Buffer.from(s, 'utf8')],
  binput: (i: number) => [0x71, i],
  longBinput: (i: number) => [0x72, ...le(i, 4)],
  memoize: [0x94],
  binget: (i: number) => [0x68, i],
  longBinget: (i: number) => [0x6a, ...le(i, 4)],
  global: (module: string, name: string) => [0x63, ...ascii(`${module}\n${name}\n`)],
  reduce: [0x52],
};

function le(value: number, bytes: number): number[] {
  return Array.from({ length: bytes }, (_, i) => Math.floor(value / 256 ** i) % 256);
}

function ascii(s: string): number[] {
  return Array.from(Buffer.from(s, 'latin1'));
}

function pickle(...parts: (number[] | number)[]): Buffer {
  return Buffer.from(parts.flat());
}

function strings(bin: { images: Buffer[] }): string[] {
  return bin.images.map((b) => b.toString('latin1'));
}

/** What Python 3 writes for ([b'a', b'bc'], [True]) at protocol 3 (a one-item list uses APPEND). */
const PROTOCOL_3 = pickle(
  P.proto(3),
  P.emptyList, P.binput(0), P.mark,
  P.shortBinbytes('a'), P.binput(1), P.shortBinbytes('bc'), P.binput(2), P.appends,
  P.emptyList, P.binput(3), P.newTrue, P.append,
  P.tuple2, P.binput(4), P.stop,
);

/** The same at protocol 4: a FRAME around the body and MEMOIZE instead of BINPUT. */
const PROTOCOL_4 = pickle(
  P.proto(4), P.frame(20),
  P.emptyList, P.memoize, P.mark,
  P.shortBinbytes('a'), P.memoize, P.shortBinbytes('bc'), P.memoize, P.appends,
  P.emptyList, P.memoize, P.newTrue, P.append,
  P.tuple2, P.memoize, P.stop,
);

describe('insightface .bin parser', () => {
  it('reads protocol 3 and 4 layouts', () => {
    for (const data of [PROTOCOL_3, PROTOCOL_4]) {
      const bin = parseInsightfaceBin(data, 'x.bin');
      expect(strings(bin)).toEqual(['a', 'bc']);
      expect(bin.issame).toEqual([true]);
    }
  });

  it('reads Python 2 protocol 2 (BINSTRING), single APPENDs and a TUPLE from a MARK', () => {
    const data = pickle(
      P.proto(2),
      P.mark,
      P.emptyList, P.binput(0),
      P.shortBinstring('a'), P.binput(1), P.append,
      P.binstring('bc'), P.binput(2), P.append,
      P.emptyList, P.binput(3), P.newFalse, P.append,
      P.tuple, P.binput(4), P.stop,
    );
    const bin = parseInsightfaceBin(data, 'py2.bin');
    expect(strings(bin)).toEqual(['a', 'bc']);
    expect(bin.issame).toEqual([false]);
  });

  it('reads Python 3 protocol 2: _codecs.encode(text, "latin1") as a bytes literal, with memo gets', () => {
    const data = pickle(
      P.proto(2),
      P.emptyList, P.binput(0), P.mark,
      P.global('_codecs', 'encode'), P.binput(1), P.binunicode('a\u00ff'), P.binput(2), P.binunicode('latin1'), P.binput(3),
      P.tuple2, P.binput(4), P.reduce, P.binput(5),
      P.binget(1), P.binunicode('bc'), P.binput(6), P.binget(3), P.tuple2, P.binput(7), P.reduce, P.binput(8),
      P.appends,
      P.emptyList, P.binput(9), P.mark, P.newTrue, P.appends,
      P.tuple2, P.binput(10), P.stop,
    );
    const bin = parseInsightfaceBin(data, 'py3p2.bin');
    expect(bin.images.map((b) => Array.from(b))).toEqual([[0x61, 0xff], [0x62, 0x63]]);
    expect(bin.issame).toEqual([true]);
  });

  it('reads BINBYTES, BINBYTES8, LONG_BINPUT and a memo get of an image', () => {
    const long = 'x'.repeat(300);
    const data = pickle(
      P.proto(4), P.frame(6), P.emptyList, P.longBinput(0), P.mark,
      P.binbytes(long), P.longBinput(1),
      P.binbytes8('yy'), P.memoize,
      P.longBinget(1), P.binget(2),
      P.appends,
      P.emptyList, P.memoize, P.mark, P.newTrue, P.newFalse, P.appends,
      P.tuple2, P.stop,
    );
    const bin = parseInsightfaceBin(data, 'x.bin');
    expect(strings(bin)).toEqual([long, 'yy', long, 'yy']);
    expect(bin.issame).toEqual([true, false]);
  });

  it('rejects a GLOBAL os.system + REDUCE payload without running it', () => {
    const marker = path.join(os.tmpdir(), `arcface-pickle-pwned-${process.pid}`);
    const payload = pickle(
      P.proto(2), P.global('os', 'system'), P.binput(0), P.binunicode(`touch ${marker}`), 0x85, P.reduce, P.stop,
    );
    expect(() => parseInsightfaceBin(payload, 'evil.bin')).toThrow(
      'evil.bin: refusing GLOBAL os.system: the file uses a construct this reader does not accept at offset 2',
    );
    expect(fs.existsSync(marker)).toBe(false);
    // Protocol 4 spells it with STACK_GLOBAL.
    const stackGlobal = pickle(P.proto(4), 0x8c, 2, ...ascii('os'), 0x8c, 6, ...ascii('system'), 0x93, P.stop);
    expect(() => parseInsightfaceBin(stackGlobal, 'evil4.bin')).toThrow('unsupported pickle opcode 0x93 (STACK_GLOBAL) at offset 14');
  });

  it('rejects numpy arrays with a message naming the construct', () => {
    const numpy = pickle(P.proto(2), P.global('numpy.core.multiarray', '_reconstruct'), P.stop);
    expect(() => parseInsightfaceBin(numpy, 'np.bin')).toThrow(/refusing GLOBAL numpy\.core\.multiarray\._reconstruct/);
  });

  it('rejects REDUCE on anything but the latin1 idiom', () => {
    const wrongEncoding = pickle(P.proto(2), P.global('_codecs', 'encode'), P.binunicode('a'), P.binunicode('utf8'), P.tuple2, P.reduce, P.stop);
    expect(() => parseInsightfaceBin(wrongEncoding)).toThrow("not (text, 'latin1')");
    const reduceOnBytes = pickle(P.proto(3), P.shortBinbytes('a'), P.shortBinbytes('b'), P.reduce, P.stop);
    expect(() => parseInsightfaceBin(reduceOnBytes)).toThrow('REDUCE on a bytes value');
  });

  it.each([
    ['a dict', pickle(P.proto(4), 0x7d, P.memoize, P.stop), 'unsupported pickle opcode 0x7d (EMPTY_DICT) at offset 2'],
    ['protocol 0', Buffer.from('(lp0\nI1\na.'), 'not a protocol 2+ pickle'],
    ['protocol 6', pickle(P.proto(6), P.stop), 'unsupported pickle protocol 6'],
    ['a top-level list', pickle(P.proto(3), P.emptyList, P.stop), 'top-level object is a list of 0'],
    [
      'a 3-tuple',
      pickle(P.proto(3), P.mark, P.emptyList, P.emptyList, P.emptyList, P.tuple, P.stop),
      'top-level object is a tuple of 3',
    ],
    [
      'ints as labels',
      pickle(P.proto(3), P.emptyList, P.shortBinbytes('a'), P.append, P.shortBinbytes('b'), P.append, P.emptyList, 0x4b, 1, P.append, P.tuple2, P.stop),
      'unsupported pickle opcode 0x4b (BININT1)',
    ],
    [
      'text as an image',
      pickle(P.proto(3), P.emptyList, P.binunicode('a'), P.append, P.shortBinbytes('b'), P.append, P.emptyList, P.newTrue, P.append, P.tuple2, P.stop),
      'image 0 is a text value, not bytes',
    ],
    [
      'mismatched lengths',
      pickle(P.proto(3), P.emptyList, P.mark, P.shortBinbytes('a'), P.shortBinbytes('b'), P.shortBinbytes('c'), P.appends, P.emptyList, P.mark, P.newTrue, P.newFalse, P.appends, P.tuple2, P.stop),
      '3 images for 2 issame flags (expected 2 per pair)',
    ],
    ['no pairs', pickle(P.proto(3), P.emptyList, P.emptyList, P.tuple2, P.stop), 'the file holds no pairs'],
    ['trailing data', Buffer.concat([PROTOCOL_3, Buffer.from([0x2e])]), '1 trailing bytes after STOP'],
    ['a memo get of an unset slot', pickle(P.proto(3), P.binget(7), P.stop), 'memo get of unset slot 7'],
    ['APPEND onto bytes', pickle(P.proto(3), P.shortBinbytes('a'), P.newTrue, P.append, P.stop), 'APPEND onto a bytes value, not a list'],
    ['APPENDS without a MARK', pickle(P.proto(3), P.emptyList, P.appends, P.stop), 'APPENDS without a MARK'],
    ['a FRAME past the end', pickle(P.proto(4), P.frame(1000), P.stop), 'truncated: FRAME of 1000 bytes'],
    [
      'a control character in a GLOBAL name',
      pickle(P.proto(2), P.global('os\rx', 'system'), P.stop),
      'refusing GLOBAL os?x.system',
    ],
    [
      'a million items after one MARK',
      pickle(P.proto(3), P.emptyList, P.mark, Array(1_000_000).fill(0x88), P.appends, P.emptyList, P.tuple2, P.stop),
      'image 0 is a bool value, not bytes',
    ],
    ['a huge BINBYTES8', pickle(P.proto(4), 0x8e, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), 'truncated: bytes needs'],
  ])('rejects %s', (_, data, message) => {
    expect(() => parseInsightfaceBin(data, 'bad.bin')).toThrow(BinFormatError);
    expect(() => parseInsightfaceBin(data, 'bad.bin')).toThrow(message);
  });

  it('rejects every truncation of a valid file with a one-line BinFormatError', () => {
    for (const valid of [PROTOCOL_3, PROTOCOL_4]) {
      for (let length = 0; length < valid.length; length++) {
        let error: unknown;
        try {
          parseInsightfaceBin(valid.subarray(0, length), 'cut.bin');
        } catch (e) {
          error = e;
        }
        expect(error).toBeInstanceOf(BinFormatError);
        expect((error as Error).message).toMatch(/^cut\.bin: [^\n]* at offset \d+/);
      }
    }
  });

  it('survives random corruption: either a valid result or a BinFormatError, nothing else', () => {
    const rng = new Rng(13, 'pickle-fuzz');
    for (let trial = 0; trial < 2000; trial++) {
      const data = Buffer.from(rng.uniform() < 0.5 ? PROTOCOL_3 : PROTOCOL_4);
      for (let flips = 1 + rng.int(3); flips > 0; flips--) data[rng.int(data.length)] = rng.int(256);
      try {
        const bin = parseInsightfaceBin(data, 'fuzz.bin');
        expect(bin.images).toHaveLength(2 * bin.issame.length);
      } catch (e) {
        expect(e).toBeInstanceOf(BinFormatError);
      }
    }
  });

  const python = ['/usr/bin/python3', 'python3'].find((exe) => spawnSync(exe, ['--version']).status === 0);
  if (python === undefined) console.warn('skipping the Python-written .bin tests: python3 not found');

  (python ? it : it.skip)('reads what Python writes at protocols 2 to 5, and matches the hand-written layouts', () => {
    const dir = tempDir();
    const script = [
      'import pickle, sys',
      'd = sys.argv[1]',
      'for p in (2, 3, 4, 5):',
      "    open(f'{d}/small{p}.bin', 'wb').write(pickle.dumps(([b'a', b'bc'], [True]), protocol=p))",
      // Over 1000 items (batched APPENDS), images past 255 bytes (BINBYTES), every byte value.
      '    imgs = [bytes((i + k) % 256 for k in range((i * 37) % 700 + 1)) for i in range(2400)]',
      '    same = [i % 3 == 0 for i in range(1200)]',
      "    with open(f'{d}/big{p}.bin', 'wb') as f: pickle.dump((imgs, same), f, protocol=p)",
    ].join('\n');
    const run = spawnSync(python as string, ['-c', script, dir], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    for (const p of [2, 3, 4, 5]) {
      const small = readInsightfaceBin(path.join(dir, `small${p}.bin`));
      expect(strings(small)).toEqual(['a', 'bc']);
      expect(small.issame).toEqual([true]);
      const big = readInsightfaceBin(path.join(dir, `big${p}.bin`));
      expect(big.images).toHaveLength(2400);
      expect(big.issame.filter(Boolean)).toHaveLength(400);
      expect(big.issame[3]).toBe(true);
      const image = big.images[1234];
      expect(image).toHaveLength((1234 * 37) % 700 + 1);
      expect(Array.from(image.subarray(0, 3))).toEqual([1234 % 256, 1235 % 256, 1236 % 256]);
    }
    // The hand-written layouts are byte for byte what Python writes.
    expect(fs.readFileSync(path.join(dir, 'small3.bin'))).toEqual(PROTOCOL_3);
    expect(fs.readFileSync(path.join(dir, 'small4.bin'))).toEqual(PROTOCOL_4);
    fs.rmSync(dir, { recursive: true });
  });
});
