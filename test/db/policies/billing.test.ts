import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Queryable } from '../../../src/db/database.js';
import { type SqlFragment, sql } from '../../../src/db/sql.js';
import {
  createBooking,
  createListing,
  createTenant,
  createUser,
  grantPermission,
  type UserFixture,
} from '../../helpers/fixtures.js';
import { asRole, asUser, getTestDatabase, type TestDatabase, testBackend } from '../../helpers/index.js';

/*
 * 0008 billing: subscriptions, payment_methods, transactions, invoices, invoice_items and
 * usage_logs. Owners read their own rows, payments.read admins their tenant's, providers the
 * payments of their bookings; only trusted callers (the Stripe integration) write, apart from
 * an owner choosing their default payment method.
 */

let db: TestDatabase;

const TABLES = ['subscriptions', 'payment_methods', 'transactions', 'invoices', 'invoice_items', 'usage_logs'] as const;
type Table = (typeof TABLES)[number];
type BillingRows = Record<Table, string[]>;

/** Ids returned by a query, sorted, so views compare independently of order. */
async function ids(tx: Queryable, query: SqlFragment): Promise<string[]> {
  const { rows } = await tx.query<{ id: string }>(query);
  return rows.map((r) => r.id).sort();
}

async function first<T>(tx: Queryable, query: SqlFragment): Promise<T> {
  const { rows } = await tx.query<T>(query);
  assert.equal(rows.length, 1, 'expected exactly one row');
  return rows[0] as T;
}

async function insertId(tx: Queryable, query: SqlFragment): Promise<string> {
  return (await first<{ id: string }>(tx, query)).id;
}

// --- Fixtures, written as the database owner (what the Stripe integration does as service_role) ---

function addSubscription(
  user: UserFixture,
  options: { status?: string; stripeId?: string | null; priceCents?: number } = {},
): Promise<string> {
  return insertId(
    db,
    sql`insert into public.subscriptions (user_id, tier, status, price_cents, current_period_start, current_period_end,
                                          stripe_subscription_id)
        values (${user.id}, 'basic', ${options.status ?? 'active'}::public.subscription_status, ${options.priceCents ?? 1900},
                now(), now() + interval '1 month', ${options.stripeId ?? null})
        returning id`,
  );
}

function addPaymentMethod(
  user: UserFixture,
  options: { isDefault?: boolean; isActive?: boolean; stripeId?: string | null } = {},
): Promise<string> {
  return insertId(
    db,
    sql`insert into public.payment_methods (user_id, type, card_brand, card_last4, card_exp_month, card_exp_year,
                                            billing_address, is_default, is_active, stripe_payment_method_id)
        values (${user.id}, 'card', 'visa', '4242', 12, 2030, ${JSON.stringify({ line1: '1 Main St' })},
                ${options.isDefault ?? false}, ${options.isActive ?? true}, ${options.stripeId ?? null})
        returning id`,
  );
}

function addTransaction(
  user: UserFixture,
  options: {
    bookingId?: string | null;
    amountCents?: number;
    platformFeeCents?: number;
    processingFeeCents?: number;
    status?: string;
    type?: string;
    stripeIntentId?: string | null;
  } = {},
): Promise<string> {
  return insertId(
    db,
    sql`insert into public.transactions (user_id, booking_id, type, status, amount_cents, currency, platform_fee_cents,
                                         processing_fee_cents, stripe_payment_intent_id)
        values (${user.id}, ${options.bookingId ?? null}, ${options.type ?? 'payment'}::public.transaction_type,
                ${options.status ?? 'pending'}::public.payment_status, ${options.amountCents ?? 10000}, 'USD',
                ${options.platformFeeCents ?? 0}, ${options.processingFeeCents ?? 0}, ${options.stripeIntentId ?? null})
        returning id`,
  );
}

function addInvoice(
  user: UserFixture,
  options: { issuedOn?: string; status?: string; taxCents?: number; discountCents?: number; number?: string } = {},
): Promise<string> {
  const tax = options.taxCents ?? 0;
  const discount = options.discountCents ?? 0;
  return insertId(
    db,
    sql`insert into public.invoices (user_id, currency, issued_on, due_on, status, tax_cents, discount_cents, total_cents,
                                     invoice_number)
        values (${user.id}, 'USD', ${options.issuedOn ?? '2024-01-15'}::date, ${options.issuedOn ?? '2024-01-15'}::date + 14,
                ${options.status ?? 'draft'}::public.invoice_status, ${tax}, ${discount}, ${tax - discount},
                ${options.number ?? null})
        returning id`,
  );
}

function addItem(invoiceId: string, quantity: number, unitPriceCents: number): Promise<string> {
  return insertId(
    db,
    sql`insert into public.invoice_items (invoice_id, description, quantity, unit_price_cents, total_cents)
        values (${invoiceId}, 'Pro plan', ${quantity}, ${unitPriceCents}, ${quantity * unitPriceCents})
        returning id`,
  );
}

