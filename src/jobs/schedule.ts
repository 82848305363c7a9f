import type { CronItem } from 'graphile-worker';

/**
 * The schedule, in one place (STYLE.md 15). graphile-worker's cron fires each item once per
 * matching minute across every worker process on the database (it records the last run in
 * graphile_worker._private_known_crontabs and adds the job with a job key), and a worker that
 * was down catches up on runs missed within `backfillPeriod`. Every task here is idempotent and
 * works on "whatever is due now", so a late or doubled run does no harm. Times are UTC.
 */
export const SCHEDULE: readonly CronItem[] = [
  // Unanswered requests expire at expires_at; a minute late at most.
  { task: 'bookings.expire_pending', match: '* * * * *', identifier: 'bookings.expire_pending' },
  // Reminders go out 24 hours ahead (once per booking, however often this runs).
  {
    task: 'bookings.send_reminders',
    match: '*/5 * * * *',
    identifier: 'bookings.send_reminders',
    payload: { hours_before: 24 },
  },
  // Double-blind review windows close at publish_due_at.
  { task: 'reviews.publish_due', match: '*/5 * * * *', identifier: 'reviews.publish_due' },
  // Credit and referral rewards expire by the day; hourly is ample.
  { task: 'referrals.expire_rewards', match: '7 * * * *', identifier: 'referrals.expire_rewards' },
  { task: 'api_keys.expire', match: '17 * * * *', identifier: 'api_keys.expire', payload: { notice_days: 7 } },
  // Webhook deliveries whose job was deleted get one again (decision 0022).
  {
    task: 'webhooks.sweep',
    match: '*/10 * * * *',
    identifier: 'webhooks.sweep',
    payload: { max_rows: 1000 },
  },
  // Stripe authorisations last 7 days; those past capture_before (6 days) are captured then (decision 0023).
  {
    task: 'stripe.capture_lapsing',
    match: '37 * * * *',
    identifier: 'stripe.capture_lapsing',
    payload: { max_rows: 1000 },
  },
  // Billable usage of Stripe subscribers to Stripe Billing Meters (decision 0023, slice 6).
  {
    task: 'stripe.report_usage',
    match: '*/5 * * * *',
    identifier: 'stripe.report_usage',
    payload: { max_rows: 1000 },
  },
  // Storage bytes left by interrupted uploads and removals (decision 0026).
  { task: 'storage.sweep', match: '47 * * * *', identifier: 'storage.sweep' },
  // Retention (decision 0006): daily at 03:27, with a day of catch-up after downtime.
  {
    task: 'retention.purge',
    match: '27 3 * * *',
    identifier: 'retention.purge',
    options: { backfillPeriod: 24 * 3600 * 1000 },
  },
];
