import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from '../../../src/db/sql.js';
import { STRIPE_API_VERSION } from '../../../src/integrations/stripe/client.js';
import { getTestDatabase, startTestServer, type TestDatabase } from '../../helpers/index.js';
import type { StripeDouble } from './double.js';
import { eventRow, payoutAccount, processed, type StripeHarness, stripeHarness, stripeJobs, until } from './support.js';

/*
 * POST /webhooks/stripe on this backend (decision 0023): signatures made by Stripe's own
 * algorithm at a Stripe double, recorded once in inbound_webhook_events with a job in the same
 * transaction, processed by real graphile-worker jobs that re-fetch the account from the double.
 */

let h: StripeHarness;

before(async () => {
  h = await stripeHarness();
});

after(async () => {
  await h?.close();
});

/** A provider whose Connect account exists at the double and in payout_accounts. */
async function connectedProvider() {
  const { provider } = await h.marketplace();
  const account = await createAccountAtDouble();
  await h.db.query(sql`
    insert into public.payout_accounts (user_id, stripe_account_id) values (${provider.id}, ${account})`);
  return { provider, account };
}

async function createAccountAtDouble(): Promise<string> {
  const response = await fetch(`${h.double.url}/v1/accounts`, {
    method: 'POST',
    headers: { authorization: `Bearer ${h.double.secretKey}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'type=express&country=GB&capabilities[transfers][requested]=true&capabilities[card_payments][requested]=true',
  });
  const json = (await response.json()) as { id: string };
  return json.id;
}

async function inboundCount(): Promise<number> {
  const { rows } = await h.db.query<{ n: number }>(sql`
    select count(*)::int as n from public.inbound_webhook_events where provider = 'stripe'`);
  return rows[0]?.n ?? 0;
}

describe('refused deliveries: 400, nothing recorded', () => {
  test('forged (another secret), tampered, stale, missing signature, garbage signature', async () => {
    const account = await createAccountAtDouble();
    const before = await inboundCount();
    const cases: [string, Parameters<StripeDouble['deliver']>[2], RegExp][] = [
      ['forged', { secret: 'whsec_someoneelse0000000000000000' }, /No signatures found matching/],
      ['tampered', { tamper: (b) => b.replace('"account.updated"', '"account.updatee"') }, /No signatures found/],
      ['stale', { timestamp: Math.floor(Date.now() / 1000) - 301 }, /Timestamp outside the tolerance zone/],
      ['missing', { signature: null }, /Stripe-Signature header is missing/],
      ['garbage', { signature: 'nonsense' }, /Unable to extract timestamp and signatures from header/],
    ];
    for (const [name, options, message] of cases) {
      const event = h.double.accountUpdated(account);
      const answer = await h.double.deliver(h.webhookUrl, event, options);
      assert.equal(answer.status, 400, `${name}: ${JSON.stringify(answer.json)}`);
      assert.equal(answer.json.code, 'LOCO_WEBHOOK_INVALID', name);
      assert.match(answer.json.message, message, name);
      assert.equal(await eventRow(h.db, event.id as string), undefined, `${name}: not recorded`);
    }
    assert.equal(await inboundCount(), before);
  });

  test('a live-mode event at a test key, and a signed body that is not an event', async () => {
    const account = await createAccountAtDouble();
    const live = h.double.event('account.updated', h.double.account(account), { account, livemode: true });
    const answer = await h.double.deliver(h.webhookUrl, live);
    assert.equal(answer.status, 400);
    assert.match(answer.json.message, /live-mode event reached a server whose STRIPE_SECRET_KEY is a test key/);
    const notEvent = await h.double.deliver(h.webhookUrl, JSON.stringify({ hello: 'world' }));
    assert.equal(notEvent.status, 400);
    assert.match(notEvent.json.message, /not a Stripe event/);
    assert.equal(await eventRow(h.db, live.id as string), undefined);
  });

  test('unconfigured: 503 LOCO_WEBHOOK_UNCONFIGURED, nothing recorded', async () => {
    const db: TestDatabase = await getTestDatabase();
    const server = await startTestServer(db, {});
    try {
      const account = await createAccountAtDouble();
      const event = h.double.accountUpdated(account);
      const answer = await h.double.deliver(`${server.url}/webhooks/stripe`, event);
      assert.equal(answer.status, 503);
      assert.equal(answer.json.code, 'LOCO_WEBHOOK_UNCONFIGURED');
      const { rows } = await db.query(sql`select 1 from public.inbound_webhook_events where provider = 'stripe'`);
      assert.equal(rows.length, 0);
    } finally {
      await server.close();
      await db.dispose();
    }
  });
});

describe('recording and processing', () => {
  test('account.updated: recorded, answered 200 before processing, then the re-fetched account is mirrored', async () => {
    const { provider, account } = await connectedProvider();
    h.double.updateAccount(account, {
      details_submitted: true,
      currently_due: ['external_account'],
      past_due: ['individual.dob.day'],
    });
    const event = h.double.accountUpdated(account);
    // The job runner is not started yet: the answer does not wait for processing.
    const answer = await h.double.deliver(h.webhookUrl, event);
    assert.equal(answer.status, 200, JSON.stringify(answer.json));
    assert.deepEqual(answer.json, { received: true, outcome: 'recorded' });
    const recorded = await eventRow(h.db, event.id as string);
    assert.equal(recorded?.event_type, 'account.updated');
    assert.equal(recorded?.processed_at, null);

    const requestsBefore = h.double.requests.length;
    await h.startJobs();
    const row = await processed(h.db, event.id as string);
    assert.equal(row.outcome, 'applied');
    assert.equal(row.attempts, 1);
    const retrieved = h.double.requests.slice(requestsBefore).filter((r) => r.path === `/v1/accounts/${account}`);
    assert.equal(retrieved.length, 1, 'the account was fetched again from Stripe');
    assert.equal(retrieved[0]?.stripeVersion, STRIPE_API_VERSION, 'requests carry the pinned API version');
    const mirrored = await payoutAccount(h.db, provider.id);
    assert.equal(mirrored?.details_submitted, true);
    assert.equal(mirrored?.charges_enabled, false);
    assert.deepEqual(mirrored?.requirements_due, ['external_account', 'individual.dob.day']);
    assert.equal(mirrored?.disabled_reason, 'requirements.past_due');
    assert.equal(mirrored?.country, 'GB');
    assert.equal(mirrored?.default_currency, 'GBP');
    assert.ok(mirrored?.stripe_synced_at);
  });

  test('a duplicate delivery is answered duplicate and processed once', async () => {
    await h.startJobs();
    const { provider, account } = await connectedProvider();
    h.double.completeOnboarding(account);
    const event = h.double.accountUpdated(account);
    const first = await h.double.deliver(h.webhookUrl, event);
    assert.equal(first.json.outcome, 'recorded');
    await processed(h.db, event.id as string);
    const fetches = () => h.double.requests.filter((r) => r.path === `/v1/accounts/${account}`).length;
    const fetched = fetches();
    const again = await h.double.deliver(h.webhookUrl, event);
    assert.equal(again.status, 200);
    assert.deepEqual(again.json, { received: true, outcome: 'duplicate', processed: true });
    assert.equal(fetches(), fetched, 'a processed event is not processed again');
    assert.equal((await payoutAccount(h.db, provider.id))?.charges_enabled, true);
  });

  test('concurrent duplicates of one event: one recorded, one job, processed once', async () => {
    await h.startJobs();
    const { provider, account } = await connectedProvider();
    h.double.completeOnboarding(account);
    const event = h.double.accountUpdated(account);
    const answers = await h.double.deliverAll(h.webhookUrl, Array(8).fill(event), { concurrent: true });
    assert.deepEqual(
      answers.map((a) => a.status),
      Array(8).fill(200),
    );
    assert.equal(answers.filter((a) => a.json.outcome === 'recorded').length, 1);
    assert.equal(answers.filter((a) => a.json.outcome === 'duplicate').length, 7);
    const row = await processed(h.db, event.id as string);
    assert.equal(row.outcome, 'applied');
    const { rows } = await h.db.query<{ n: number }>(sql`
      select count(*)::int as n from public.inbound_webhook_events where provider = 'stripe' and event_id = ${event.id as string}`);
    assert.equal(rows[0]?.n, 1);
    // Every job that ran for it is gone, and the account was fetched by one of them only.
    await until(async () => (await stripeJobs(h.db)) === 0);
    assert.equal(h.double.requests.filter((r) => r.path === `/v1/accounts/${account}` && r.method === 'GET').length, 1);
    assert.equal((await payoutAccount(h.db, provider.id))?.payouts_enabled, true);
  });

  test('out of order: the newer event first, the stale one after, ends with Stripe’s latest state', async () => {
    await h.startJobs();
    const { provider, account } = await connectedProvider();
    // Stripe sends e1 (still due) then e2 (enabled); they arrive e2 first, e1 late.
    h.double.updateAccount(account, { details_submitted: true, currently_due: ['external_account'], past_due: [] });
    const e1 = h.double.accountUpdated(account);
    h.double.completeOnboarding(account);
    const e2 = h.double.accountUpdated(account, { created: (e1.created as number) + 1 });
    assert.equal((e1.data as { object: { charges_enabled: boolean } }).object.charges_enabled, false);

    await h.double.deliver(h.webhookUrl, e2);
    await processed(h.db, e2.id as string);
    await h.double.deliver(h.webhookUrl, e1);
    const late = await processed(h.db, e1.id as string);
    assert.equal(late.outcome, 'applied', 'the late event re-fetched the account: its stale snapshot was not applied');
    const mirrored = await payoutAccount(h.db, provider.id);
    assert.equal(mirrored?.charges_enabled, true);
    assert.equal(mirrored?.payouts_enabled, true);
    assert.deepEqual(mirrored?.requirements_due, []);
    assert.equal(mirrored?.disabled_reason, null);

    // And shuffled with duplicates: a later change wins whatever the order.
    h.double.updateAccount(account, {
      payouts_enabled: false,
      currently_due: ['external_account'],
      past_due: ['external_account'],
    });
    const e3 = h.double.accountUpdated(account);
    await h.double.deliverAll(h.webhookUrl, [e3, e1, e2, e3, e1], { concurrent: true });
    await processed(h.db, e3.id as string);
    await until(async () => (await stripeJobs(h.db)) === 0);
    const final = await payoutAccount(h.db, provider.id);
    assert.equal(final?.payouts_enabled, false);
    assert.deepEqual(final?.requirements_due, ['external_account']);
  });

  test('a failed processing is recorded (attempts, last_error) and retried by the queue until it succeeds', async () => {
    await h.startJobs();
    const { provider, account } = await connectedProvider();
    h.double.completeOnboarding(account);
    // Stripe fails the re-fetch three times (the SDK retries twice itself): the first job attempt fails.
    for (let i = 0; i < 3; i++) h.double.failNext('GET', new RegExp(`^/v1/accounts/${account}$`), 500);
    const event = h.double.accountUpdated(account);
    await h.double.deliver(h.webhookUrl, event);
    const failed = await until(async () => {
      const row = await eventRow(h.db, event.id as string);
      return row?.last_error ? row : undefined;
    });
    assert.equal(failed.processed_at, null);
    assert.equal(failed.attempts, 1);
    assert.match(failed.last_error ?? '', /Failure injected by the test/);
    // graphile-worker retries after exp(1) ≈ 2.7 s; a redelivery by Stripe makes it run at once.
    const again = await h.double.deliver(h.webhookUrl, event);
    assert.deepEqual(again.json, { received: true, outcome: 'duplicate', processed: false });
    const row = await processed(h.db, event.id as string);
    assert.equal(row.outcome, 'applied');
    assert.equal(row.last_error, null);
    assert.equal((await payoutAccount(h.db, provider.id))?.charges_enabled, true);
  });

  test('unknown types are recorded and marked ignored; accounts Loconomy did not create are ignored', async () => {
    await h.startJobs();
    const unknown = h.double.event('customer.created', { id: 'cus_Unknown1', object: 'customer' });
    assert.equal((await h.double.deliver(h.webhookUrl, unknown)).status, 200);
    assert.equal((await processed(h.db, unknown.id as string)).outcome, 'ignored');

    const foreign = await createAccountAtDouble();
    const event = h.double.accountUpdated(foreign);
    await h.double.deliver(h.webhookUrl, event);
    assert.equal((await processed(h.db, event.id as string)).outcome, 'ignored');
  });

  test('account.application.deauthorized turns charges and payouts off', async () => {
    await h.startJobs();
    const { provider, account } = await connectedProvider();
    h.double.completeOnboarding(account);
    const updated = h.double.accountUpdated(account);
    await h.double.deliver(h.webhookUrl, updated);
    await processed(h.db, updated.id as string);
    assert.equal((await payoutAccount(h.db, provider.id))?.charges_enabled, true);

    const event = h.double.event(
      'account.application.deauthorized',
      { id: 'ca_Loconomy', object: 'application', name: 'Loconomy' },
      { account },
    );
    await h.double.deliver(h.webhookUrl, event);
    assert.equal((await processed(h.db, event.id as string)).outcome, 'applied');
    const mirrored = await payoutAccount(h.db, provider.id);
    assert.equal(mirrored?.charges_enabled, false);
    assert.equal(mirrored?.payouts_enabled, false);
    assert.equal(mirrored?.disabled_reason, 'platform_deauthorized');
  });
});
