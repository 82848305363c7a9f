import { z } from 'zod';
import { sql } from '../../db/sql.js';
import { defineTask } from '../task.js';
import { asScheduler } from './scheduler.js';

/**
 * Webhook deliveries left pending or failed without a job (an operator deleted jobs) get one
 * again (app.requeue_orphaned_webhook_deliveries, migration 0039), up to max_rows per run.
 */
export const sweepWebhookDeliveries = defineTask({
  name: 'webhooks.sweep',
  payload: z.object({ max_rows: z.number().int().min(1).max(100_000).default(1000) }).passthrough(),
  run: async ({ max_rows }, { db }) => ({
    requeued: await asScheduler<number>(db, sql`select app.requeue_orphaned_webhook_deliveries(${max_rows}) as result`),
  }),
});
