import { z } from 'zod';
import { sql } from '../../db/sql.js';
import { defineTask } from '../task.js';
import { asScheduler } from './scheduler.js';

/** Reviews whose double-blind window has closed are published. */
export const publishDueReviews = defineTask({
  name: 'reviews.publish_due',
  payload: z.object({}).passthrough(),
  run: async (_payload, { db }) => ({
    published: await asScheduler<number>(db, sql`select public.publish_due_reviews() as result`),
  }),
});
