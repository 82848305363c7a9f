import { z } from 'zod';
import { sql } from '../../db/sql.js';
import { defineTask } from '../task.js';
import { asScheduler } from './scheduler.js';

/** Both parties of each confirmed booking starting within `hours_before` hours are reminded, once. */
export const sendBookingReminders = defineTask({
  name: 'bookings.send_reminders',
  payload: z.object({ hours_before: z.number().int().min(1).max(168).default(24) }).passthrough(),
  run: async ({ hours_before }, { db }) => ({
    reminded: await asScheduler<number>(db, sql`select public.send_booking_reminders(${hours_before}) as result`),
  }),
});
