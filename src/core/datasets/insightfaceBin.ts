import * as fs from 'fs';

/**
 * insightface `.bin` verification sets (lfw.bin, cfp_fp.bin, agedb_30.bin): a pickle of
 * `(list of encoded images, list of issame bools)`, two images per pair.
 *
 * This is not an unpickler. It is a decoder for exactly that one structure, which accepts only
 * the opcodes needed to spell it and builds nothing but byte buffers, booleans, lists and tuples;
 * no name is ever looked up and nothing is called. Supported:
 * - protocols 3, 4, 5 (Python 3): images as SHORT_BINBYTES / BINBYTES / BINBYTES8, FRAME and
 *   MEMOIZE from protocol 4 on;
 * - protocol 2 written by Python 2 (insightface's original files): images as SHORT_BINSTRING /
 *   BINSTRING;
 * - protocol 2 written by Python 3, which has no bytes opcode and spells `b'..'` as
 *   `_codecs.encode('..', 'latin1')`: GLOBAL + REDUCE. That one idiom is recognised as a
 *   literal: the GLOBAL is accepted only with exactly that module and name, becomes an inert
 *   marker, and REDUCE is accepted only on that marker with a (text, 'latin1') argument tuple,
 *   whose result we compute ourselves (each code point below 256 becomes one byte).
 * Everything else (any other GLOBAL such as numpy arrays, STACK_GLOBAL, INST, OBJ, NEWOBJ, BUILD,
 * dicts, ints, protocols 0 and 1, trailing data) is rejected with a one-line error naming the
 * file, the byte offset and the opcode.
 */

export interface VerificationBin {
  /** Encoded images (JPEG in insightface's files); pair i is images[2i], images[2i + 1]. */
  images: Buffer[];
  issame: boolean[];
}

export class BinFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BinFormatError';
  }
}

type PickleValue =
  | { kind: 'bytes'; data: Buffer }
  | { kind: 'text'; text: string }
  | { kind: 'bool'; value: boolean }
  | { kind: 'list'; items: PickleValue[] }
  | { kind: 'tuple'; items: PickleValue[] }
  | { kind: 'latin1Encoder' };

const MARK = Symbol('mark');
type Fail = (message: string, at: number) => never;
type StackEntry = PickleValue | typeof MARK;

const OP = {
  PROTO: 0x80,
  FRAME: 0x95,
  STOP: 0x2e,
  MARK: 0x28,
  EMPTY_LIST: 0x5d,
  APPEND: 0x61,
  APPENDS: 0x65,
  TUPLE: 0x74,
  TUPLE2: 0x86,
  NEWTRUE: 0x88,
  NEWFALSE: 0x89,
  SHORT_BINBYTES: 0x43,
  BINBYTES: 0x42,
  BINBYTES8: 0x8e,
  SHORT_BINSTRING: 0x55,
  BINSTRING: 0x54,
  SHORT_BINUNICODE: 0x8c,
  BINUNICODE: 0x58,
  BINPUT: 0x71,
  LONG_BINPUT: 0x72,
  MEMOIZE: 0x94,
  BINGET: 0x68,
  LONG_BINGET: 0x6a,
  GLOBAL: 0x63,
  REDUCE: 0x52,
} as const;

