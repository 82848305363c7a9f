import type Stripe from 'stripe';
import { sql } from '../../../db/sql.js';
import { applyPayout } from '../events/payout.js';
import { unreachable } from './accounts.js';
import type { CheckContext, Finding } from './index.js';

/*
 * Payouts: for each connected account Loconomy mirrors, the payout rows still processing or
 * changed since `since` against Stripe's payouts of that account (Stripe-Account), and Stripe's
 * payouts made since `since` that Loconomy never mirrored. Stripe further along (paid, failed,
 * canceled) and a payout missing here are applied through app.stripe_apply_payout (forward only);
 * a row ahead of Stripe, or an amount that differs, is a person's call.
 */

interface LocalPayout {
  readonly id: string;
  readonly user_id: string;
  readonly stripe_payout_id: string;
  readonly status: string;
  readonly amount_cents: number;
}

interface PayoutAccount {
  readonly user_id: string;
  readonly stripe_account_id: string;
}

/** The payout row's status for each Stripe payout status (app.stripe_apply_payout). */
const STATUS: Record<string, string> = {
  pending: 'processing',
  in_transit: 'processing',
  paid: 'completed',
  failed: 'failed',
  canceled: 'failed',
};
const RANK: Record<string, number> = { processing: 1, completed: 2, failed: 3 };

export async function* checkPayouts(ctx: CheckContext): AsyncIterable<Finding> {
  const { rows: accounts } = await ctx.db.query<PayoutAccount>(sql`
    select user_id, stripe_account_id from public.payout_accounts
     -- A deauthorised account cannot be read any more (the account check reports it).
     where disabled_reason is distinct from 'platform_deauthorized'
     order by created_at`);
  const since = ctx.since.toISOString();
  for (const account of accounts) {
    const { rows } = await ctx.db.query<LocalPayout>(sql`
      select t.id, t.user_id, t.metadata ->> 'stripe_payout_id' as stripe_payout_id, t.status::text as status,
             t.amount_cents::int as amount_cents
        from public.transactions t
       where t.type::text = 'payout' and t.user_id = ${account.user_id}
         and t.idempotency_key like 'stripe:payout:%'
         and t.metadata ->> 'stripe_account_id' = ${account.stripe_account_id}
         and (t.status::text = 'processing' or t.updated_at >= ${since}::timestamptz)`);
    const local = new Map(rows.map((r) => [r.stripe_payout_id, r]));
    const seen = new Set<string>();
    const options = { stripeAccount: account.stripe_account_id };
    const created = { gte: Math.floor(ctx.since.getTime() / 1000) };
    for await (const payout of readable(ctx.stripe.payouts.list({ created, limit: 100 }, options))) {
      ctx.count('payout');
      seen.add(payout.id);
      const ours = local.get(payout.id);
      if (ours === undefined) {
        const known = await ctx.db.query(sql`
          select 1 from public.transactions where idempotency_key = ${`stripe:payout:${payout.id}`}`);
        if (known.rows.length > 0) continue; // mirrored, settled before `since`: nothing to compare
        yield {
          kind: 'payout',
          stripeId: payout.id,
          loconomyId: account.user_id,
          what: `a payout of ${payout.amount} ${payout.currency.toUpperCase()} (${payout.status}) at Stripe, not mirrored here`,
          fix: () => applyPayout(ctx.db, account.stripe_account_id, payout, null, 0),
        };
        continue;
      }
      yield* comparePayout(ctx, account, ours, payout);
    }
    // Rows still processing whose payout was made before `since`: fetched one by one.
    for (const ours of rows) {
      if (seen.has(ours.stripe_payout_id)) continue;
      ctx.count('payout');
      let payout: Stripe.Payout;
      try {
        payout = await ctx.stripe.payouts.retrieve(ours.stripe_payout_id, {}, options);
      } catch (error) {
        if ((error as { code?: string }).code !== 'resource_missing') {
          if (unreachable(error) !== undefined) break; // the account check reports it
          throw error;
        }
        yield {
          kind: 'payout',
          stripeId: ours.stripe_payout_id,
          loconomyId: ours.id,
          what: `Stripe has no such payout on ${account.stripe_account_id}`,
        };
        continue;
      }
      yield* comparePayout(ctx, account, ours, payout);
    }
  }
}

/** The account's payouts, or none when Stripe no longer lets the platform read the account (the account check reports it). */
async function* readable(payouts: AsyncIterable<Stripe.Payout>): AsyncIterable<Stripe.Payout> {
  try {
    yield* payouts;
  } catch (error) {
    if (unreachable(error) === undefined) throw error;
  }
}

async function* comparePayout(
  ctx: CheckContext,
  account: PayoutAccount,
  ours: LocalPayout,
  payout: Stripe.Payout,
): AsyncIterable<Finding> {
  const base = { kind: 'payout', stripeId: payout.id, loconomyId: ours.id };
  const theirs = STATUS[payout.status] ?? payout.status;
  if (ours.amount_cents !== payout.amount) {
    yield { ...base, what: `${ours.amount_cents} paid out here, ${payout.amount} at Stripe` };
  } else if (theirs !== ours.status) {
    const what = `${ours.status} here, ${payout.status} at Stripe`;
    yield (RANK[theirs] ?? 0) > (RANK[ours.status] ?? 0)
      ? { ...base, what, fix: () => applyPayout(ctx.db, account.stripe_account_id, payout, null, 0) }
      : { ...base, what };
  }
}
