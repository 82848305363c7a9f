import type Stripe from 'stripe';
import type { Database } from '../../../db/database.js';
import { sql } from '../../../db/sql.js';
import type { Logger } from '../../../log.js';
import { checkAccounts, checkUnlinkedAccounts } from './accounts.js';
import { checkDisputes } from './disputes.js';
import { checkInvoices } from './invoices.js';
import { checkPaymentMethods } from './payment-methods.js';
import { checkPayments } from './payments.js';
import { checkPayouts } from './payouts.js';
import { checkPlans } from './plans.js';
import { checkSubscriptions } from './subscriptions.js';
import { checkUsage } from './usage.js';

/*
 * `loconomy stripe reconcile`: compares what Loconomy holds with what Stripe holds, object by
 * object, and reports each difference. With `apply`, a difference Stripe's state settles is put
 * right through the same functions the webhook job uses (they are idempotent and move money
 * forward only); one that would need Loconomy to act on Stripe, or to undo a movement, is left
 * to a person and reported as such. Decision 0023 "Reconcile".
 */

/** One difference between Loconomy and Stripe. */
export interface Finding {
  /** What kind of object: account, payment, refund, dispute, payout, card, customer, plan, subscription, invoice. */
  readonly kind: string;
  /** The Stripe object (acct_, pi_, re_, dp_, po_, pm_, cus_, price_, sub_, in_ …). */
  readonly stripeId: string;
  /** The Loconomy row it belongs to (its own id, or the user, payment or subscription it belongs to). */
  readonly loconomyId: string | null;
  /** The difference in words: "charges_enabled is false here, true at Stripe". */
  readonly what: string;
  /** Puts Loconomy in line with Stripe; absent when a person must decide. */
  readonly fix?: () => Promise<unknown>;
}

/** A finding after the run: whether it was fixed, or why not. */
export interface Outcome {
  readonly kind: string;
  readonly stripe_id: string;
  readonly loconomy_id: string | null;
  readonly what: string;
  readonly fix: 'applied' | 'available' | 'manual' | 'failed';
  readonly error?: string;
}

export interface CheckContext {
  readonly db: Database;
  readonly stripe: Stripe;
  readonly log: Logger;
  /** Rows that change (payments, disputes, payouts, subscriptions, invoices) changed since then are compared, and every one still open. */
  readonly since: Date;
  /** Counts objects compared, by kind. */
  count(kind: string): void;
}

export interface ReconcileOptions {
  readonly apply: boolean;
  readonly since: Date;
  readonly log: Logger;
}

export interface ReconcileReport {
  /** Objects compared, by kind. */
  readonly checked: Record<string, number>;
  readonly findings: readonly Outcome[];
}

/**
 * Every check, in an order where a fix can rely on the earlier ones: accounts before payments and
 * payouts, payments (a capture) before their disputes, plans and subscriptions before invoices.
 */
const CHECKS: readonly ((ctx: CheckContext) => AsyncIterable<Finding>)[] = [
  checkAccounts,
  checkUnlinkedAccounts,
  checkPayments,
  checkDisputes,
  checkPayouts,
  checkPaymentMethods,
  checkPlans,
  checkSubscriptions,
  checkInvoices,
  checkUsage,
];

/** Whether a graphile-worker job with this key is queued or running with attempts left (one that will act). */
export async function jobQueued(ctx: CheckContext, key: string): Promise<boolean> {
  const { rows } = await ctx.db.query<{ installed: boolean }>(sql`
    select to_regclass('graphile_worker.jobs') is not null as installed`);
  if (!rows[0]?.installed) return false;
  const { rows: jobs } = await ctx.db.query<{ n: number }>(sql`
    select count(*)::int as n from graphile_worker.jobs where key = ${key} and attempts < max_attempts`);
  return (jobs[0]?.n ?? 0) > 0;
}

/** Objects between two progress lines. */
const PROGRESS_EVERY = 100;

export async function reconcile(db: Database, stripe: Stripe, options: ReconcileOptions): Promise<ReconcileReport> {
  const { log } = options;
  const checked: Record<string, number> = {};
  const ctx: CheckContext = {
    db,
    stripe,
    log,
    since: options.since,
    count(kind) {
      checked[kind] = (checked[kind] ?? 0) + 1;
      if (checked[kind] % PROGRESS_EVERY === 0)
        log.info({ step: 'reconcile', kind, checked: checked[kind] }, `${kind}s compared: ${checked[kind]}`);
    },
  };
  const findings: Outcome[] = [];
  for (const check of CHECKS) {
    // The generator waits while a fix runs, so later comparisons of the same object see it.
    for await (const finding of check(ctx)) {
      const outcome = await settle(finding, options.apply);
      findings.push(outcome);
      log.warn(
        { step: 'reconcile', ...outcome },
        `${outcome.kind} ${outcome.stripe_id}: ${outcome.what} — ${describeFix(outcome)}`,
      );
    }
  }
  return { checked, findings };
}

async function settle(finding: Finding, apply: boolean): Promise<Outcome> {
  const base = {
    kind: finding.kind,
    stripe_id: finding.stripeId,
    loconomy_id: finding.loconomyId,
    what: finding.what,
  };
  if (finding.fix === undefined) return { ...base, fix: 'manual' };
  if (!apply) return { ...base, fix: 'available' };
  try {
    await finding.fix();
    return { ...base, fix: 'applied' };
  } catch (error) {
    return { ...base, fix: 'failed', error: error instanceof Error ? error.message : String(error) };
  }
}

function describeFix(outcome: Outcome): string {
  switch (outcome.fix) {
    case 'applied':
      return "Stripe's state applied";
    case 'available':
      return "--apply takes Stripe's state";
    case 'failed':
      return `applying Stripe's state failed: ${outcome.error}`;
    case 'manual':
      return 'needs a person (see docs/payments.md, "Reconciling with Stripe")';
  }
}