/** Names of opcodes we refuse, so the error says what the file tried to do. */
const REFUSED_NAMES: Record<number, string> = {
  0x93: 'STACK_GLOBAL',
  0x69: 'INST',
  0x6f: 'OBJ',
  0x81: 'NEWOBJ',
  0x92: 'NEWOBJ_EX',
  0x62: 'BUILD',
  0x50: 'PERSID',
  0x51: 'BINPERSID',
  0x82: 'EXT1',
  0x83: 'EXT2',
  0x84: 'EXT4',
  0x7d: 'EMPTY_DICT',
  0x64: 'DICT',
  0x73: 'SETITEM',
  0x75: 'SETITEMS',
  0x8f: 'EMPTY_SET',
  0x90: 'ADDITEMS',
  0x91: 'FROZENSET',
  0x29: 'EMPTY_TUPLE',
  0x85: 'TUPLE1',
  0x87: 'TUPLE3',
  0x6c: 'LIST',
  0x4e: 'NONE',
  0x49: 'INT',
  0x4a: 'BININT',
  0x4b: 'BININT1',
  0x4d: 'BININT2',
  0x4c: 'LONG',
  0x8a: 'LONG1',
  0x8b: 'LONG4',
  0x46: 'FLOAT',
  0x47: 'BINFLOAT',
  0x53: 'STRING',
  0x56: 'UNICODE',
  0x8d: 'BINUNICODE8',
  0x96: 'BYTEARRAY8',
  0x97: 'NEXT_BUFFER',
  0x98: 'READONLY_BUFFER',
  0x70: 'PUT',
  0x67: 'GET',
  0x30: 'POP',
  0x31: 'POP_MARK',
  0x32: 'DUP',
};

const STRUCTURE = 'a tuple (list of image bytes, list of bools)';

/** Reads opcodes and their arguments from the buffer, failing cleanly on truncation. */
class Reader {
  offset = 0;
  constructor(
    private readonly data: Buffer,
    private readonly fail: Fail,
  ) {}

  get atEnd(): boolean {
    return this.offset >= this.data.length;
  }

  take(length: number, what: string): Buffer {
    if (length > this.data.length - this.offset) {
      return this.fail(`truncated: ${what} needs ${length} bytes, ${this.data.length - this.offset} left`, this.offset);
    }
    const out = this.data.subarray(this.offset, this.offset + length);
    this.offset += length;
    return out;
  }

  u8(what: string): number {
    return this.take(1, what)[0];
  }

  u32(what: string): number {
    return this.take(4, what).readUInt32LE(0);
  }

  i32(what: string): number {
    return this.take(4, what).readInt32LE(0);
  }

  /** An 8-byte length; anything past 2^53 cannot fit in the file anyway. */
  u64(what: string): number {
    const value = this.take(8, what).readBigUInt64LE(0);
    return value > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(value);
  }

  line(what: string): string {
    const end = this.data.indexOf(0x0a, this.offset);
    if (end < 0) return this.fail(`truncated: ${what} has no terminating newline`, this.offset);
    return this.take(end - this.offset + 1, what).subarray(0, -1).toString('latin1');
  }
}

/** A file-supplied name made safe for a one-line message: printable ASCII, at most 80 characters. */
function printable(text: string): string {
  const clean = text.replace(/[^\x20-\x7e]/g, '?');
  return clean.length > 80 ? `${clean.slice(0, 80)}...` : clean;
}

function latin1Bytes(text: string): Buffer | undefined {
  const out = Buffer.alloc(text.length);
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code > 0xff) return undefined;
    out[i] = code;
  }
  return out;
}

function describe(value: StackEntry): string {
  if (value === MARK) return 'a MARK';
  if (value.kind === 'list' || value.kind === 'tuple') return `a ${value.kind} of ${value.items.length}`;
  return value.kind === 'latin1Encoder' ? 'the _codecs.encode marker' : `a ${value.kind} value`;
}