function addUsage(user: UserFixture): Promise<string> {
  return insertId(
    db,
    sql`insert into public.usage_logs (user_id, feature, quantity, unit, unit_cost_cents, currency)
        values (${user.id}, 'sms.sent', 3, 'message', 5, 'USD') returning id`,
  );
}

async function billingRowsOf(user: UserFixture, bookingId: string | null = null): Promise<BillingRows> {
  const invoice = await addInvoice(user);
  return {
    subscriptions: [await addSubscription(user)],
    payment_methods: [await addPaymentMethod(user, { isDefault: true })],
    transactions: [await addTransaction(user, { bookingId })],
    invoices: [invoice],
    invoice_items: [await addItem(invoice, 1, 1900)],
    usage_logs: [await addUsage(user)],
  };
}

/** What the caller sees of the given rows, table by table. */
async function visible(tx: Queryable, rows: BillingRows): Promise<BillingRows> {
  const seen = {} as BillingRows;
  for (const table of TABLES) {
    seen[table] = await ids(
      tx,
      sql`select id from ${sql.ident('public', table)} where id = any(${rows[table]}::uuid[])`,
    );
  }
  return seen;
}

const sorted = (rows: BillingRows): BillingRows =>
  Object.fromEntries(TABLES.map((t) => [t, [...rows[t]].sort()])) as BillingRows;
const none: BillingRows = Object.fromEntries(TABLES.map((t) => [t, []])) as unknown as BillingRows;

interface World {
  owner: UserFixture;
  stranger: UserFixture;
  admin: UserFixture;
  provider: UserFixture;
  otherTenantUser: UserFixture;
  otherAdmin: UserFixture;
  bookingId: string;
  ownerRows: BillingRows;
  /** The owner's transaction not tied to any booking. */
  ownerFeeId: string;
  otherRows: BillingRows;
}
let w: World;

before(async () => {
  db = await getTestDatabase();
  const otherTenant = await createTenant(db);
  const owner = await createUser(db);
  const provider = await createUser(db, { role: 'provider' });
  const listing = await createListing(db, provider);
  const { id: bookingId } = await createBooking(db, listing, owner, { status: 'confirmed' });
  const otherTenantUser = await createUser(db, { tenantId: otherTenant });
  const ownerRows = await billingRowsOf(owner, bookingId);
  const ownerFeeId = await addTransaction(owner, { type: 'fee', amountCents: 500 });
  ownerRows.transactions.push(ownerFeeId);
  w = {
    owner,
    stranger: await createUser(db),
    admin: await createUser(db, { role: 'admin' }),
    provider,
    otherTenantUser,
    otherAdmin: await createUser(db, { role: 'admin', tenantId: otherTenant }),
    bookingId,
    ownerRows,
    ownerFeeId,
    otherRows: await billingRowsOf(otherTenantUser),
  };
});
after(() => db?.dispose());

