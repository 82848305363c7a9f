import { sql } from '../../../src/db/sql.js';
import { installQueue, type Jobs, startJobs } from '../../../src/jobs/runner.js';
import { captureLapsingPayments } from '../../../src/jobs/tasks/capture-lapsing-payments.js';
import { processStripeEventTask } from '../../../src/jobs/tasks/process-stripe-event.js';
import { reportStripeUsage } from '../../../src/jobs/tasks/report-stripe-usage.js';
import {
  cancelStripePayment,
  captureStripePayment,
  refundStripePayment,
  reverseStripeDisputeTransfer,
} from '../../../src/jobs/tasks/stripe-payments.js';
import {
  authoriseStripeDefaultCard,
  syncStripeDefaultPaymentMethod,
} from '../../../src/jobs/tasks/stripe-saved-cards.js';
import { syncStripePlan } from '../../../src/jobs/tasks/sync-stripe-plan.js';
import { createTenant, createUser, type UserFixture } from '../../helpers/fixtures.js';
import {
  getTestDatabase,
  startTestServer,
  type TestDatabase,
  type TestServer,
  testLogger,
} from '../../helpers/index.js';
import { StripeDouble } from './double.js';

/*
 * One Loconomy server, its job runner (only the Stripe task) and a Stripe double, wired through
 * the settings a deployment would use: STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET and
 * LOCONOMY_STRIPE_API_URL. The job reads the environment when it runs, as a worker process does,
 * so the same settings are put in process.env for the life of the harness.
 */

export interface StripeHarness {
  readonly db: TestDatabase;
  readonly server: TestServer;
  readonly double: StripeDouble;
  readonly webhookUrl: string;
  /** The provider's supabase-js client. */
  clientFor(user: UserFixture): Promise<ReturnType<TestServer['client']>>;
  /** A tenant in stripe payment mode (or offline) with a provider. */
  marketplace(mode?: 'stripe' | 'offline'): Promise<{ tenantId: string; provider: UserFixture }>;
  /** Starts the job runner with the Stripe tasks (tests of recording alone leave it off). */
  startJobs(): Promise<Jobs>;
  close(): Promise<void>;
}

export async function stripeHarness(
  options: { env?: Record<string, string>; db?: TestDatabase } = {},
): Promise<StripeHarness> {
  const double = await StripeDouble.start();
  const env = { ...double.env(), ...options.env };
  const saved = new Map<string, string | undefined>();
  for (const [k, v] of Object.entries(env)) {
    saved.set(k, process.env[k]);
    process.env[k] = v;
  }
  const db = options.db ?? (await getTestDatabase());
  // The queue's schema, as `serve` or `worker` installs it: recording enqueues into it.
  await installQueue(db, { databaseUrl: db.location.url, log: testLogger() });
  const server = await startTestServer(db, env);
  let jobs: Jobs | undefined;
  return {
    db,
    server,
    double,
    webhookUrl: `${server.url}/webhooks/stripe`,
    clientFor: async (user) => server.client({ token: await server.tokenFor(user.clerkId) }),
    async marketplace(mode = 'stripe') {
      const tenantId = await createTenant(db);
      await db.query(sql`update public.tenants set payment_mode = ${mode}::public.payment_mode where id = ${tenantId}`);
      const provider = await createUser(db, { tenantId, role: 'provider' });
      return { tenantId, provider };
    },
    async startJobs() {
      jobs ??= await startJobs({
        db,
        databaseUrl: db.location.url,
        log: testLogger(),
        tasks: [
          processStripeEventTask,
          captureStripePayment,
          cancelStripePayment,
          refundStripePayment,
          reverseStripeDisputeTransfer,
          captureLapsingPayments,
          syncStripeDefaultPaymentMethod,
          authoriseStripeDefaultCard,
          syncStripePlan,
          reportStripeUsage,
        ],
        schedule: false,
        pollInterval: 50,
      });
      return jobs;
    },
    async close() {
      await jobs?.stop();
      await server.close();
      await double.close();
      if (options.db === undefined) await db.dispose();
      for (const [k, v] of saved) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    },
  };
}

/** Resolves once `ready()` gives a value, checked every 50 ms (no wall-clock limit: the runner's timeout applies). */
export async function until<T>(ready: () => Promise<T | undefined | false | null>): Promise<T> {
  for (;;) {
    const value = await ready();
    if (value) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export interface EventRow {
  event_id: string;
  event_type: string;
  processed_at: Date | null;
  outcome: string | null;
  attempts: number;
  last_error: string | null;
}

/** The inbound_webhook_events row of a Stripe event, if recorded. */
export async function eventRow(db: TestDatabase, eventId: string): Promise<EventRow | undefined> {
  const { rows } = await db.query<EventRow>(sql`
    select event_id, event_type, processed_at, outcome, attempts, last_error
      from public.inbound_webhook_events where provider = 'stripe' and event_id = ${eventId}`);
  return rows[0];
}

/** Waits until the event is processed, and returns its row. */
export function processed(db: TestDatabase, eventId: string): Promise<EventRow> {
  return until(async () => {
    const row = await eventRow(db, eventId);
    return row?.processed_at ? row : undefined;
  });
}

export interface PayoutRow {
  stripe_account_id: string;
  charges_enabled: boolean;
  payouts_enabled: boolean;
  details_submitted: boolean;
  requirements_due: string[];
  disabled_reason: string | null;
  country: string | null;
  default_currency: string | null;
  stripe_synced_at: Date | null;
}

export async function payoutAccount(db: TestDatabase, userId: string): Promise<PayoutRow | undefined> {
  const { rows } = await db.query<PayoutRow>(sql`
    select stripe_account_id, charges_enabled, payouts_enabled, details_submitted, requirements_due, disabled_reason,
           country, default_currency, stripe_synced_at
      from public.payout_accounts where user_id = ${userId}`);
  return rows[0];
}

/** How many graphile-worker jobs of the Stripe task exist (queued or running). */
export async function stripeJobs(db: TestDatabase): Promise<number> {
  const { rows } = await db.query<{ n: number }>(sql`
    select count(*)::int as n from graphile_worker.jobs where task_identifier = 'stripe.process_event'`);
  return rows[0]?.n ?? 0;
}