/** Decodes the pickle in `data`; `file` only names the source in error messages. */
export function parseInsightfaceBin(data: Buffer | Uint8Array, file = '<bin>'): VerificationBin {
  const buffer = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  // Declared with its type so that TypeScript narrows after a call to it.
  const fail: Fail = (message, at) => {
    throw new BinFormatError(`${file}: ${message} at offset ${at}; expected a pickled ${STRUCTURE}`);
  };
  const reader = new Reader(buffer, fail);
  const stack: StackEntry[] = [];
  const memo = new Map<number, PickleValue>();

  const pop = (at: number, what: string): PickleValue => {
    const value = stack.pop();
    if (value === undefined || value === MARK) return fail(`${what} found ${value === MARK ? 'a MARK' : 'an empty stack'}`, at);
    return value;
  };
  const top = (at: number, what: string): PickleValue => {
    const value = stack[stack.length - 1];
    if (value === undefined || value === MARK) return fail(`${what} needs a value on the stack`, at);
    return value;
  };
  const popToMark = (at: number, what: string): PickleValue[] => {
    const markIndex = stack.lastIndexOf(MARK);
    if (markIndex < 0) fail(`${what} without a MARK`, at);
    const items = stack.splice(markIndex + 1) as PickleValue[];
    stack.pop();
    return items;
  };
  const listOnTop = (at: number, what: string): PickleValue[] => {
    const target = top(at, what);
    if (target.kind !== 'list') return fail(`${what} onto ${describe(target)}, not a list`, at);
    return target.items;
  };
  const remember = (index: number, at: number) => memo.set(index, top(at, 'memo put'));
  const recall = (index: number, at: number) => {
    const value = memo.get(index);
    if (value === undefined) return fail(`memo get of unset slot ${index}`, at);
    stack.push(value);
  };

  if (buffer.length < 2 || buffer[0] !== OP.PROTO) {
    fail('not a protocol 2+ pickle (no PROTO opcode; protocols 0 and 1 are not supported)', 0);
  }
  for (;;) {
    if (reader.atEnd) fail('truncated: no STOP opcode', reader.offset);
    const at = reader.offset;
    const op = reader.u8('opcode');
    switch (op) {
      case OP.PROTO: {
        const protocol = reader.u8('PROTO');
        if (at !== 0) fail('PROTO after the start', at);
        if (protocol < 2 || protocol > 5) fail(`unsupported pickle protocol ${protocol} (2 to 5 are)`, at);
        break;
      }
      case OP.FRAME: {
        // Framing only groups small opcodes for buffered reads; the frame's content follows inline.
        const length = reader.u64('FRAME');
        if (length > buffer.length - reader.offset) fail(`truncated: FRAME of ${length} bytes`, at);
        break;
      }
      case OP.MARK:
        stack.push(MARK);
        break;
      case OP.EMPTY_LIST:
        stack.push({ kind: 'list', items: [] });
        break;
      case OP.APPEND: {
        const value = pop(at, 'APPEND');
        listOnTop(at, 'APPEND').push(value);
        break;
      }
      case OP.APPENDS: {
        const values = popToMark(at, 'APPENDS');
        const list = listOnTop(at, 'APPENDS');
        // A loop, not push(...values): a hostile file can put millions of items after one MARK.
        for (const value of values) list.push(value);
        break;
      }
      case OP.TUPLE:
        stack.push({ kind: 'tuple', items: popToMark(at, 'TUPLE') });
        break;
      case OP.TUPLE2: {
        const second = pop(at, 'TUPLE2');
        const first = pop(at, 'TUPLE2');
        stack.push({ kind: 'tuple', items: [first, second] });
        break;
      }
      case OP.NEWTRUE:
      case OP.NEWFALSE:
        stack.push({ kind: 'bool', value: op === OP.NEWTRUE });
        break;
      case OP.SHORT_BINBYTES:
      case OP.SHORT_BINSTRING:
        stack.push({ kind: 'bytes', data: reader.take(reader.u8('length'), 'bytes') });
        break;
      case OP.BINBYTES:
        stack.push({ kind: 'bytes', data: reader.take(reader.u32('length'), 'bytes') });
        break;
      case OP.BINSTRING: {
        const length = reader.i32('length');
        if (length < 0) fail(`BINSTRING with negative length ${length}`, at);
        stack.push({ kind: 'bytes', data: reader.take(length, 'bytes') });
        break;
      }
      case OP.BINBYTES8:
        stack.push({ kind: 'bytes', data: reader.take(reader.u64('length'), 'bytes') });
        break;
      case OP.SHORT_BINUNICODE:
        stack.push({ kind: 'text', text: reader.take(reader.u8('length'), 'text').toString('utf8') });
        break;
      case OP.BINUNICODE:
        stack.push({ kind: 'text', text: reader.take(reader.u32('length'), 'text').toString('utf8') });
        break;
      case OP.BINPUT:
        remember(reader.u8('memo index'), at);
        break;
      case OP.LONG_BINPUT:
        remember(reader.u32('memo index'), at);
        break;
      case OP.MEMOIZE:
        remember(memo.size, at);
        break;
      case OP.BINGET:
        recall(reader.u8('memo index'), at);
        break;
      case OP.LONG_BINGET:
        recall(reader.u32('memo index'), at);
        break;
      case OP.GLOBAL: {
        const module = reader.line('GLOBAL module');
        const name = reader.line('GLOBAL name');
        if (module !== '_codecs' || name !== 'encode') {
          fail(`refusing GLOBAL ${printable(module)}.${printable(name)}: the file uses a construct this reader does not accept`, at);
        }
        stack.push({ kind: 'latin1Encoder' });
        break;
      }
      case OP.REDUCE: {
        const args = pop(at, 'REDUCE');
        const callee = pop(at, 'REDUCE');
        stack.push({ kind: 'bytes', data: decodeLatin1Idiom(callee, args, at, fail) });
        break;
      }
      case OP.STOP: {
        if (!reader.atEnd) fail(`${buffer.length - reader.offset} trailing bytes after STOP`, at);
        if (stack.length !== 1) fail(`STOP with ${stack.length} values on the stack`, at);
        return toVerificationBin(stack[0], (message) => fail(message, at));
      }
      default: {
        const name = REFUSED_NAMES[op] ?? 'unknown';
        fail(`unsupported pickle opcode 0x${op.toString(16).padStart(2, '0')} (${name})`, at);
      }
    }
  }
}