describe(`billing: who reads what (${testBackend()})`, () => {
  test('the owner reads their own subscriptions, payment methods, transactions, invoices, lines and usage', async () => {
    const seen = await asUser(db, w.owner.clerkId, (tx) => visible(tx, w.ownerRows));
    assert.deepEqual(seen, sorted(w.ownerRows));
  });

  test("the owner does not read another user's billing rows", async () => {
    const seen = await asUser(db, w.owner.clerkId, (tx) => visible(tx, w.otherRows));
    assert.deepEqual(seen, none);
  });

  test("an unrelated user of the same tenant reads none of the owner's billing rows", async () => {
    const seen = await asUser(db, w.stranger.clerkId, (tx) => visible(tx, w.ownerRows));
    assert.deepEqual(seen, none);
  });

  test('anonymous callers have no access to any billing table', async () => {
    for (const table of TABLES) {
      await assert.rejects(
        asUser(db, null, (tx) => tx.query(sql`select id from ${sql.ident('public', table)}`)),
        { code: '42501' },
        table,
      );
    }
  });

  test("an admin with payments.read reads their tenant's billing, but not users' saved payment methods", async () => {
    const seen = await asUser(db, w.admin.clerkId, (tx) => visible(tx, w.ownerRows));
    assert.deepEqual(seen, { ...sorted(w.ownerRows), payment_methods: [] });
  });

  test("an admin with payments.read reads nothing of another tenant's billing", async () => {
    assert.deepEqual(await asUser(db, w.admin.clerkId, (tx) => visible(tx, w.otherRows)), none);
    assert.deepEqual(await asUser(db, w.otherAdmin.clerkId, (tx) => visible(tx, w.ownerRows)), none);
    assert.deepEqual(await asUser(db, w.otherAdmin.clerkId, (tx) => visible(tx, w.otherRows)), {
      ...sorted(w.otherRows),
      payment_methods: [],
    });
  });

  test('a customer granted payments.read alone reads the billing of their tenant', async () => {
    const clerk = await createUser(db);
    await grantPermission(db, clerk, 'payments.read');
    assert.deepEqual(await asUser(db, clerk.clerkId, (tx) => visible(tx, w.ownerRows)), {
      ...sorted(w.ownerRows),
      payment_methods: [],
    });
  });

  test('a user with another admin permission (bookings.manage) reads no one else’s billing', async () => {
    const manager = await createUser(db);
    await grantPermission(db, manager, 'bookings.manage');
    assert.deepEqual(await asUser(db, manager.clerkId, (tx) => visible(tx, w.ownerRows)), none);
  });

  test('an admin whose payments.read is revoked by an override reads no one else’s billing', async () => {
    const admin = await createUser(db, { role: 'admin' });
    await db.query(sql`
      insert into public.user_permissions (user_id, permission_id, granted)
      select ${admin.id}, id, false from public.permissions where name = 'payments.read'`);
    assert.deepEqual(await asUser(db, admin.clerkId, (tx) => visible(tx, w.ownerRows)), none);
  });

  test("a provider reads the payments of their bookings but not the customer's other transactions", async () => {
    const seen = await asUser(db, w.provider.clerkId, (tx) => visible(tx, w.ownerRows));
    const bookingPayment = w.ownerRows.transactions.filter((id) => id !== w.ownerFeeId);
    assert.deepEqual(seen, { ...none, transactions: bookingPayment });
  });

  test('a suspended owner reads none of their billing rows', async () => {
    const user = await createUser(db);
    const rows = await billingRowsOf(user);
    await db.query(sql`update public.users set status = 'suspended' where id = ${user.id}`);
    assert.deepEqual(await asUser(db, user.clerkId, (tx) => visible(tx, rows)), none);
  });
});

describe(`billing: clients cannot write (${testBackend()})`, () => {
  const rejected = { code: '42501' };

  test('no signed-in user can insert any billing row, not even for themselves', async () => {
    const me = w.owner.id;
    const invoice = w.ownerRows.invoices[0];
    const inserts: [string, SqlFragment][] = [
      ['subscriptions', sql`insert into public.subscriptions (user_id, tier) values (${me}, 'enterprise')`],
      ['payment_methods', sql`insert into public.payment_methods (user_id, type) values (${me}, 'card')`],
      [
        'transactions',
        sql`insert into public.transactions (user_id, type, amount_cents, currency) values (${me}, 'bonus', 100000, 'USD')`,
      ],
      ['invoices', sql`insert into public.invoices (user_id, currency) values (${me}, 'USD')`],
      [
        'invoice_items',
        sql`insert into public.invoice_items (invoice_id, description, quantity, unit_price_cents, total_cents)
            values (${invoice}, 'Free', 1, 0, 0)`,
      ],
      [
        'usage_logs',
        sql`insert into public.usage_logs (user_id, feature, unit) values (${me}, 'api.request', 'request')`,
      ],
    ];
    for (const who of [w.owner, w.admin]) {
      for (const [table, query] of inserts) {
        await assert.rejects(
          asUser(db, who.clerkId, (tx) => tx.query(query)),
          rejected,
          `${who.role} ${table}`,
        );
      }
    }
  });

  test('the owner cannot change plans, amounts, statuses, owners or card details', async () => {
    const r = w.ownerRows;
    const updates: SqlFragment[] = [
      sql`update public.subscriptions set tier = 'enterprise' where id = ${r.subscriptions[0]}`,
      sql`update public.subscriptions set status = 'active', price_cents = 0 where id = ${r.subscriptions[0]}`,
      sql`update public.subscriptions set tenant_id = tenant_id where id = ${r.subscriptions[0]}`,
      sql`update public.payment_methods set is_active = true where id = ${r.payment_methods[0]}`,
      sql`update public.payment_methods set user_id = ${w.stranger.id} where id = ${r.payment_methods[0]}`,
      sql`update public.payment_methods set card_last4 = '0000' where id = ${r.payment_methods[0]}`,
      sql`update public.transactions set status = 'completed' where id = ${r.transactions[0]}`,
      sql`update public.transactions set amount_cents = 1 where id = ${r.transactions[0]}`,
      sql`update public.invoices set status = 'paid', paid_at = now() where id = ${r.invoices[0]}`,
      sql`update public.invoices set amount_paid_cents = total_cents where id = ${r.invoices[0]}`,
      sql`update public.invoice_items set unit_price_cents = 0, total_cents = 0 where id = ${r.invoice_items[0]}`,
      sql`update public.usage_logs set quantity = 1, billable = false where id = ${r.usage_logs[0]}`,
    ];
    for (const query of updates) {
      await assert.rejects(
        asUser(db, w.owner.clerkId, (tx) => tx.query(query)),
        rejected,
        query.text,
      );
    }
  });

  test('neither the owner nor a billing admin can delete billing rows', async () => {
    for (const who of [w.owner, w.admin]) {
      for (const table of TABLES) {
        await assert.rejects(
          asUser(db, who.clerkId, (tx) =>
            tx.query(sql`delete from ${sql.ident('public', table)} where id = any(${w.ownerRows[table]}::uuid[])`),
          ),
          rejected,
          `${who.role} ${table}`,
        );
      }
    }
    assert.deepEqual(await visible(db, w.ownerRows), sorted(w.ownerRows));
  });

  test('a billing admin cannot change billing rows of their tenant either', async () => {
    await assert.rejects(
      asUser(db, w.admin.clerkId, (tx) =>
        tx.query(sql`update public.invoices set status = 'void' where id = ${w.ownerRows.invoices[0]}`),
      ),
      rejected,
    );
    const changed = await asUser(db, w.admin.clerkId, (tx) =>
      tx.query(sql`update public.payment_methods set is_default = false where id = ${w.ownerRows.payment_methods[0]}`),
    );
    assert.equal(changed.rowCount, 0);
  });

  test('service_role (the Stripe integration) writes billing rows', async () => {
    const status = await asRole(db, 'service_role', { role: 'service_role' }, async (tx) => {
      const id = await insertId(
        tx,
        sql`insert into public.transactions (user_id, type, status, amount_cents, currency)
            values (${w.owner.id}, 'refund', 'completed', 2500, 'USD') returning id`,
      );
      return first<{ status: string; tenant_id: string }>(
        tx,
        sql`select status, tenant_id from public.transactions where id = ${id}`,
      );
    });
    assert.deepEqual(status, { status: 'completed', tenant_id: w.owner.tenantId });
  });
});

