import fs = require('fs');
import * as os from 'os';
import * as path from 'path';
import { applyWeights, decodeCheckpoint, encodeCheckpoint, loadCheckpoint, saveCheckpoint, weightsOf } from '../src/core/checkpoint/checkpoint';
import { SafetensorsError, decodeSafetensors, encodeSafetensors } from '../src/core/checkpoint/safetensors';
import { loadConfig } from '../src/core/config';
import { Graph, TensorData, float32Tensor } from '../src/core/graph/types';
import { buildBackbone } from '../src/core/nn/registry';
import { AtomicWriteError, writeFileAtomic } from '../src/core/util/atomic';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'arcface-ckpt-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
afterEach(() => jest.restoreAllMocks());

const tiny = (seed: number, embeddingSize = 32): Graph => buildBackbone('tiny', { embeddingSize, dropout: 0, seed });
const spec = (embeddingSize = 32) => {
  const c = loadConfig('tiny', [`model.embedding_size=${embeddingSize}`, 'model.seed=1']);
  return { model: c.model, input: c.input };
};
const bytesOf = (t: TensorData) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);

/** Bytes of a safetensors file with any header, as a foreign writer might produce it. */
function craft(header: object, data: Uint8Array, pad = 0): Buffer {
  const json = Buffer.concat([Buffer.from(JSON.stringify(header)), Buffer.alloc(pad, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, data]);
}

describe('checkpoint round trip', () => {
  test('a tiny backbone saved, loaded and applied to a differently seeded build gives identical bytes', () => {
    const original = tiny(1);
    const file = path.join(dir, 'tiny.safetensors');
    saveCheckpoint(file, original, spec(), { step: 120, epoch: 3 });

    const ckpt = loadCheckpoint(file);
    expect(ckpt.metadata).toEqual({ format: 'arcface-checkpoint/1', step: 120, epoch: 3 });
    expect(ckpt.config.model).toEqual(spec().model);
    expect(ckpt.config.input).toEqual(spec().input);
    expect(ckpt.config.bench).toEqual(loadConfig().bench);

    const roles = [...original.initializers.values()];
    expect(new Set(ckpt.tensors.keys())).toEqual(new Set(roles.filter((i) => i.role !== 'constant').map((i) => i.name)));
    expect(roles.some((i) => i.role === 'state' && ckpt.tensors.has(i.name))).toBe(true);

    const other = tiny(2);
    const differs = [...weightsOf(other)].some(([name, t]) => !bytesOf(t).equals(bytesOf(original.initializers.get(name)!.tensor)));
    expect(differs).toBe(true);
    applyWeights(other, ckpt.tensors);
    for (const [name, init] of original.initializers) {
      const copy = other.initializers.get(name)!;
      expect(copy.tensor.dims).toEqual(init.tensor.dims);
      expect(bytesOf(copy.tensor).equals(bytesOf(init.tensor))).toBe(true);
    }
    // The graph owns its copy: changing the loaded tensors later does not reach it.
    const first = [...ckpt.tensors.keys()][0];
    (ckpt.tensors.get(first)!.data as Float32Array)[0] += 1;
    expect(bytesOf(other.initializers.get(first)!.tensor).equals(bytesOf(original.initializers.get(first)!.tensor))).toBe(true);
  });

  test('the same graph and config always encode to the same bytes', () => {
    expect(encodeCheckpoint(tiny(1), spec()).equals(encodeCheckpoint(tiny(1), spec()))).toBe(true);
  });

  test('progress is optional and must be a non-negative integer', () => {
    expect(decodeCheckpoint(encodeCheckpoint(tiny(1), spec()), 'x').metadata).toEqual({ format: 'arcface-checkpoint/1' });
    expect(() => encodeCheckpoint(tiny(1), spec(), { step: -1 })).toThrow('checkpoint step must be an integer >= 0, got -1');
  });
});

describe('applyWeights names what does not fit', () => {
  const weights = () => weightsOf(tiny(1));

  test('a shape mismatch names the tensor and both shapes, and changes nothing', () => {
    const target = tiny(2, 64);
    const before = bytesOf(target.initializers.get('backbone.conv1.conv.weight')!.tensor).toString('hex');
    expect(() => applyWeights(target, weights(), 'a.safetensors')).toThrow(
      /^a\.safetensors: tensor backbone\.features\.fc\.weight: checkpoint has float32 \[32, 32\], the model needs float32 \[64, 32\] \(and \d+ more\)$/,
    );
    expect(bytesOf(target.initializers.get('backbone.conv1.conv.weight')!.tensor).toString('hex')).toBe(before);
  });

  test('a missing tensor', () => {
    const w = weights();
    w.delete('backbone.conv2.bn.running_var');
    expect(() => applyWeights(tiny(2), w)).toThrow(/^checkpoint has no tensor backbone\.conv2\.bn\.running_var \(the model needs float32 \[16\]\)$/);
  });

  test('an extra tensor', () => {
    const w = weights();
    w.set('head.weight', float32Tensor([10, 32]));
    expect(() => applyWeights(tiny(2), w)).toThrow(/^checkpoint tensor head\.weight is not in the model$/);
  });
});

describe('safetensors layout', () => {
  const tensors = new Map<string, TensorData>([
    ['a', { dtype: 'uint8', dims: [3], data: Uint8Array.from([1, 2, 3]) }],
    ['b', { dtype: 'float32', dims: [2], data: Float32Array.from([1.5, -2]) }],
  ]);

  test('little-endian length, space-padded JSON header, tensors largest element first', () => {
    const bytes = encodeSafetensors(tensors, { note: 'hey' });
    const json = '{"__metadata__":{"note":"hey"},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"U8","shape":[3],"data_offsets":[8,11]}}';
    const padded = Math.ceil(json.length / 8) * 8;
    expect(padded).toBeGreaterThan(json.length);

    const expectedLength = Buffer.alloc(8);
    expectedLength[0] = padded & 0xff;
    expectedLength[1] = padded >> 8;
    expect(bytes.subarray(0, 8)).toEqual(expectedLength);
    expect(bytes.subarray(8, 8 + json.length).toString()).toBe(json);
    expect(bytes.subarray(8 + json.length, 8 + padded).toString()).toBe(' '.repeat(padded - json.length));
    expect((8 + padded) % 8).toBe(0);
    expect([...bytes.subarray(8 + padded)]).toEqual([0x00, 0x00, 0xc0, 0x3f, 0x00, 0x00, 0x00, 0xc0, 1, 2, 3]);
  });

  test('decodes what it encodes, and any order a foreign writer chose', () => {
    const back = decodeSafetensors(encodeSafetensors(tensors, { note: 'hey' }), 'x');
    expect(back.metadata).toEqual({ note: 'hey' });
    expect(back.tensors.get('a')).toEqual(tensors.get('a'));
    expect(back.tensors.get('b')).toEqual(tensors.get('b'));

    const foreign = craft(
      { a: { dtype: 'U8', shape: [3], data_offsets: [0, 3] }, b: { dtype: 'F32', shape: [2], data_offsets: [3, 11] }, e: { dtype: 'I64', shape: [0], data_offsets: [11, 11] } },
      Buffer.concat([Buffer.from([1, 2, 3]), bytesOf(tensors.get('b')!)]),
    );
    const read = decodeSafetensors(foreign, 'foreign');
    expect(read.metadata).toEqual({});
    expect(read.tensors.get('b')!.data).toEqual(Float32Array.from([1.5, -2]));
    expect(read.tensors.get('e')).toEqual({ dtype: 'int64', dims: [0], data: new BigInt64Array(0) });
  });

  test('every dtype the graph uses round-trips', () => {
    const all = new Map<string, TensorData>([
      ['f16', { dtype: 'float16', dims: [2], data: Uint16Array.from([0x3c00, 0xc000]) }],
      ['i64', { dtype: 'int64', dims: [2], data: BigInt64Array.from([-1n, 1n << 40n]) }],
      ['i32', { dtype: 'int32', dims: [1], data: Int32Array.from([-7]) }],
      ['i8', { dtype: 'int8', dims: [1], data: Int8Array.from([-3]) }],
      ['bool', { dtype: 'bool', dims: [2], data: Uint8Array.from([1, 0]) }],
    ]);
    const back = decodeSafetensors(encodeSafetensors(all), 'x').tensors;
    for (const [name, t] of all) expect(back.get(name)).toEqual(t);
  });

  test('refuses to write data that does not match its shape or dtype', () => {
    expect(() => encodeSafetensors(new Map([['w', { dtype: 'float32', dims: [3], data: new Float32Array(2) }]]))).toThrow(
      'tensor w: shape [3] needs 3 values, its data has 2',
    );
    expect(() => encodeSafetensors(new Map([['w', { dtype: 'int64', dims: [1], data: new Float32Array(1) }]]))).toThrow(
      'tensor w: int64 needs 8-byte elements, its data has 4',
    );
  });
});

describe('safetensors reader rejects broken files with one line naming the file', () => {
  const good = () => encodeSafetensors(new Map([['w', float32Tensor([4], Float32Array.from([1, 2, 3, 4]))]]));
  const entry = (dtype: string, shape: number[], data_offsets: number[]) => ({ dtype, shape, data_offsets });
  const cases: [string, () => Uint8Array, RegExp][] = [
    ['shorter than the length field', () => Buffer.from([1, 2, 3]), /^f\.st: not a safetensors file: 3 bytes/],
    ['truncated data', () => good().subarray(0, good().length - 1), /^f\.st: tensor w ends at byte 16, past the end of the data \(15 bytes\): the file is truncated$/],
    ['truncated header', () => good().subarray(0, 20), /^f\.st: not a safetensors file or truncated: header length \d+ does not fit in 20 bytes$/],
    ['a header length from random bytes', () => Buffer.from('PK\u0003\u0004 zip file, not weights'), /^f\.st: not a safetensors file or truncated/],
    [
      'garbled header bytes',
      () => {
        const b = Buffer.from(good());
        b[9] = 0xff;
        return b;
      },
      /^f\.st: header is not valid UTF-8 JSON \(.+\)$/,
    ],
    ['a header that is not an object', () => craft([1, 2] as unknown as object, Buffer.alloc(0)), /^f\.st: header is not a JSON object$/],
    [
      'overlapping offsets',
      () => craft({ a: entry('F32', [2], [0, 8]), b: entry('F32', [2], [4, 12]) }, Buffer.alloc(12)),
      /^f\.st: tensor b \(bytes 4\.\.12\) overlaps tensor a \(ending at 8\)$/,
    ],
    ['a gap', () => craft({ a: entry('F32', [1], [4, 8]) }, Buffer.alloc(8)), /^f\.st: bytes 0\.\.4 of the data belong to no tensor \(a gap before a\)$/],
    ['trailing bytes', () => craft({ a: entry('F32', [1], [0, 4]) }, Buffer.alloc(8)), /^f\.st: the data has 8 bytes but the tensors cover only 4$/],
    ['an unknown dtype', () => craft({ a: entry('BF16', [1], [0, 2]) }, Buffer.alloc(2)), /^f\.st: tensor a: dtype "BF16" is not supported \(supported: F32, F16, I64, I32, I8, U8, BOOL\)$/],
    ['a span that does not match the shape', () => craft({ a: entry('F32', [3], [0, 8]) }, Buffer.alloc(8)), /^f\.st: tensor a: shape \[3\] of F32 needs 12 bytes, data_offsets span 8$/],
    ['bad offsets', () => craft({ a: entry('F32', [1], [4, 0]) }, Buffer.alloc(4)), /^f\.st: tensor a: data_offsets \[4,0\] is not \[begin, end\]/],
    ['a bad shape', () => craft({ a: entry('F32', [-1], [0, 4]) }, Buffer.alloc(4)), /^f\.st: tensor a: shape \[-1\] is not a list of sizes$/],
    ['an entry with extra keys', () => craft({ a: { ...entry('F32', [1], [0, 4]), x: 1 } }, Buffer.alloc(4)), /^f\.st: tensor a: header entry has keys data_offsets,dtype,shape,x/],
    ['non-string metadata', () => craft({ __metadata__: { step: 3 } }, Buffer.alloc(0)), /^f\.st: __metadata__ must map strings to strings$/],
  ];
  test.each(cases)('%s', (_what, bytes, message) => {
    expect(() => decodeSafetensors(bytes(), 'f.st')).toThrow(SafetensorsError);
    expect(() => decodeSafetensors(bytes(), 'f.st')).toThrow(message);
  });
});

describe('checkpoint reader', () => {
  test('a plain safetensors file, another format, a bad stored config, a missing file', () => {
    const plain = encodeSafetensors(new Map());
    expect(() => decodeCheckpoint(plain, 'p.safetensors')).toThrow('p.safetensors: not an arcface checkpoint (a safetensors file without __metadata__.format)');
    const other = encodeSafetensors(new Map(), { format: 'pt' });
    expect(() => decodeCheckpoint(other, 'o')).toThrow('o: checkpoint format "pt" is not supported (expected arcface-checkpoint/1)');
    const s = spec();
    const badConfig = encodeSafetensors(new Map(), { format: 'arcface-checkpoint/1', config: JSON.stringify({ ...s, model: { ...s.model, backbone: 'resnet51' } }) });
    expect(() => decodeCheckpoint(badConfig, 'c')).toThrow(/^c: checkpoint config: model\.backbone: expected one of tiny, .*, got "resnet51"$/);
    const badStep = encodeSafetensors(new Map(), { format: 'arcface-checkpoint/1', config: JSON.stringify(s), step: 'ten' });
    expect(() => decodeCheckpoint(badStep, 's')).toThrow('s: checkpoint step "ten" is not an integer >= 0');
    const missing = path.join(dir, 'nope.safetensors');
    expect(() => loadCheckpoint(missing)).toThrow(`${missing}: cannot read checkpoint (no such file)`);
  });
});

describe('writeFileAtomic', () => {
  const entries = () => fs.readdirSync(dir).filter((f) => f.startsWith('.') || f.startsWith('atomic'));

  test('writes, replaces, and leaves no temporary file', () => {
    const file = path.join(dir, 'atomic.bin');
    writeFileAtomic(file, Uint8Array.from([1, 2, 3]));
    writeFileAtomic(file, 'new content');
    expect(fs.readFileSync(file, 'utf8')).toBe('new content');
    expect(entries()).toEqual(['atomic.bin']);
  });

  test('a failure mid-write keeps the old file and removes the temporary one', () => {
    const file = path.join(dir, 'atomic.bin');
    fs.writeFileSync(file, 'old');
    jest.spyOn(fs, 'writeSync').mockImplementation(() => {
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    });
    expect(() => writeFileAtomic(file, 'new')).toThrow(AtomicWriteError);
    expect(() => writeFileAtomic(file, 'new')).toThrow(`cannot write ${file}: no space left on the device`);
    expect(fs.readFileSync(file, 'utf8')).toBe('old');
    expect(entries()).toEqual(['atomic.bin']);
  });

  test('a missing directory or a directory in the way is named', () => {
    const missing = path.join(dir, 'no-such-dir', 'x.onnx');
    expect(() => writeFileAtomic(missing, 'x')).toThrow(`cannot write ${missing}: directory ${path.dirname(missing)} does not exist`);
    const sub = path.join(dir, 'atomic-subdir');
    fs.mkdirSync(sub);
    fs.writeFileSync(path.join(sub, 'keep'), '');
    expect(() => writeFileAtomic(sub, 'x')).toThrow(`cannot write ${sub}: it is a directory`);
    expect(entries()).toEqual(expect.arrayContaining(['atomic-subdir']));
    expect(entries().filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});
