import { z } from 'zod';
import { loadConfig } from '../../config.js';
import { pushUserToClerk } from '../../integrations/clerk/push.js';
import { defineTask } from '../task.js';

/**
 * A user's role, status and verification pushed to their Clerk public_metadata (decision 0021).
 * Enqueued by the users_clerk_push trigger (migration 0039) in the transaction of the change,
 * one waiting job per user (job_key), in one of eight serial queues so one user's pushes never
 * overlap. A failure throws, and graphile-worker retries with its back-off. Settings are read
 * from the environment at each run, as every process reads them.
 */
export const pushClerkUser = defineTask({
  name: 'clerk.push_user',
  payload: z.object({ user_id: z.uuid() }).passthrough(),
  run: async ({ user_id }, { db }) => pushUserToClerk(db, user_id, loadConfig(process.env).clerk),
});