describe(`billing: default payment method (${testBackend()})`, () => {
  const defaults = (tx: Queryable, user: UserFixture) =>
    tx.query<{ id: string; is_default: boolean }>(
      sql`select id, is_default from public.payment_methods where user_id = ${user.id} order by created_at, id`,
    );

  test('the owner makes another active card their default, which clears the old default', async () => {
    const user = await createUser(db);
    const a = await addPaymentMethod(user, { isDefault: true });
    const b = await addPaymentMethod(user);
    const after = await asUser(db, user.clerkId, async (tx) => {
      const { rowCount } = await tx.query(sql`update public.payment_methods set is_default = true where id = ${b}`);
      assert.equal(rowCount, 1);
      const { rows } = await tx.query<{ id: string; is_default: boolean }>(
        sql`select id, is_default from public.payment_methods where user_id = ${user.id}`,
      );
      return Object.fromEntries(rows.map((r) => [r.id, r.is_default]));
    });
    assert.deepEqual(after, { [a]: false, [b]: true });
  });

  test('the owner can unset their default card', async () => {
    const user = await createUser(db);
    const a = await addPaymentMethod(user, { isDefault: true });
    const after = await asUser(db, user.clerkId, async (tx) => {
      await tx.query(sql`update public.payment_methods set is_default = false where id = ${a}`);
      return (await defaults(tx, user)).rows;
    });
    assert.deepEqual(after, [{ id: a, is_default: false }]);
  });

  test('an inactive (removed) card cannot be made the default by its owner', async () => {
    const user = await createUser(db);
    const a = await addPaymentMethod(user, { isDefault: true });
    const removed = await addPaymentMethod(user, { isActive: false });
    const changed = await asUser(db, user.clerkId, (tx) =>
      tx.query(sql`update public.payment_methods set is_default = true where id = ${removed}`),
    );
    assert.equal(changed.rowCount, 0);
    assert.deepEqual((await defaults(db, user)).rows, [
      { id: a, is_default: true },
      { id: removed, is_default: false },
    ]);
  });

  test("a user cannot choose the default among another user's cards", async () => {
    const user = await createUser(db);
    await addPaymentMethod(user, { isDefault: true });
    const b = await addPaymentMethod(user);
    const changed = await asUser(db, w.stranger.clerkId, (tx) =>
      tx.query(sql`update public.payment_methods set is_default = true where id = ${b}`),
    );
    assert.equal(changed.rowCount, 0);
    assert.deepEqual(
      (await defaults(db, user)).rows.map((r) => r.is_default),
      [true, false],
    );
  });

  test('a new default card saved by the integration replaces the old default', async () => {
    const user = await createUser(db);
    const a = await addPaymentMethod(user, { isDefault: true });
    const b = await addPaymentMethod(user, { isDefault: true });
    assert.deepEqual((await defaults(db, user)).rows, [
      { id: a, is_default: false },
      { id: b, is_default: true },
    ]);
  });

  test("one user's new default leaves other users' defaults alone", async () => {
    const one = await createUser(db);
    const two = await createUser(db);
    const a = await addPaymentMethod(one, { isDefault: true });
    await addPaymentMethod(two, { isDefault: true });
    assert.deepEqual((await defaults(db, one)).rows, [{ id: a, is_default: true }]);
  });

  test('a partial unique index keeps one active default per user even without the trigger', async () => {
    const user = await createUser(db);
    await addPaymentMethod(user, { isDefault: true });
    await assert.rejects(
      db.transaction(async (tx) => {
        await tx.query(sql`alter table public.payment_methods disable trigger payment_methods_single_default`);
        await tx.query(
          sql`insert into public.payment_methods (user_id, type, is_default) values (${user.id}, 'card', true)`,
        );
      }),
      { code: '23505', constraint: 'payment_methods_one_default' },
    );
    // The rolled-back transaction restored the trigger.
    const b = await addPaymentMethod(user, { isDefault: true });
    assert.deepEqual(
      (await defaults(db, user)).rows.filter((r) => r.is_default),
      [{ id: b, is_default: true }],
    );
  });
});

