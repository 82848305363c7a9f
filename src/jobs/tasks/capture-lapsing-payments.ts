import { z } from 'zod';
import { enqueueLapsingCaptures } from '../../integrations/stripe/lapsing.js';
import { defineTask } from '../task.js';

/** Stripe authorisations past capture_before get their capture job (decision 0023); no Stripe call here. */
export const captureLapsingPayments = defineTask({
  name: 'stripe.capture_lapsing',
  payload: z.object({ max_rows: z.number().int().positive().max(10_000).default(1000) }).passthrough(),
  run: async ({ max_rows }, { db }) => ({ enqueued: await enqueueLapsingCaptures(db, max_rows) }),
});
