import type { Bookings } from './bookings.js';
import type { Context } from './context.js';
import { NULL } from './copy.js';
import type { People } from './people.js';

/**
 * The create_booking() requests behind the bookings: apps send an idempotency key (a fresh
 * UUID per booking attempt, decision 0012), so most bookings have their
 * app.booking_idempotency_keys row — the customer, the key, the md5 of the request's arguments
 * and the booking — and a retry of that request returns the booking, as for a real one. The
 * rest came from clients that send none. The key and the address the customer chose are
 * generated here; the fingerprint is computed in SQL (src/seed/demo.ts) exactly as
 * create_booking computes it, from the booking as it was requested (its start before any
 * reschedule, its duration, special requests, address, use_credit left at its default).
 */

/** The share of bookings whose request carried an idempotency key. */
const WITH_KEY = 0.85;

export const REQUEST_COLUMNS = ['booking_id', 'idempotency_key', 'address_id'] as const;

const HEX = '0123456789abcdef';

/** A version-4 UUID, as crypto.randomUUID() gives a client, from the stream's bits. */
function uuid4(words: readonly number[]): string {
  let hex = '';
  for (const w of words) hex += (w >>> 0).toString(16).padStart(8, '0');
  const variant = HEX[8 + (Number.parseInt(hex[16] as string, 16) & 3)] as string;
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

export function* requestRows(ctx: Context, people: People, bookings: Bookings): Generator<string> {
  const random = ctx.random('idempotency-keys');
  for (let b = 0; b < bookings.count; b++) {
    const key = uuid4([random.next32(), random.next32(), random.next32(), random.next32()]);
    if (!random.chance(WITH_KEY)) continue;
    const a = bookings.address[b] as number;
    yield `${bookings.id(b)}\t${key}\t${a >= 0 ? people.addresses.id(a) : NULL}\n`;
  }
}
