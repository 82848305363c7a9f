import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { sql } from '../../../src/db/sql.js';
import { createUser, grantPermission, type UserFixture } from '../../helpers/fixtures.js';
import { ROOT, testBackend } from '../../helpers/index.js';
import { runWalkthrough } from '../../helpers/walkthrough.js';
import type { Obj } from './double.js';
import { processed, type StripeHarness, stripeHarness, until } from './support.js';

/*
 * docs/payments.md's "A first card payment, step by step", run as written against the Stripe
 * double (test/helpers/walkthrough.ts): a newcomer's whole path — onboarding, booking, paying,
 * a cancellation, completion and capture, Stripe's payout, the report adding up (issue 13's
 * "done when"). The events are what Stripe and time do between the blocks.
 */

const DOC = join(ROOT, 'docs', 'payments.md');

let h: StripeHarness;
let people: Record<'customer' | 'provider' | 'operator', UserFixture>;

before(async () => {
  h = await stripeHarness();
  const { tenantId, provider } = await h.marketplace('stripe');
  people = {
    provider,
    customer: await createUser(h.db, { tenantId }),
    operator: await createUser(h.db, { tenantId, role: 'admin' }),
  };
  await grantPermission(h.db, people.operator, 'payments.read');
  await h.startJobs();
});

after(async () => {
  await h?.close();
});

async function accountOf(user: UserFixture): Promise<string> {
  const { rows } = await h.db.query<{ id: string }>(
    sql`select stripe_account_id as id from public.payout_accounts where user_id = ${user.id}`,
  );
  assert.ok(rows[0], 'the provider has a Connect account');
  return rows[0].id;
}

/** Delivers a signed event to POST /webhooks/stripe and waits until its job has applied it. */
async function deliver(event: Obj): Promise<void> {
  const type = event.type as string;
  const answer = await h.double.deliver(h.webhookUrl, event);
  assert.equal(answer.status, 200, JSON.stringify(answer.json));
  const row = await processed(h.db, event.id as string);
  assert.equal(row.outcome, 'applied', `${type}: ${row.last_error ?? row.outcome}`);
}

test(`docs/payments.md: the first card payment runs as written (${testBackend()})`, async () => {
  const events: Record<string, () => Promise<void>> = {
    // Stripe's hosted form is filled in; Stripe then sends account.updated.
    "the provider finishes Stripe's onboarding": async () => {
      const account = await accountOf(people.provider);
      h.double.completeOnboarding(account);
      await deliver(h.double.accountUpdated(account));
    },
    // The jobs the booking's moves enqueued (capture, cancel) run against the double.
    'the jobs call Stripe': async () => {
      await until(async () => {
        const { rows } = await h.db.query<{ n: number; error: string | null }>(sql`
          select count(*)::int as n, max(last_error) as error
            from graphile_worker.jobs where task_identifier like 'stripe.%'`);
        const [state] = rows;
        assert.equal(state?.error ?? null, null, 'a Stripe job failed');
        return state?.n === 0;
      });
    },
    // The visit's hour comes and goes.
    'the visit is over': async () => {
      await h.db.query(sql`
        update public.bookings
           set starts_at = date_trunc('minute', now()) - interval '30 minutes' - (ends_at - starts_at),
               ends_at = date_trunc('minute', now()) - interval '30 minutes'
         where customer_id = ${people.customer.id} and status = 'confirmed'`);
    },
    // Stripe's automatic payout of the provider's whole balance, then payout.paid.
    'Stripe pays the provider out': async () => {
      const account = await accountOf(people.provider);
      const payout = h.double.payout(account, h.double.balance(account, 'usd'));
      h.double.payoutStatus(payout.id as string, 'paid');
      const paid = h.double.payouts.get(payout.id as string)?.payout as Obj;
      await deliver(h.double.event('payout.paid', paid, { account }));
    },
  };
  await runWalkthrough(
    DOC,
    {
      provider: await h.clientFor(people.provider),
      customer: await h.clientFor(people.customer),
      operator: await h.clientFor(people.operator),
      // What Stripe.js's createPaymentMethod gives for Stripe's test card 4242 4242 4242 4242.
      card: 'pm_card_visa',
    },
    events,
  );
});
