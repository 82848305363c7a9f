import { hash2, hashString, mix32 } from './random.js';

/**
 * Deterministic identifiers for the demo data: the same row of the same demo set always gets
 * the same uuid, confirmation code or Stripe id, and ids never collide within a table.
 *
 * Demo uuids are RFC 9562 version 8 ("custom") uuids laid out as
 *   tttttttt-iiii-8iii-Vhhh-hhhhhhhhhhhh
 * t = a 32-bit tag of the table, i = the row's index (28 bits), V = the variant nibble and
 * h = hash bits of (tag, index). Within a table they increase with the row index, so bulk
 * loading appends to the primary-key B-tree instead of splitting pages all over it.
 */

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

function hex32(x: number): string {
  return (
    (HEX[(x >>> 24) & 0xff] as string) +
    (HEX[(x >>> 16) & 0xff] as string) +
    (HEX[(x >>> 8) & 0xff] as string) +
    (HEX[x & 0xff] as string)
  );
}

export const MAX_ROWS_PER_TABLE = 2 ** 28;

/** The uuid factory of one table. */
export function uuidFactory(table: string): (index: number) => string {
  const tag = hashString(`loconomy-demo:${table}`);
  const prefix = `${hex32(tag)}-`;
  return (index: number) => {
    if (index < 0 || index >= MAX_ROWS_PER_TABLE) throw new RangeError(`demo row index out of range: ${index}`);
    const h1 = hash2(tag, index);
    const h2 = mix32(h1 ^ 0x5bd1e995);
    const h3 = mix32(h2 + index);
    const hi = index >>> 12; // 16 bits
    const lo = index & 0xfff; // 12 bits
    const variant = 0x8000 | (h1 & 0x3fff);
    return (
      prefix +
      hi.toString(16).padStart(4, '0') +
      '-8' +
      lo.toString(16).padStart(3, '0') +
      '-' +
      variant.toString(16) +
      '-' +
      hex32(h2) +
      hex32(h3).slice(0, 4)
    );
  };
}

/** The unambiguous alphabet of app.random_code (no 0/O, 1/I/L). */
export const CODE_ALPHABET = '23456789ABCDEFGHJKMNPQRSTUVWXYZ';

/**
 * A bijection of [0, m²) (a four-round Feistel network on base-m halves): distinct indexes
 * give distinct, random-looking codes.
 */
function permute(index: number, m: number, key: number): number {
  let left = Math.floor(index / m);
  let right = index % m;
  for (let round = 0; round < 4; round++) {
    const next = (left + (hash2(key + round, right) % m)) % m;
    left = right;
    right = next;
  }
  return left * m + right;
}

function encode(value: number, length: number): string {
  let out = '';
  let v = value;
  for (let i = 0; i < length; i++) {
    out = CODE_ALPHABET[v % 31] + out;
    v = Math.floor(v / 31);
  }
  return out;
}

const M5 = 31 ** 5;
const M4 = 31 ** 4;

/** `LC-` and ten code characters, the shape bookings_before_insert gives a booking. */
export function confirmationCode(index: number): string {
  return `LC-${encode(permute(index, M5, 0x1c0de), 10)}`;
}

/** Eight code characters, the shape referral_codes_before_insert generates. */
export function referralCode(index: number): string {
  return encode(permute(index, M4, 0x2ef), 8);
}

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** A Stripe-looking id (`pi_…`, `cus_…`) that is unique per prefix and index. */
export function stripeId(prefix: string, index: number): string {
  let unique = '';
  let v = index;
  do {
    unique = BASE62[v % 62] + unique;
    v = Math.floor(v / 62);
  } while (v > 0);
  let filler = '';
  let h = hash2(hashString(prefix), index);
  for (let i = 0; i < 14; i++) {
    filler += BASE62[h % 62];
    h = mix32(h + i);
  }
  return `${prefix}_Demo${filler}${unique.padStart(5, '0')}`;
}