describe(`billing: subscriptions (${testBackend()})`, () => {
  test('a user has at most one live subscription', async () => {
    const user = await createUser(db);
    await addSubscription(user, { status: 'trialing' });
    for (const status of ['active', 'past_due', 'unpaid', 'incomplete']) {
      await assert.rejects(addSubscription(user, { status }), {
        code: '23505',
        constraint: 'subscriptions_one_live_per_user',
      });
    }
  });

  test('ended subscriptions do not block a new live one', async () => {
    const user = await createUser(db);
    await addSubscription(user, { status: 'canceled' });
    await addSubscription(user, { status: 'incomplete_expired' });
    await addSubscription(user, { status: 'active' });
    const { rows } = await db.query(
      sql`select status from public.subscriptions where user_id = ${user.id} order by status`,
    );
    assert.deepEqual(rows, [{ status: 'active' }, { status: 'canceled' }, { status: 'incomplete_expired' }]);
  });

  test('a billing period must end after it starts', async () => {
    const user = await createUser(db);
    await assert.rejects(
      db.query(sql`insert into public.subscriptions (user_id, current_period_start, current_period_end)
                   values (${user.id}, now(), now() - interval '1 day')`),
      { code: '23514' },
    );
  });

  test('billing rows take the tenant of their user, whatever tenant was sent', async () => {
    const user = await createUser(db);
    const otherTenant = await createTenant(db);
    const { tenant_id } = await first<{ tenant_id: string }>(
      db,
      sql`insert into public.subscriptions (user_id, tenant_id) values (${user.id}, ${otherTenant}) returning tenant_id`,
    );
    assert.equal(tenant_id, user.tenantId);
  });

  test('updating a subscription stamps updated_at', async () => {
    const user = await createUser(db);
    const id = await addSubscription(user);
    await db.query(sql`update public.subscriptions set updated_at = '2000-01-01' where id = ${id}`);
    const { fresh } = await first<{ fresh: boolean }>(
      db,
      sql`select updated_at > now() - interval '1 hour' as fresh from public.subscriptions where id = ${id}`,
    );
    assert.equal(fresh, true);
  });
});

