import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FunctionsHttpError } from '@supabase/supabase-js';
import { sql } from '../../../src/db/sql.js';
import { createListing, createUser, type UserFixture } from '../../helpers/fixtures.js';
import { startTestServer, type TestServer } from '../../helpers/index.js';
import { payoutAccount, processed, type StripeHarness, stripeHarness } from './support.js';

/*
 * Provider onboarding end to end on this backend: supabase-js invokes the built-in
 * stripe-connect-onboarding function, the server creates the Express account and an account link
 * at the Stripe double, the provider's browser (a fetch) finishes onboarding there, Stripe's
 * account.updated reaches POST /webhooks/stripe, the job mirrors it, and the provider can publish.
 */

let h: StripeHarness;
const URLS = {
  return_url: 'https://app.example.com/payouts/done',
  refresh_url: 'https://app.example.com/payouts/again',
};

before(async () => {
  h = await stripeHarness();
  await h.startJobs();
});

after(async () => {
  await h?.close();
});

interface Invoked {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: a test reads whatever JSON came back
  body: any;
}

/** supabase.functions.invoke as a front end calls it; the status and JSON either way. */
async function invoke(
  client: ReturnType<TestServer['client']>,
  name: string,
  body: Record<string, unknown> = URLS,
): Promise<Invoked> {
  const { data, error } = await client.functions.invoke(name, { body });
  if (error === null) return { status: 200, body: data };
  assert.ok(error instanceof FunctionsHttpError, `expected an HTTP error, got ${error}`);
  const response = error.context as Response;
  return { status: response.status, body: await response.json() };
}

async function publish(user: UserFixture, listingId: string) {
  const client = await h.clientFor(user);
  return client.from('listings').update({ status: 'active' }).eq('id', listingId).select('status');
}

