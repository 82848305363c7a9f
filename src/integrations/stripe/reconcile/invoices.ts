import type Stripe from 'stripe';
import { sql } from '../../../db/sql.js';
import { applyInvoice, fetchInvoice } from '../events/invoice.js';
import type { CheckContext, Finding } from './index.js';

/*
 * Invoices: each Stripe invoice Loconomy mirrors that is a draft or open (or changed since
 * `since`) against Stripe's status and amount paid, and the paid invoices of Loconomy's Stripe
 * subscriptions (live or changed since `since`) made since `since` that Loconomy never mirrored.
 * Stripe further along (finalised, paid, voided) or an invoice missing here is applied through
 * app.stripe_apply_invoice, as a late event would be: lines, status and the one payment row of a
 * paid invoice. Loconomy ahead of Stripe, or a closed invoice that closed otherwise, is a
 * person's call.
 */

interface LocalInvoice {
  readonly id: string;
  readonly stripe_invoice_id: string;
  readonly status: string;
  readonly amount_paid_cents: number;
  readonly total_cents: number;
}

interface LocalSubscription {
  readonly id: string;
  readonly stripe_subscription_id: string;
}

/** app.stripe_invoice_rank: draft → open → uncollectible → paid or void. */
const RANK: Record<string, number> = { draft: 0, open: 1, uncollectible: 2, paid: 3, void: 3 };
const CLOSED = new Set(['paid', 'void']);

/** Whether app.stripe_apply_invoice takes Stripe's status over ours (forward only; paid and void are final). */
function applies(ours: string, theirs: string): boolean {
  if (CLOSED.has(ours)) return ours === theirs;
  return (RANK[theirs] ?? -1) >= (RANK[ours] ?? 0);
}

export async function* checkInvoices(ctx: CheckContext): AsyncIterable<Finding> {
  const { rows } = await ctx.db.query<LocalInvoice>(sql`
    select id, stripe_invoice_id, status::text as status, amount_paid_cents::int as amount_paid_cents,
           total_cents::int as total_cents
      from public.invoices
     where stripe_invoice_id is not null
       and (status::text in ('draft', 'open') or updated_at >= ${ctx.since.toISOString()}::timestamptz)
     order by created_at`);
  for (const local of rows) {
    ctx.count('invoice');
    let invoice: Stripe.Invoice;
    try {
      invoice = await fetchInvoice(ctx.stripe, local.stripe_invoice_id);
    } catch (error) {
      if ((error as { code?: string }).code !== 'resource_missing') throw error;
      yield {
        kind: 'invoice',
        stripeId: local.stripe_invoice_id,
        loconomyId: local.id,
        what: 'Stripe has no such invoice',
      };
      continue;
    }
    const status = invoice.status ?? 'draft';
    const diffs: string[] = [];
    if (local.status !== status) diffs.push(`${local.status} here, ${status} at Stripe`);
    // The mirror caps what was paid at its total (credits count as its discount).
    const paid = Math.min(invoice.amount_paid, local.total_cents);
    if (local.amount_paid_cents !== paid)
      diffs.push(`${local.amount_paid_cents} paid here, ${invoice.amount_paid} at Stripe`);
    if (diffs.length === 0) continue;
    const base = { kind: 'invoice', stripeId: invoice.id, loconomyId: local.id, what: diffs.join('; ') };
    yield applies(local.status, status) ? { ...base, fix: () => applyInvoice(ctx.db, invoice, null, 0) } : base;
  }
  yield* checkUnmirroredInvoices(ctx);
}

async function* checkUnmirroredInvoices(ctx: CheckContext): AsyncIterable<Finding> {
  const { rows } = await ctx.db.query<LocalSubscription>(sql`
    select s.id, s.stripe_subscription_id
      from public.subscriptions s
     where s.stripe_subscription_id is not null
       and (s.status::text in ('trialing', 'active', 'past_due', 'unpaid', 'incomplete', 'paused')
            or s.updated_at >= ${ctx.since.toISOString()}::timestamptz)
     order by s.created_at`);
  const created = { gte: Math.floor(ctx.since.getTime() / 1000) };
  for (const local of rows) {
    const listed = ctx.stripe.invoices.list({
      subscription: local.stripe_subscription_id,
      status: 'paid',
      created,
      limit: 100,
    });
    for await (const listedInvoice of listed) {
      ctx.count('paid invoice');
      const known = await ctx.db.query(sql`
        select 1 from public.invoices where stripe_invoice_id = ${listedInvoice.id as string}`);
      if (known.rows.length > 0) continue; // mirrored (compared above when it changed since)
      // As the event would have it: with its payments (the PaymentIntent of the payment row) and all lines.
      const invoice = await fetchInvoice(ctx.stripe, listedInvoice.id as string);
      yield {
        kind: 'invoice',
        stripeId: invoice.id as string,
        loconomyId: local.id,
        what: `a paid invoice of ${invoice.amount_paid} ${invoice.currency.toUpperCase()} of this subscription at Stripe, not mirrored here`,
        fix: () => applyInvoice(ctx.db, invoice, null, 0),
      };
    }
  }
}
