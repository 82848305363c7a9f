import { z } from 'zod';
import { sql } from '../../db/sql.js';
import { defineTask } from '../task.js';
import { asScheduler } from './scheduler.js';

/** Credit past its date lapses and referral rewards past theirs are marked expired. */
export const expireReferralRewards = defineTask({
  name: 'referrals.expire_rewards',
  payload: z.object({}).passthrough(),
  run: async (_payload, { db }) =>
    asScheduler<Record<string, number>>(db, sql`select public.expire_referral_rewards() as result`),
});