/** `_codecs.encode(text, 'latin1')`, Python 3's protocol-2 spelling of a bytes literal. */
function decodeLatin1Idiom(callee: PickleValue, args: PickleValue, at: number, fail: Fail): Buffer {
  if (callee.kind !== 'latin1Encoder') return fail(`REDUCE on ${describe(callee)} (only _codecs.encode is accepted)`, at);
  const [text, encoding] = args.kind === 'tuple' && args.items.length === 2 ? args.items : [];
  const isLatin1 = encoding?.kind === 'text' && (encoding.text === 'latin1' || encoding.text === 'latin-1');
  if (text?.kind !== 'text' || !isLatin1) return fail(`_codecs.encode called with ${describe(args)}, not (text, 'latin1')`, at);
  return latin1Bytes(text.text) ?? fail('_codecs.encode text has characters outside latin-1', at);
}

function toVerificationBin(root: StackEntry, fail: (message: string) => never): VerificationBin {
  if (root === MARK || root.kind !== 'tuple' || root.items.length !== 2) return fail(`top-level object is ${describe(root)}`);
  const [imageList, labelList] = root.items;
  if (imageList.kind !== 'list') return fail(`first element is ${describe(imageList)}, not a list of bytes`);
  if (labelList.kind !== 'list') return fail(`second element is ${describe(labelList)}, not a list of bools`);
  const images = imageList.items.map((item, i) =>
    item.kind === 'bytes' ? item.data : fail(`image ${i} is ${describe(item)}, not bytes`),
  );
  const issame = labelList.items.map((item, i) =>
    item.kind === 'bool' ? item.value : fail(`issame ${i} is ${describe(item)}, not a bool`),
  );
  if (issame.length === 0) fail('the file holds no pairs');
  if (images.length !== 2 * issame.length) {
    fail(`${images.length} images for ${issame.length} issame flags (expected 2 per pair)`);
  }
  return { images, issame };
}

export function readInsightfaceBin(file: string): VerificationBin {
  return parseInsightfaceBin(fs.readFileSync(file), file);
}
