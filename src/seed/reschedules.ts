import { BOOKING_STATUSES, type Bookings, bookingWhen, CONFIRMED, finalStatus, PATHS, PENDING } from './bookings.js';
import type { Context } from './context.js';
import { displayName, type People, workdays } from './people.js';
import { DAY, HOUR, iso, isoWeekday, localToUtc, MINUTE } from './time.js';

/**
 * Bookings that were moved with reschedule_booking (0021) while pending or confirmed, and what
 * that left behind: the booking at its new time with `metadata.rescheduled_from` (the old
 * start) and `rescheduled_by`, `expires_at` cleared when it was moved while confirmed, the
 * "Moved to …" line app.bookings_notify posts and its booking_rescheduled notification for
 * the other party (src/seed/notifications.ts). The generated start is the new one; the old
 * one is the same wall-clock time on another of the provider's workdays that holds none of
 * their bookings or overrides. Each move happens more than a day before both starts (people
 * move appointments days ahead), so it precedes every reminder (src/seed/reminders.ts) and
 * passes create_booking's notice checks.
 */

/** The share of bookings that were rescheduled once. */
const RESCHEDULED = 0.04;

export interface Reschedules {
  readonly count: number;
  /** Booking of each reschedule, increasing. */
  readonly booking: Int32Array;
  readonly at: Float64Array;
  /** The start before the move, in UTC and on the provider's wall clock (ms since 1970-01-01 local). */
  readonly fromStart: Float64Array;
  readonly fromLocal: Float64Array;
  /** 1 when the provider moved it, else the customer. */
  readonly byProvider: Uint8Array;
  /** The booking's status when it moved (pending or confirmed). */
  readonly status: Uint8Array;
  /** Reschedule index of each booking, or -1. */
  readonly of: Int32Array;
}

export function generateReschedules(ctx: Context, people: People, bookings: Bookings): Reschedules {
  const random = ctx.random('reschedules');
  const latest = ctx.anchor - MINUTE;
  // Days (per provider) that hold a booking or an override: an old start never lands on one.
  const busy = new Set<number>();
  const key = (k: number, day: number) => k * 1_000_000 + day;
  for (let b = 0; b < bookings.count; b++) {
    busy.add(key(bookings.provider[b] as number, Math.floor((bookings.localStart[b] as number) / DAY)));
  }
  const { overrides } = bookings;
  for (let o = 0; o < overrides.count; o++) busy.add(key(overrides.provider[o] as number, overrides.day[o] as number));

  const of = new Int32Array(bookings.count).fill(-1);
  const cols = { booking: [] as number[], at: [] as number[], from: [] as number[], fromLocal: [] as number[] };
  const byProvider: number[] = [];
  const status: number[] = [];
  let showcase = false;
  for (let b = 0; b < bookings.count; b++) {
    const k = bookings.provider[b] as number;
    // demo_user_000001's upcoming confirmed booking is always one, moved by demo_user_000002.
    const forced =
      !showcase &&
      k === 0 &&
      bookings.customer[b] === 0 &&
      finalStatus(bookings, b) === CONFIRMED &&
      (bookings.startsAt[b] as number) > ctx.anchor;
    if (!forced && !random.chance(RESCHEDULED)) continue;
    const path = PATHS[bookings.path[b] as number] as readonly number[];
    const startsAt = bookings.startsAt[b] as number;
    const created = bookings.createdAt[b] as number;
    const u = people.providers[k] as number;
    const zone = (ctx.ref.cities[people.city[u] as number] as (typeof ctx.ref.cities)[number]).timeZone;
    const localDay = Math.floor((bookings.localStart[b] as number) / DAY);
    const minute = Math.round(((bookings.localStart[b] as number) - localDay * DAY) / MINUTE);
    const days = workdays(people, k);
    // In the last stretch the booking spent pending or confirmed (the showcase tries harder).
    for (let attempt = 0; attempt < (forced ? 24 : 4); attempt++) {
      let j = path.length - 1;
      while (j >= 0 && path[j] !== PENDING && path[j] !== CONFIRMED) j--;
      if (forced && attempt >= 12) j--;
      if (j < 0 || (path[j] !== PENDING && path[j] !== CONFIRMED)) break;
      const enter = j === 0 ? created : (bookings.times[b * 4 + j - 1] as number);
      const leave = j + 1 < path.length ? (bookings.times[b * 4 + j] as number) : latest;
      let delta = random.int(-5, 6);
      if (delta === 0) delta = 7;
      const day = localDay + delta;
      if (!days.includes(isoWeekday(day)) || busy.has(key(k, day))) continue;
      const from = localToUtc(zone, day, minute);
      // Booked with a day's notice at least; moved more than a day before both starts.
      if (from < created + DAY) continue;
      const lo = enter + 5 * MINUTE;
      const hi = Math.min(leave - MINUTE, startsAt - 25 * HOUR, from - 25 * HOUR);
      if (hi <= lo) continue;
      const at = Math.round((lo + random.next() * (hi - lo)) / 1000) * 1000;
      busy.add(key(k, day));
      of[b] = cols.booking.length;
      cols.booking.push(b);
      cols.at.push(at);
      cols.from.push(from);
      cols.fromLocal.push(day * DAY + minute * MINUTE);
      byProvider.push(forced ? 0 : random.chance(0.4) ? 1 : 0);
      status.push(path[j] as number);
      // reschedule_booking clears expires_at when it moves a confirmed booking.
      if (path[j] === CONFIRMED) bookings.expiresAt[b] = Number.NaN;
      if (forced) showcase = true;
      break;
    }
  }
  return {
    count: cols.booking.length,
    booking: Int32Array.from(cols.booking),
    at: Float64Array.from(cols.at),
    fromStart: Float64Array.from(cols.from),
    fromLocal: Float64Array.from(cols.fromLocal),
    byProvider: Uint8Array.from(byProvider),
    status: Uint8Array.from(status),
    of,
  };
}

