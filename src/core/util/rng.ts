/**
 * Seeded random numbers. Every random choice in the project (init, shuffling, augmentation,
 * dropout, pair sampling) draws from an Rng derived from the config's seed and a stream name,
 * so that adding a layer or a data step does not shift the numbers any other consumer sees.
 */

// Local bindings: under Jest's sandbox every global lookup (imul...) is ~10x slower, and
// seeded init draws tens of millions of numbers.
const { imul, sqrt, log, sin, cos, floor, PI } = Math;

/** 32-bit FNV-1a over the UTF-8 bytes of `s`, mixed with a seed. */
function hashString(s: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (const byte of Buffer.from(s, 'utf8')) {
    h ^= byte;
    h = imul(h, 0x01000193) >>> 0;
  }
  return h;
}

function splitmix32(state: number): () => number {
  let s = state >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/** xoshiro128**: small state, fast, good statistical quality for this purpose. */
export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  private spareNormal: number | undefined;

  constructor(seed: number, stream = '') {
    const next = splitmix32(hashString(stream, seed >>> 0) ^ imul(seed >>> 0, 0x9e3779b1));
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
  }

  /** Uniform 32-bit unsigned integer. */
  nextU32(): number {
    const result = imul(rotl(imul(this.s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    this.s0 >>>= 0;
    this.s1 >>>= 0;
    this.s2 >>>= 0;
    return result;
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    return this.nextU32() / 4294967296;
  }

  /** Uniform in [lo, hi). */
  range(lo: number, hi: number): number {
    return lo + (hi - lo) * this.uniform();
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return floor(this.uniform() * n);
  }

  /** Standard normal (Box-Muller, the spare value kept). */
  normal(): number {
    if (this.spareNormal !== undefined) {
      const v = this.spareNormal;
      this.spareNormal = undefined;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = sqrt(-2 * log(u));
    this.spareNormal = r * sin(2 * PI * v);
    return r * cos(2 * PI * v);
  }

  /** Fisher-Yates shuffle of a copy. */
  shuffled<T>(items: readonly T[]): T[] {
    const out = items.slice();
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [out[i], out[j]] = [out[j], out[i]];
    }
    return out;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
