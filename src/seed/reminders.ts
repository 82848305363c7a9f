import { type Bookings, CONFIRMED, PATHS } from './bookings.js';
import type { Context } from './context.js';
import { HOUR, iso, MINUTE } from './time.js';

/**
 * Booking reminders, as send_booking_reminders() (0018) leaves them when a scheduler calls it
 * every minute with its default of 24 hours: once per booking, at the first run after the
 * booking was confirmed and less than 24 hours from its start, if it was still confirmed and
 * had not started; one app.booking_reminders row (so the real job never reminds it again) and
 * a booking_reminder notification to each party (src/seed/notifications.ts). Only runs before
 * the demo's "now" happened: bookings that come within 24 hours later are the job's to remind.
 */

/** send_booking_reminders' default hours_before. */
export const REMINDER_HOURS = 24;

export interface Reminders {
  readonly count: number;
  readonly booking: Int32Array;
  readonly sentAt: Float64Array;
}

export function generateReminders(ctx: Context, bookings: Bookings): Reminders {
  const random = ctx.random('reminders');
  const latest = ctx.anchor - MINUTE;
  const booking: number[] = [];
  const sentAt: number[] = [];
  for (let b = 0; b < bookings.count; b++) {
    const path = PATHS[bookings.path[b] as number] as readonly number[];
    const j = path.indexOf(CONFIRMED);
    if (j < 0) continue;
    const confirmed = j === 0 ? (bookings.createdAt[b] as number) : (bookings.times[b * 4 + j - 1] as number);
    const left = j + 1 < path.length ? (bookings.times[b * 4 + j] as number) : Number.POSITIVE_INFINITY;
    const startsAt = bookings.startsAt[b] as number;
    // The first run (on the minute, taking a few seconds) once the start is within reach.
    const due = Math.max(startsAt - REMINDER_HOURS * HOUR, confirmed);
    const at = Math.floor(due / MINUTE) * MINUTE + MINUTE + random.int(1, 20) * 1000;
    if (at >= left || at >= startsAt || at > latest) continue;
    booking.push(b);
    sentAt.push(at);
  }
  return { count: booking.length, booking: Int32Array.from(booking), sentAt: Float64Array.from(sentAt) };
}

export const REMINDER_COLUMNS = ['booking_id', 'sent_at'] as const;

export function* reminderRows(bookings: Bookings, reminders: Reminders): Generator<string> {
  for (let r = 0; r < reminders.count; r++) {
    yield `${bookings.id(reminders.booking[r] as number)}\t${iso(reminders.sentAt[r] as number)}\n`;
  }
}