describe(`billing: money is checked (${testBackend()})`, () => {
  test('negative amounts are rejected by the cents domain', async () => {
    const user = await createUser(db);
    await assert.rejects(addSubscription(user, { priceCents: -1 }), { code: '23514', message: /domain cents/ });
    await assert.rejects(addTransaction(user, { amountCents: -100 }), { code: '23514', message: /domain cents/ });
    await assert.rejects(addItem(w.ownerRows.invoices[0] as string, 1, -5), { code: '23514', message: /domain cents/ });
  });

  test('a lower-case currency code is rejected', async () => {
    await assert.rejects(
      db.query(sql`insert into public.transactions (user_id, type, amount_cents, currency)
                   values (${w.owner.id}, 'payment', 100, 'usd')`),
      { code: '23514', message: /domain currency_code/ },
    );
  });

  test('an invoice line total must equal quantity × unit price', async () => {
    const invoice = await addInvoice(w.stranger);
    await assert.rejects(
      db.query(sql`insert into public.invoice_items (invoice_id, description, quantity, unit_price_cents, total_cents)
                   values (${invoice}, 'Seats', 3, 1000, 2999)`),
      { code: '23514', constraint: 'invoice_items_check' },
    );
  });

  test('an invoice total must equal subtotal + tax − discount', async () => {
    await assert.rejects(
      db.query(sql`insert into public.invoices (user_id, currency, subtotal_cents, tax_cents, discount_cents, total_cents)
                   values (${w.stranger.id}, 'USD', 1000, 100, 50, 1000)`),
      { code: '23514', constraint: 'invoices_check1' },
    );
  });

  test('an invoice cannot record more paid than its total', async () => {
    await assert.rejects(
      db.query(sql`insert into public.invoices (user_id, currency, subtotal_cents, total_cents, amount_paid_cents)
                   values (${w.stranger.id}, 'USD', 1000, 1000, 1001)`),
      { code: '23514', constraint: 'invoices_check2' },
    );
  });

  test('transaction fees cannot exceed the amount', async () => {
    await assert.rejects(
      addTransaction(w.stranger, { amountCents: 1000, platformFeeCents: 800, processingFeeCents: 201 }),
      {
        code: '23514',
        constraint: 'transactions_check',
      },
    );
  });

  test('net_amount_cents is amount − platform fee − processing fee, recomputed on change and never written', async () => {
    const id = await addTransaction(w.stranger, {
      amountCents: 10000,
      platformFeeCents: 1000,
      processingFeeCents: 320,
    });
    const net = () =>
      first<{ net_amount_cents: string }>(db, sql`select net_amount_cents from public.transactions where id = ${id}`);
    assert.deepEqual(await net(), { net_amount_cents: '8680' });
    await db.query(sql`update public.transactions set processing_fee_cents = 0 where id = ${id}`);
    assert.deepEqual(await net(), { net_amount_cents: '9000' });
    await assert.rejects(db.query(sql`update public.transactions set net_amount_cents = 10000 where id = ${id}`), {
      code: '428C9',
    });
  });

  test('a completed transaction always has processed_at, stamped when missing', async () => {
    const completed = await addTransaction(w.stranger, { status: 'completed' });
    const pending = await addTransaction(w.stranger);
    const processed = (id: string) =>
      first<{ stamped: boolean }>(
        db,
        sql`select processed_at is not null as stamped from public.transactions where id = ${id}`,
      );
    assert.deepEqual(await processed(completed), { stamped: true });
    assert.deepEqual(await processed(pending), { stamped: false });
    await db.query(sql`update public.transactions set status = 'completed' where id = ${pending}`);
    assert.deepEqual(await processed(pending), { stamped: true });
  });

  test('usage with a unit cost needs a currency, and quantities are positive', async () => {
    await assert.rejects(
      db.query(
        sql`insert into public.usage_logs (user_id, feature, unit, unit_cost_cents) values (${w.stranger.id}, 'sms.sent', 'message', 5)`,
      ),
      { code: '23514', constraint: 'usage_logs_check' },
    );
    await assert.rejects(
      db.query(
        sql`insert into public.usage_logs (user_id, feature, unit, quantity) values (${w.stranger.id}, 'sms.sent', 'message', 0)`,
      ),
      { code: '23514' },
    );
    await assert.rejects(
      db.query(
        sql`insert into public.usage_logs (user_id, feature, unit) values (${w.stranger.id}, 'SMS Sent', 'message')`,
      ),
      { code: '23514' },
    );
  });
});