/** Who moved reschedule r (a user index). */
export function reschedulerOf(people: People, bookings: Bookings, reschedules: Reschedules, r: number): number {
  const b = reschedules.booking[r] as number;
  return reschedules.byProvider[r]
    ? (people.providers[bookings.provider[b] as number] as number)
    : (people.customers[bookings.customer[b] as number] as number);
}

/** An instant as to_jsonb(timestamptz) renders it in a UTC session: `2026-03-18T15:30:00+00:00`. */
function jsonInstant(value: number): string {
  return `${iso(value).slice(0, 19)}+00:00`;
}

/** bookings.metadata of booking b: what reschedule_booking merged in, or `{}`. */
export function bookingMetadata(people: People, bookings: Bookings, reschedules: Reschedules, b: number): string {
  const r = reschedules.of[b] as number;
  if (r < 0) return '{}';
  return `{"rescheduled_from":"${jsonInstant(reschedules.fromStart[r] as number)}","rescheduled_by":"${people.id(
    reschedulerOf(people, bookings, reschedules, r),
  )}"}`;
}

/** The line app.bookings_notify posts when reschedule r moves its booking, with its metadata. */
export function rescheduleLine(
  ctx: Context,
  people: People,
  bookings: Bookings,
  reschedules: Reschedules,
  r: number,
): [content: string, metadata: string] {
  const b = reschedules.booking[r] as number;
  const pu = people.providers[bookings.provider[b] as number] as number;
  const zone = (ctx.ref.cities[people.city[pu] as number] as (typeof ctx.ref.cities)[number]).timeZone;
  const status = BOOKING_STATUSES[reschedules.status[r] as number];
  return [
    `Moved to ${bookingWhen(bookings, b, zone)} by ${displayName(people, reschedulerOf(people, bookings, reschedules, r))}`,
    `{"event":"booking_rescheduled","booking_id":"${bookings.id(b)}","status":"${status}","from_status":"${status}"}`,
  ];
}

export const RESCHEDULE_COLUMNS = ['booking_id', 'at', 'from_starts_at', 'by', 'status'] as const;

/** The reschedules, for a temporary table the notifications are computed from. */
export function* rescheduleRows(people: People, bookings: Bookings, reschedules: Reschedules): Generator<string> {
  for (let r = 0; r < reschedules.count; r++) {
    const b = reschedules.booking[r] as number;
    yield `${bookings.id(b)}\t${iso(reschedules.at[r] as number)}\t${iso(reschedules.fromStart[r] as number)}\t${people.id(
      reschedulerOf(people, bookings, reschedules, r),
    )}\t${BOOKING_STATUSES[reschedules.status[r] as number]}\n`;
  }
}

/** When the booking was last touched: its last move, or its reschedule if that came later. */
export function lastTouchedAt(reschedules: Reschedules, b: number, lastMove: number): number {
  const r = reschedules.of[b] as number;
  return r < 0 ? lastMove : Math.max(lastMove, reschedules.at[r] as number);
}
