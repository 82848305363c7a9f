import Stripe from 'stripe';
import type { Database } from '../../db/database.js';
import { sql } from '../../db/sql.js';

interface DisputeForJob {
  readonly dispute_id: string;
  readonly payment_id: string;
  readonly booking_id: string;
  readonly reversal_status: string | null;
  readonly stripe_transfer_id: string | null;
  readonly loss_cents: string | number;
  readonly reversal_cents: string | number;
}

const asService = <T>(db: Database, query: ReturnType<typeof sql>) =>
  db.asRole('service_role', { role: 'service_role' }, (tx) => tx.last<T>(query));

/**
 * Stripe refused the reversal for a reason a retry cannot change (the connected account's
 * balance cannot cover it, the transfer is already reversed …): a 4xx invalid request. Network
 * failures, rate limits and Stripe's own errors are retried by the queue instead.
 */
function refusal(error: unknown): { code: string; message: string } | undefined {
  if (!(error instanceof Stripe.errors.StripeInvalidRequestError)) return undefined;
  return { code: error.code ?? error.type, message: error.message };
}

/**
 * stripe.reverse_dispute_transfer (enqueued by app.stripe_apply_dispute when a dispute is lost):
 * with destination charges Stripe debits the platform for a lost dispute and leaves the
 * provider's transfer alone, so the platform takes the provider's share of the loss back — the
 * share app.payment_refund prorates — with one transfer reversal under the idempotency key
 * dispute:<dp id>:reversal. Then app.stripe_record_dispute_loss writes the loss once (refund key
 * dispute:<dp id>) and moves the booking to refunded. A reversal Stripe refuses is recorded
 * with Stripe's code and message, its amount as the provider's shortfall.
 */
export async function reverseDisputeTransfer(
  db: Database,
  stripe: Stripe,
  disputeId: string,
): Promise<Record<string, unknown>> {
  const { rows } = await asService<DisputeForJob>(db, sql`select * from app.stripe_dispute_for_job(${disputeId})`);
  const d = rows[0];
  if (d === undefined) return { outcome: 'missing' };
  if (d.reversal_status !== 'pending') return { outcome: 'skipped', reversal_status: d.reversal_status };
  const loss = Number(d.loss_cents);
  // No transfer to reverse (a payment captured without one): nothing of the loss is the provider's at Stripe.
  const reversal = d.stripe_transfer_id === null ? 0 : Number(d.reversal_cents);
  let reversed = 0;
  let reversalId: string | null = null;
  let failure: { code: string; message: string } | undefined;
  if (reversal > 0) {
    try {
      const answer = await stripe.transfers.createReversal(
        d.stripe_transfer_id as string,
        {
          amount: reversal,
          metadata: { reason: 'dispute_lost', dispute: disputeId, booking_id: d.booking_id, payment_id: d.payment_id },
        },
        { idempotencyKey: `dispute:${disputeId}:reversal` },
      );
      reversed = answer.amount;
      reversalId = answer.id;
    } catch (error) {
      failure = refusal(error);
      if (failure === undefined) throw error;
    }
  }
  const { rows: recorded } = await asService<{ result: Record<string, unknown> }>(
    db,
    sql`select app.stripe_record_dispute_loss(${disputeId}, ${loss}, ${reversal}, ${reversed}, ${reversalId},
                                              ${failure?.code ?? null}, ${failure?.message ?? null}) as result`,
  );
  return {
    reversal: reversalId,
    reversal_cents: reversal,
    reversed_cents: reversed,
    ...(failure && { refused: failure }),
    ...(recorded[0] as { result: Record<string, unknown> }).result,
  };
}