describe(`billing: invoice totals and lines (${testBackend()})`, () => {
  const totals = (invoice: string) =>
    first<{ subtotal_cents: string; tax_cents: string; discount_cents: string; total_cents: string }>(
      db,
      sql`select subtotal_cents, tax_cents, discount_cents, total_cents from public.invoices where id = ${invoice}`,
    );

  test('adding lines recomputes the subtotal and the total with tax and discount', async () => {
    const invoice = await addInvoice(w.stranger, { taxCents: 300, discountCents: 200 });
    assert.deepEqual(await totals(invoice), {
      subtotal_cents: '0',
      tax_cents: '300',
      discount_cents: '200',
      total_cents: '100',
    });
    await addItem(invoice, 2, 1500);
    await addItem(invoice, 1, 999);
    assert.deepEqual(await totals(invoice), {
      subtotal_cents: '3999',
      tax_cents: '300',
      discount_cents: '200',
      total_cents: '4099',
    });
  });

  test('changing and deleting lines recomputes the totals', async () => {
    const invoice = await addInvoice(w.stranger, { taxCents: 100 });
    const a = await addItem(invoice, 1, 1000);
    const b = await addItem(invoice, 2, 500);
    await db.query(sql`update public.invoice_items set quantity = 3, total_cents = 1500 where id = ${b}`);
    assert.deepEqual(await totals(invoice), {
      subtotal_cents: '2500',
      tax_cents: '100',
      discount_cents: '0',
      total_cents: '2600',
    });
    await db.query(sql`delete from public.invoice_items where id = ${a}`);
    assert.deepEqual(await totals(invoice), {
      subtotal_cents: '1500',
      tax_cents: '100',
      discount_cents: '0',
      total_cents: '1600',
    });
    await db.query(sql`delete from public.invoice_items where id = ${b}`);
    assert.deepEqual(await totals(invoice), {
      subtotal_cents: '0',
      tax_cents: '100',
      discount_cents: '0',
      total_cents: '100',
    });
  });

  test('moving a line to another invoice recomputes both invoices', async () => {
    const from = await addInvoice(w.stranger);
    const to = await addInvoice(w.stranger);
    await addItem(from, 1, 700);
    const moved = await addItem(from, 1, 300);
    await db.query(sql`update public.invoice_items set invoice_id = ${to} where id = ${moved}`);
    assert.deepEqual(await totals(from), {
      subtotal_cents: '700',
      tax_cents: '0',
      discount_cents: '0',
      total_cents: '700',
    });
    assert.deepEqual(await totals(to), {
      subtotal_cents: '300',
      tax_cents: '0',
      discount_cents: '0',
      total_cents: '300',
    });
  });

  test('deleting an invoice deletes its lines', async () => {
    const invoice = await addInvoice(w.stranger);
    const item = await addItem(invoice, 1, 100);
    await db.query(sql`delete from public.invoices where id = ${invoice}`);
    assert.deepEqual(await ids(db, sql`select id from public.invoice_items where id = ${item}`), []);
  });

  for (const status of ['paid', 'void', 'uncollectible']) {
    test(`the lines of a ${status} invoice cannot be added, changed or deleted`, async () => {
      const invoice = await addInvoice(w.stranger);
      const item = await addItem(invoice, 1, 1000);
      await db.query(
        sql`update public.invoices set status = ${status}::public.invoice_status, paid_at = now() where id = ${invoice}`,
      );
      const frozen = {
        code: '23514',
        message: new RegExp(`^invoice INV-\\d{4}-\\d{6} is ${status}: its lines cannot change$`),
      };
      await assert.rejects(addItem(invoice, 1, 1), frozen);
      await assert.rejects(
        db.query(sql`update public.invoice_items set quantity = 2, total_cents = 2000 where id = ${item}`),
        frozen,
      );
      await assert.rejects(db.query(sql`delete from public.invoice_items where id = ${item}`), frozen);
      assert.deepEqual(await totals(invoice), {
        subtotal_cents: '1000',
        tax_cents: '0',
        discount_cents: '0',
        total_cents: '1000',
      });
    });
  }

  test('an invoice issued as paid gets paid_at', async () => {
    const invoice = await addInvoice(w.stranger, { status: 'paid' });
    const { stamped } = await first<{ stamped: boolean }>(
      db,
      sql`select paid_at is not null as stamped from public.invoices where id = ${invoice}`,
    );
    assert.equal(stamped, true);
  });
});

describe(`billing: invoice numbers (${testBackend()})`, () => {
  const numberOf = async (invoice: string) =>
    (await first<{ invoice_number: string }>(db, sql`select invoice_number from public.invoices where id = ${invoice}`))
      .invoice_number;

  test('invoice numbers are INV-YYYY-000001 onwards, per tenant and per year', async () => {
    const one = await createUser(db, { tenantId: await createTenant(db) });
    const two = await createUser(db, { tenantId: await createTenant(db) });
    const numbers = [
      await numberOf(await addInvoice(one, { issuedOn: '2019-03-01' })),
      await numberOf(await addInvoice(one, { issuedOn: '2019-07-01' })),
      await numberOf(await addInvoice(two, { issuedOn: '2019-03-02' })),
      await numberOf(await addInvoice(one, { issuedOn: '2019-12-31' })),
      await numberOf(await addInvoice(one, { issuedOn: '2020-01-01' })),
      await numberOf(await addInvoice(two, { issuedOn: '2019-05-05' })),
    ];
    assert.deepEqual(numbers, [
      'INV-2019-000001',
      'INV-2019-000002',
      'INV-2019-000001',
      'INV-2019-000003',
      'INV-2020-000001',
      'INV-2019-000002',
    ]);
  });

  test('a failed insert does not use up a number (numbering is gapless)', async () => {
    const user = await createUser(db, { tenantId: await createTenant(db) });
    await addInvoice(user, { issuedOn: '2018-02-01' });
    await assert.rejects(
      db.query(sql`insert into public.invoices (user_id, currency, issued_on, due_on)
                   values (${user.id}, 'USD', '2018-02-10', '2018-02-01')`),
      { code: '23514', constraint: 'invoices_check' },
    );
    assert.equal(await numberOf(await addInvoice(user, { issuedOn: '2018-03-01' })), 'INV-2018-000002');
  });

  test('a number given by the integration is kept, and numbers are unique per tenant', async () => {
    const user = await createUser(db, { tenantId: await createTenant(db) });
    const given = await addInvoice(user, { number: 'IMPORTED-7' });
    assert.equal(await numberOf(given), 'IMPORTED-7');
    await assert.rejects(addInvoice(user, { number: 'IMPORTED-7' }), {
      code: '23505',
      constraint: 'invoices_tenant_id_invoice_number_key',
    });
    const elsewhere = await createUser(db, { tenantId: await createTenant(db) });
    assert.equal(await numberOf(await addInvoice(elsewhere, { number: 'IMPORTED-7' })), 'IMPORTED-7');
  });

  test('clients cannot read or write the invoice counters', async () => {
    await assert.rejects(
      asUser(db, w.admin.clerkId, (tx) => tx.query(sql`select * from app.invoice_counters`)),
      { code: '42501' },
    );
  });
});

