import { z } from 'zod';
import { loadConfig } from '../../config.js';
import { deliverOnce } from '../../webhooks/deliver.js';
import { defineTask } from '../task.js';

/**
 * One attempt of one outbound webhook delivery (docs/webhooks.md). Enqueued by app.emit_event
 * in the transaction of the change, and by the attempt before it when that failed: the retry
 * schedule is ours (LOCONOMY_WEBHOOKS_RETRY_*), not graphile-worker's, whose own retries only
 * cover a task that could not record its attempt (database trouble). Settings are read from
 * the environment at each run, as every process reads them.
 */
export const deliverWebhook = defineTask({
  name: 'webhooks.deliver',
  payload: z.object({ delivery_id: z.uuid() }).passthrough(),
  run: async ({ delivery_id }, { db }) => deliverOnce(db, delivery_id, loadConfig(process.env).webhooks),
});
