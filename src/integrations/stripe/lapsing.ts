import type { Database } from '../../db/database.js';
import { sql } from '../../db/sql.js';

/**
 * Enqueues stripe.capture_payment for every Stripe payment still `authorised` whose
 * `capture_before` has passed (decision 0023: an authorisation about to lapse is captured then and
 * the money waits on the platform; completion then moves nothing, a cancellation refunds). The job
 * is the one a completion would enqueue — same key `stripe:capture:<payment>`, same queue as the
 * PaymentIntent's events, the whole authorised amount and fee — added in `unsafe_dedupe` mode so a
 * capture already queued (say a cancellation's kept part) is left as it is rather than replaced.
 * Idempotent: a run that finds the job queued adds nothing, and a captured payment is no longer due.
 *
 * Runs as the database owner: graphile_worker's functions are not granted to any API role. The
 * statement is fixed; `maxRows` bounds one run (the rest are due at the next).
 */
export async function enqueueLapsingCaptures(db: Database, maxRows: number): Promise<number> {
  const { rows } = await db.query<{ n: number }>(sql`
    with due as (
      select p.id, p.authorised_cents, p.application_fee_cents, p.stripe_payment_intent_id
        from public.payments p
       where p.status = 'authorised' and p.method::text = 'stripe'
         and p.capture_before <= now() and p.stripe_payment_intent_id is not null
       order by p.capture_before
       limit ${maxRows}
    )
    select count(graphile_worker.add_job('stripe.capture_payment',
             json_build_object('payment_id', due.id, 'amount_cents', due.authorised_cents,
                               'application_fee_cents', due.application_fee_cents),
             queue_name => 'stripe:' || (hashtext(due.stripe_payment_intent_id) & 15),
             max_attempts => 25, job_key => 'stripe:capture:' || due.id,
             job_key_mode => 'unsafe_dedupe'))::int as n
      from due`);
  return rows[0]?.n ?? 0;
}