describe('stripe-connect-onboarding', () => {
  test('a provider onboards: account once, link, onboarding at Stripe, account.updated, then the listing can be published', async () => {
    const { provider } = await h.marketplace('stripe');
    const listing = await createListing(h.db, provider, { status: 'draft' });
    const client = await h.clientFor(provider);

    // Before: publishing is refused with the hint that names the function.
    const refused = await publish(provider, listing.id);
    assert.equal(refused.status, 409);
    assert.equal(refused.error?.code, 'PT409');
    assert.match(refused.error?.hint ?? '', /stripe-connect-onboarding/);

    const first = await invoke(client, 'stripe-connect-onboarding');
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.match(first.body.account_id, /^acct_[A-Za-z0-9]+$/);
    assert.ok(first.body.url.startsWith(`${h.double.url}/connect/onboarding/`));
    assert.ok(Date.parse(first.body.expires_at) > Date.now());
    const account = h.double.account(first.body.account_id);
    assert.equal(account.type, 'express');
    assert.deepEqual(account.metadata, { loconomy_user_id: provider.id, loconomy_tenant_id: provider.tenantId });
    assert.deepEqual(account.capabilities, { card_payments: 'inactive', transfers: 'inactive' });
    const create = h.double.requests.find(
      (r) =>
        r.path === '/v1/accounts' &&
        r.method === 'POST' &&
        r.status === 200 &&
        (r.params.metadata as Record<string, string>)?.loconomy_user_id === provider.id,
    );
    assert.equal(create?.idempotencyKey, `loconomy:user:${provider.id}:connect-account`);
    const link = h.double.requests.filter((r) => r.path === '/v1/account_links').at(-1);
    assert.deepEqual(
      { type: link?.params.type, return_url: link?.params.return_url, refresh_url: link?.params.refresh_url },
      { type: 'account_onboarding', ...URLS },
    );
    const stored = await payoutAccount(h.db, provider.id);
    assert.equal(stored?.stripe_account_id, first.body.account_id);
    assert.equal(stored?.charges_enabled, false);

    // Again (the provider came back through refresh_url): the same account, a new link.
    const accounts = h.double.accounts.size;
    const second = await invoke(client, 'stripe-connect-onboarding');
    assert.equal(second.status, 200);
    assert.equal(second.body.account_id, first.body.account_id);
    assert.notEqual(second.body.url, first.body.url);
    assert.equal(h.double.accounts.size, accounts, 'no second account');

    // The provider's browser finishes onboarding at Stripe and comes back to return_url.
    const visit = await fetch(second.body.url, { redirect: 'manual' });
    assert.equal(visit.status, 302);
    assert.equal(visit.headers.get('location'), URLS.return_url);
    const used = await fetch(second.body.url, { redirect: 'manual' });
    assert.equal(used.headers.get('location'), URLS.refresh_url, 'a link works once');

    // Still refused until Stripe's event arrives and is processed.
    assert.equal((await publish(provider, listing.id)).status, 409);
    const event = h.double.accountUpdated(second.body.account_id);
    assert.equal((await h.double.deliver(h.webhookUrl, event)).status, 200);
    assert.equal((await processed(h.db, event.id as string)).outcome, 'applied');
    const mirrored = await payoutAccount(h.db, provider.id);
    assert.deepEqual(
      {
        charges: mirrored?.charges_enabled,
        payouts: mirrored?.payouts_enabled,
        submitted: mirrored?.details_submitted,
        due: mirrored?.requirements_due,
      },
      { charges: true, payouts: true, submitted: true, due: [] },
    );

    const published = await publish(provider, listing.id);
    assert.equal(published.error, null, published.error?.message);
    assert.deepEqual(published.data, [{ status: 'active' }]);

    // The provider's own view of the account, through REST and RLS.
    const { data: own } = await client.from('payout_accounts').select('stripe_account_id, charges_enabled');
    assert.deepEqual(own, [{ stripe_account_id: first.body.account_id, charges_enabled: true }]);

    // The Express dashboard is open now.
    const dashboard = await invoke(client, 'stripe-connect-dashboard', {});
    assert.equal(dashboard.status, 200, JSON.stringify(dashboard.body));
    assert.equal(dashboard.body.account_id, first.body.account_id);
    assert.ok(dashboard.body.url.startsWith(`${h.double.url}/express/${first.body.account_id}/`));
  });

  test('concurrent first calls create one account', async () => {
    const { provider } = await h.marketplace('stripe');
    const client = await h.clientFor(provider);
    const answers = await Promise.all([1, 2, 3].map(() => invoke(client, 'stripe-connect-onboarding')));
    assert.deepEqual(
      answers.map((a) => a.status),
      [200, 200, 200],
    );
    const ids = new Set(answers.map((a) => a.body.account_id));
    assert.equal(ids.size, 1);
    const created = [...h.double.accounts.values()].filter(
      (a) => (a.metadata as Record<string, string>).loconomy_user_id === provider.id,
    );
    assert.equal(created.length, 1);
    assert.equal((await payoutAccount(h.db, provider.id))?.stripe_account_id, [...ids][0]);
  });

  test('refusals: 401 without a user, 403 for a customer, 409 offline, 400 bad URLs, 409 dashboard before onboarding — nothing created', async () => {
    const accountsBefore = h.double.accounts.size;
    const anon = await invoke(h.server.client(), 'stripe-connect-onboarding');
    assert.equal(anon.status, 401);
    assert.equal(anon.body.code, 'LOCO_AUTH_REQUIRED');

    const { tenantId } = await h.marketplace('stripe');
    const customer = await createUser(h.db, { tenantId, role: 'customer' });
    const forbidden = await invoke(await h.clientFor(customer), 'stripe-connect-onboarding');
    assert.equal(forbidden.status, 403);
    assert.equal(forbidden.body.code, 'LOCO_PAYMENTS_FORBIDDEN');
    assert.match(forbidden.body.message, /role is customer/);

    const offline = await h.marketplace('offline');
    const offlineAnswer = await invoke(await h.clientFor(offline.provider), 'stripe-connect-onboarding');
    assert.equal(offlineAnswer.status, 409);
    assert.equal(offlineAnswer.body.code, 'LOCO_PAYMENTS_OFFLINE');
    // An offline marketplace publishes without any payout account.
    const listing = await createListing(h.db, offline.provider, { status: 'draft' });
    assert.equal((await publish(offline.provider, listing.id)).error, null);

    const { provider } = await h.marketplace('stripe');
    const client = await h.clientFor(provider);
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ return_url: 'http://app.example.com/done', refresh_url: URLS.refresh_url }, /return_url must be an https URL/],
      [{ return_url: URLS.return_url, refresh_url: 'javascript:alert(1)' }, /refresh_url must be an https URL/],
      [
        { return_url: 'https://user:pw@app.example.com/', refresh_url: URLS.refresh_url },
        /return_url must be an https URL/,
      ],
      [{ return_url: URLS.return_url }, /refresh_url is required/],
      [{}, /return_url is required/],
    ];
    for (const [body, message] of bad) {
      const answer = await invoke(client, 'stripe-connect-onboarding', body);
      assert.equal(answer.status, 400, JSON.stringify(body));
      assert.equal(answer.body.code, 'LOCO_FUNCTION_INVALID');
      assert.match(answer.body.message, message);
    }
    const local = await invoke(client, 'stripe-connect-onboarding', {
      return_url: 'http://localhost:3000/done',
      refresh_url: 'http://127.0.0.1:3000/again',
    });
    assert.equal(local.status, 200, 'http://localhost is allowed for development');

    const other = await h.marketplace('stripe');
    const notYet = await invoke(await h.clientFor(other.provider), 'stripe-connect-dashboard', {});
    assert.equal(notYet.status, 409);
    assert.equal(notYet.body.code, 'LOCO_PAYOUTS_NOT_ONBOARDED');
    assert.equal(h.double.accounts.size, accountsBefore + 1, 'only the valid localhost call created an account');
    assert.equal(await payoutAccount(h.db, customer.id), undefined);
    assert.equal(await payoutAccount(h.db, offline.provider.id), undefined);
  });

  test('Stripe failing: 502 LOCO_STRIPE_FAILED with Stripe’s error, nothing stored', async () => {
    const { provider } = await h.marketplace('stripe');
    h.double.failNext('POST', /^\/v1\/accounts$/, 400, {
      code: 'platform_account_required',
      message: 'Only Stripe Connect platforms can work with other accounts.',
    });
    const answer = await invoke(await h.clientFor(provider), 'stripe-connect-onboarding');
    assert.equal(answer.status, 502);
    assert.equal(answer.body.code, 'LOCO_STRIPE_FAILED');
    assert.match(answer.body.message, /Only Stripe Connect platforms/);
    assert.match(answer.body.details, /platform_account_required/);
    assert.equal(await payoutAccount(h.db, provider.id), undefined);
  });

  test('no STRIPE_SECRET_KEY: 503 LOCO_STRIPE_UNCONFIGURED; an allow-list of origins refuses other front ends', async () => {
    const { provider } = await h.marketplace('stripe');
    const bare = await startTestServer(h.db, {});
    const allowList = await startTestServer(h.db, {
      ...h.double.env(),
      LOCONOMY_STRIPE_RETURN_ORIGINS: 'https://app.example.com',
    });
    try {
      const token = await bare.tokenFor(provider.clerkId);
      const unconfigured = await invoke(bare.client({ token }), 'stripe-connect-onboarding');
      assert.equal(unconfigured.status, 503);
      assert.equal(unconfigured.body.code, 'LOCO_STRIPE_UNCONFIGURED');
      assert.equal(await payoutAccount(h.db, provider.id), undefined);

      const client = allowList.client({ token });
      const elsewhere = await invoke(client, 'stripe-connect-onboarding', {
        return_url: 'https://evil.example.net/done',
        refresh_url: URLS.refresh_url,
      });
      assert.equal(elsewhere.status, 400);
      assert.match(
        elsewhere.body.message,
        /return_url must be on one of the allowed origins \(https:\/\/app\.example\.com\)/,
      );
      const allowed = await invoke(client, 'stripe-connect-onboarding');
      assert.equal(allowed.status, 200);
    } finally {
      await bare.close();
      await allowList.close();
    }
  });

  test('payout_accounts stay the integration’s: a provider cannot write their own row', async () => {
    const { provider } = await h.marketplace('stripe');
    const client = await h.clientFor(provider);
    const { error } = await client.from('payout_accounts').insert({
      user_id: provider.id,
      stripe_account_id: 'acct_Forged1',
      charges_enabled: true,
      payouts_enabled: true,
    });
    assert.ok(error, 'refused');
    const { rows } = await h.db.query(sql`select 1 from public.payout_accounts where user_id = ${provider.id}`);
    assert.equal(rows.length, 0);
  });
});
