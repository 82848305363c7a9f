/**
 * Deterministic randomness for the demo data generator: a small seeded PRNG (sfc32, 128 bits
 * of state, passes PractRand to 2^40+) and the helpers the generator draws with. Nothing here
 * reads Math.random or the clock, so the same seed always gives the same data.
 */

/** 32-bit FNV-1a of a string: turns names ("listings", "demo:1000") into seeds. */
export function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** A 32-bit integer mix (murmur3 finaliser): spreads nearby integers over the whole range. */
export function mix32(x: number): number {
  let h = x | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Hash of two 32-bit integers, e.g. (table tag, row index). */
export function hash2(a: number, b: number): number {
  return mix32(Math.imul(a ^ 0x9e3779b9, 0x27d4eb2d) ^ mix32(b + 0x165667b1));
}

export class Random {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  /** A generator seeded from any number of strings and integers. */
  constructor(...seed: (string | number)[]) {
    let h = 0x9e3779b9;
    for (const part of seed) h = hash2(h, typeof part === 'string' ? hashString(part) : part >>> 0);
    this.#a = h;
    this.#b = mix32(h + 1);
    this.#c = mix32(h + 2);
    this.#d = 1;
    for (let i = 0; i < 12; i++) this.next32();
  }

  /** The next 32 random bits as an unsigned integer. */
  next32(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return t >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    return this.next32() / 4294967296;
  }

  /** An integer in [min, max] (both inclusive). */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** One element of a non-empty array. */
  pick<T>(items: ArrayLike<T>): T {
    return items[Math.floor(this.next() * items.length)] as T;
  }

  /** An index drawn with the given (not necessarily normalised) weights. */
  weighted(weights: readonly number[]): number {
    let total = 0;
    for (const w of weights) total += w;
    let x = this.next() * total;
    for (let i = 0; i < weights.length; i++) {
      x -= weights[i] as number;
      if (x < 0) return i;
    }
    return weights.length - 1;
  }

  /** k distinct indexes of [0, n), in increasing order (k is capped at n). */
  sample(n: number, k: number): number[] {
    const chosen = new Set<number>();
    const want = Math.min(k, n);
    if (want > n / 2) {
      // Dense: shuffle a prefix instead of rejecting.
      const all = Array.from({ length: n }, (_, i) => i);
      for (let i = 0; i < want; i++) {
        const j = this.int(i, n - 1);
        [all[i], all[j]] = [all[j] as number, all[i] as number];
      }
      return all.slice(0, want).sort((x, y) => x - y);
    }
    while (chosen.size < want) chosen.add(Math.floor(this.next() * n));
    return [...chosen].sort((x, y) => x - y);
  }

  /** A normally distributed number (Box–Muller). */
  normal(mean = 0, sd = 1): number {
    const u = 1 - this.next();
    const v = this.next();
    return mean + sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
}

/**
 * Cumulative weights for drawing many times from one distribution in O(log n) per draw
 * (e.g. a city by population, a provider by popularity).
 */
export class WeightedIndex {
  readonly #cumulative: Float64Array;

  constructor(weights: ArrayLike<number>) {
    this.#cumulative = new Float64Array(weights.length);
    let total = 0;
    for (let i = 0; i < weights.length; i++) {
      total += weights[i] as number;
      this.#cumulative[i] = total;
    }
  }

  draw(random: Random): number {
    const c = this.#cumulative;
    const x = random.next() * (c[c.length - 1] as number);
    let lo = 0;
    let hi = c.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((c[mid] as number) > x) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}
