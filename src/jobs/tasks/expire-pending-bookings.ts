import { z } from 'zod';
import { sql } from '../../db/sql.js';
import { defineTask } from '../task.js';
import { asScheduler } from './scheduler.js';

/** Pending booking requests past expires_at become expired (slots freed, credit returned). */
export const expirePendingBookings = defineTask({
  name: 'bookings.expire_pending',
  payload: z.object({}).passthrough(),
  run: async (_payload, { db }) => ({
    expired: await asScheduler<number>(db, sql`select public.expire_pending_bookings() as result`),
  }),
});
