import type Stripe from 'stripe';
import { sql } from '../../../db/sql.js';
import { applyDispute } from '../events/dispute.js';
import { type CheckContext, type Finding, jobQueued } from './index.js';

/*
 * Disputes: each dispute Loconomy mirrors that is still open (or changed since `since`) against
 * Stripe's, and the disputes Stripe has on the charges of Loconomy's payments (captured or
 * changed since `since`) that Loconomy never mirrored. Stripe further along (a status of a later
 * rank, the amount it now holds) is applied through app.stripe_apply_dispute, which acts as the
 * event would have (the booking disputed, a won booking back, a lost one's reversal job);
 * Loconomy ahead of Stripe, or a closed dispute that closed otherwise, is a person's call. A lost
 * dispute whose loss is still unbooked and whose reversal job is gone is a person's call too.
 */

interface LocalDispute {
  readonly id: string;
  readonly payment_id: string;
  readonly stripe_dispute_id: string;
  readonly status: string;
  readonly amount_cents: number;
  readonly reversal_status: string | null;
}

interface LocalCharge {
  readonly id: string;
  readonly stripe_charge_id: string;
  /** The disputes mirrored for this payment. */
  readonly disputes: string[];
}

/** app.stripe_dispute_rank: how far a status is along a dispute's life. */
const RANK: Record<string, number> = {
  warning_needs_response: 1,
  warning_under_review: 2,
  needs_response: 3,
  under_review: 4,
  won: 5,
  lost: 5,
  warning_closed: 5,
  prevented: 5,
  appeal_needs_response: 6,
  appeal_under_review: 6,
};
const CLOSED = 5;

/** Whether app.stripe_apply_dispute takes Stripe's status over ours (never backwards, nor from one closure to another). */
function applies(ours: string, theirs: string): boolean {
  const [a, b] = [RANK[ours] ?? 0, RANK[theirs] ?? 0];
  return b > a || (b === a && (a !== CLOSED || ours === theirs));
}

export async function* checkDisputes(ctx: CheckContext): AsyncIterable<Finding> {
  const { rows } = await ctx.db.query<LocalDispute>(sql`
    select d.id, d.payment_id, d.stripe_dispute_id, d.status, d.amount_cents::int as amount_cents, d.reversal_status
      from public.payment_disputes d
     where d.closed_at is null or d.reversal_status = 'pending' or d.updated_at >= ${ctx.since.toISOString()}::timestamptz
     order by d.created_at`);
  for (const local of rows) {
    ctx.count('dispute');
    const fetchedAt = new Date();
    let dispute: Stripe.Dispute;
    try {
      dispute = await ctx.stripe.disputes.retrieve(local.stripe_dispute_id);
    } catch (error) {
      if ((error as { code?: string }).code !== 'resource_missing') throw error;
      yield {
        kind: 'dispute',
        stripeId: local.stripe_dispute_id,
        loconomyId: local.id,
        what: 'Stripe has no such dispute',
      };
      continue;
    }
    const base = { kind: 'dispute', stripeId: dispute.id, loconomyId: local.id };
    const diffs: string[] = [];
    if (local.status !== dispute.status) diffs.push(`${local.status} here, ${dispute.status} at Stripe`);
    if (local.amount_cents !== dispute.amount)
      diffs.push(`${local.amount_cents} disputed here, ${dispute.amount} at Stripe`);
    if (diffs.length > 0) {
      const what = diffs.join('; ');
      yield applies(local.status, dispute.status)
        ? { ...base, what, fix: () => applyDispute(ctx.db, dispute, fetchedAt, null, 0) }
        : { ...base, what };
      continue;
    }
    if (local.reversal_status === 'pending' && !(await jobQueued(ctx, `stripe:dispute:${dispute.id}`))) {
      yield {
        ...base,
        what: 'lost, and its loss is not booked: the stripe.reverse_dispute_transfer job is gone or failed for good',
      };
    }
  }
  yield* checkUnmirroredDisputes(ctx);
}

async function* checkUnmirroredDisputes(ctx: CheckContext): AsyncIterable<Finding> {
  const { rows } = await ctx.db.query<LocalCharge>(sql`
    select p.id, p.stripe_charge_id,
           coalesce(array_agg(d.stripe_dispute_id) filter (where d.id is not null), '{}') as disputes
      from public.payments p
      left join public.payment_disputes d on d.payment_id = p.id
     where p.stripe_charge_id is not null
       and (p.updated_at >= ${ctx.since.toISOString()}::timestamptz or p.captured_at >= ${ctx.since.toISOString()}::timestamptz)
     group by p.id
     order by p.created_at`);
  for (const local of rows) {
    ctx.count('disputable charge');
    const mirrored = new Set(local.disputes);
    for await (const dispute of ctx.stripe.disputes.list({ charge: local.stripe_charge_id, limit: 100 })) {
      if (mirrored.has(dispute.id)) continue;
      const fetchedAt = new Date();
      yield {
        kind: 'dispute',
        stripeId: dispute.id,
        loconomyId: local.id,
        what: `a dispute (${dispute.status}, ${dispute.amount} ${dispute.currency.toUpperCase()}) of this payment's charge at Stripe, not mirrored here`,
        fix: () => applyDispute(ctx.db, dispute, fetchedAt, null, 0),
      };
    }
  }
}
