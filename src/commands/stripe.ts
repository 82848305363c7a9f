import { LoconomyError } from '../errors.js';
import { createStripeClient } from '../integrations/stripe/client.js';
import { type ReconcileReport, reconcile } from '../integrations/stripe/reconcile/index.js';
import { step } from '../log.js';
import { commandContext, requireMigrated, withDatabase } from './context.js';

export interface ReconcileCommandOptions {
  /** Take Stripe's state where it settles the difference. */
  apply?: boolean;
  /** Compare what changed since then (and everything still open); default 30 days ago. */
  since?: Date;
}

/** How far back payments are compared by default: refunds and disputes happen within weeks. */
const DEFAULT_DAYS = 30;

/**
 * `loconomy stripe reconcile [--apply] [--since <date>]`: compares the mirrors with Stripe and
 * logs each difference. Exit 0 when they agree (or every difference was fixed), 1 with one line
 * on stderr otherwise, so a scheduled run alerts.
 */
export async function stripeReconcile(options: ReconcileCommandOptions): Promise<void> {
  const ctx = commandContext();
  const stripe = createStripeClient(ctx.config.stripe);
  if (stripe === undefined) {
    throw new LoconomyError(
      'LOCO_STRIPE_NO_KEY',
      'STRIPE_SECRET_KEY is not set',
      'set the key the server uses (sk_… or a restricted rk_… key that can read accounts, PaymentIntents, refunds, disputes, payouts, customers, payment methods, prices, subscriptions and invoices)',
    );
  }
  const since = options.since ?? new Date(Date.now() - DEFAULT_DAYS * 86_400_000);
  const apply = options.apply === true;
  const report = await withDatabase(ctx, async (db) => {
    await requireMigrated(db, 'so the mirrors being compared are the ones this Loconomy writes');
    return step(ctx.log, 'reconcile', () => reconcile(db, stripe, { apply, since, log: ctx.log }));
  });
  conclude(report, apply, ctx.log);
}

function conclude(report: ReconcileReport, apply: boolean, log: ReturnType<typeof commandContext>['log']): void {
  const checked = Object.entries(report.checked)
    .map(([kind, n]) => `${n} ${kind}${n === 1 ? '' : 's'}`)
    .join(', ');
  const by = (fix: string) => report.findings.filter((f) => f.fix === fix).length;
  const [applied, available, manual, failed] = [by('applied'), by('available'), by('manual'), by('failed')];
  log.info(
    {
      step: 'reconcile',
      checked: report.checked,
      differences: report.findings.length,
      applied,
      available,
      manual,
      failed,
    },
    report.findings.length === 0
      ? `Loconomy and Stripe agree (compared ${checked || 'nothing'})`
      : `compared ${checked}: ${report.findings.length} difference(s), ${applied} fixed`,
  );
  if (available + manual + failed === 0) return;
  const parts = [
    available > 0 && `${available} that --apply fixes`,
    manual > 0 && `${manual} that need a person`,
    failed > 0 && `${failed} whose fix failed`,
  ].filter(Boolean);
  throw new LoconomyError(
    'LOCO_STRIPE_DRIFT',
    `Loconomy differs from Stripe: ${parts.join(', ')}`,
    available > 0 && !apply
      ? "run `loconomy stripe reconcile --apply` to take Stripe's state; the log lines above name each object"
      : 'the log lines above name each object; docs/payments.md ("Reconciling with Stripe") says what to do',
  );
}