describe(`billing: Stripe ids and audit trail (${testBackend()})`, () => {
  test('each Stripe id identifies one row', async () => {
    const user = await createUser(db);
    const other = await createUser(db);
    const suffix = user.clerkId;
    await addSubscription(user, { stripeId: `sub_${suffix}` });
    await assert.rejects(addSubscription(other, { stripeId: `sub_${suffix}` }), {
      code: '23505',
      constraint: 'subscriptions_stripe_subscription_id_key',
    });
    await addPaymentMethod(user, { stripeId: `pm_${suffix}` });
    await assert.rejects(addPaymentMethod(other, { stripeId: `pm_${suffix}` }), {
      code: '23505',
      constraint: 'payment_methods_stripe_payment_method_id_key',
    });
    await addTransaction(user, { stripeIntentId: `pi_${suffix}` });
    await assert.rejects(addTransaction(other, { stripeIntentId: `pi_${suffix}` }), {
      code: '23505',
      constraint: 'transactions_stripe_payment_intent_id_key',
    });
    await db.query(
      sql`insert into public.invoices (user_id, currency, stripe_invoice_id) values (${user.id}, 'USD', ${`in_${suffix}`})`,
    );
    await assert.rejects(
      db.query(
        sql`insert into public.invoices (user_id, currency, stripe_invoice_id) values (${other.id}, 'USD', ${`in_${suffix}`})`,
      ),
      { code: '23505', constraint: 'invoices_stripe_invoice_id_key' },
    );
  });

  const auditOf = (id: string) =>
    db.query<{
      action: string;
      actor_id: string | null;
      changed_columns: string[] | null;
      new_values: Record<string, unknown> | null;
      metadata: Record<string, unknown>;
    }>(
      sql`select action, actor_id, changed_columns, new_values, metadata from public.audit_logs
          where resource_id = ${id} order by created_at, action`,
    );

  test('transactions are audited on insert, update and delete', async () => {
    const user = await createUser(db);
    const id = await addTransaction(user, { amountCents: 4200 });
    await db.query(sql`update public.transactions set status = 'completed' where id = ${id}`);
    await db.query(sql`delete from public.transactions where id = ${id}`);
    const { rows } = await auditOf(id);
    assert.deepEqual(
      rows.map((r) => [r.action, r.changed_columns]),
      [
        ['create', null],
        ['update', ['processed_at', 'status']],
        ['delete', null],
      ],
    );
    assert.equal(rows[0]?.new_values?.amount_cents, 4200);
    const { rows: kinds } = await db.query(
      sql`select distinct resource_type, tenant_id from public.audit_logs where resource_id = ${id}`,
    );
    assert.deepEqual(kinds, [{ resource_type: 'transactions', tenant_id: user.tenantId }]);
  });

  test('payment methods are audited without the billing address, and name the owner who chose a default', async () => {
    const user = await createUser(db);
    await addPaymentMethod(user, { isDefault: true });
    const b = await addPaymentMethod(user);
    await asUser(
      db,
      user.clerkId,
      (tx) => tx.query(sql`update public.payment_methods set is_default = true where id = ${b}`),
      { commit: true },
    );
    const { rows } = await auditOf(b);
    assert.deepEqual(
      rows.map((r) => [r.action, r.actor_id, r.changed_columns]),
      [
        ['create', null, null],
        ['update', user.id, ['is_default']],
      ],
    );
    assert.equal(rows[0]?.new_values?.card_last4, '4242');
    assert.equal('billing_address' in (rows[0]?.new_values ?? {}), false);
    assert.deepEqual(rows[0]?.metadata, { redacted: ['billing_address'] });
  });

  test('the owner cannot read the audit trail of their billing rows', async () => {
    const seen = await asUser(db, w.owner.clerkId, (tx) =>
      ids(tx, sql`select id from public.audit_logs where resource_id = any(${w.ownerRows.transactions}::uuid[])`),
    );
    assert.deepEqual(seen, []);
  });
});
