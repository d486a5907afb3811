/**
 * Netpbm (PGM/PPM) decoding. sharp's prebuilt libvips has no PPM loader, yet the ORL face set
 * ships as binary PGM, so the few lines of this simple format are read here.
 * Supported: P2/P5 (grey) and P3/P6 (colour), maxval up to 65535 (16-bit is big-endian).
 */

export interface NetpbmRaster {
  width: number;
  height: number;
  /** 1 (grey) or 3 (RGB). */
  channels: 1 | 3;
  maxval: number;
  /** Samples scaled to 0..255, rounded; `channels` per pixel, row-major. */
  samples: Uint8Array;
}

const MAGICS: Record<string, { channels: 1 | 3; binary: boolean }> = {
  P2: { channels: 1, binary: false },
  P3: { channels: 3, binary: false },
  P5: { channels: 1, binary: true },
  P6: { channels: 3, binary: true },
};

/** True when the bytes start like a netpbm file that this module can decode. */
export function isNetpbm(bytes: Uint8Array): boolean {
  if (bytes.length < 3 || bytes[0] !== 0x50 /* 'P' */) return false;
  return `P${String.fromCharCode(bytes[1])}` in MAGICS && isSpace(bytes[2]);
}

function isSpace(byte: number): boolean {
  return byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d || byte === 0x0b || byte === 0x0c;
}

/** Reads whitespace-separated ASCII integers, skipping '#' comments, from `pos` on. */
class TokenReader {
  constructor(
    private readonly bytes: Uint8Array,
    public pos: number,
  ) {}

  nextInt(what: string): number {
    this.skipSpaceAndComments();
    const start = this.pos;
    while (this.pos < this.bytes.length && this.bytes[this.pos] >= 0x30 && this.bytes[this.pos] <= 0x39) this.pos++;
    if (this.pos === start) throw new Error(`truncated or malformed netpbm: expected ${what}`);
    return Number(Buffer.from(this.bytes.subarray(start, this.pos)).toString('ascii'));
  }

  private skipSpaceAndComments(): void {
    while (this.pos < this.bytes.length) {
      const byte = this.bytes[this.pos];
      if (byte === 0x23 /* '#' */) {
        while (this.pos < this.bytes.length && this.bytes[this.pos] !== 0x0a && this.bytes[this.pos] !== 0x0d) this.pos++;
      } else if (isSpace(byte)) {
        this.pos++;
      } else {
        return;
      }
    }
  }
}

/** Decodes a P2/P3/P5/P6 file. Throws a plain Error (the caller adds the file name). */
export function decodeNetpbm(bytes: Uint8Array): NetpbmRaster {
  if (!isNetpbm(bytes)) throw new Error('not a P2/P3/P5/P6 netpbm file');
  const { channels, binary } = MAGICS[`P${String.fromCharCode(bytes[1])}`];
  const reader = new TokenReader(bytes, 2);
  const width = reader.nextInt('width');
  const height = reader.nextInt('height');
  const maxval = reader.nextInt('maxval');
  if (width < 1 || height < 1) throw new Error(`netpbm size ${width}x${height} is empty`);
  if (maxval < 1 || maxval > 65535) throw new Error(`netpbm maxval ${maxval} is outside 1..65535`);
  const count = width * height * channels;
  const samples = new Uint8Array(count);
  const scale = 255 / maxval;
  if (binary) {
    const bytesPerSample = maxval < 256 ? 1 : 2;
    const start = reader.pos + 1; // exactly one whitespace byte separates maxval from the raster
    const needed = count * bytesPerSample;
    if (bytes.length < start + needed) {
      throw new Error(`truncated netpbm: ${bytes.length - start} of ${needed} raster bytes present`);
    }
    for (let i = 0; i < count; i++) {
      const at = start + i * bytesPerSample;
      const value = bytesPerSample === 1 ? bytes[at] : (bytes[at] << 8) | bytes[at + 1];
      samples[i] = Math.round(Math.min(value, maxval) * scale);
    }
  } else {
    for (let i = 0; i < count; i++) samples[i] = Math.round(Math.min(reader.nextInt(`sample ${i + 1} of ${count}`), maxval) * scale);
  }
  return { width, height, channels, maxval, samples };
}
