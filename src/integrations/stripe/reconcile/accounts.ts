import type Stripe from 'stripe';
import { sql } from '../../../db/sql.js';
import { applyAccount } from '../events/account.js';
import type { CheckContext, Finding } from './index.js';

/*
 * Connect accounts: each payout account Loconomy mirrors against Stripe's account, and Stripe's
 * accounts made for a Loconomy user that Loconomy never stored (the link is written after Stripe
 * answers; a crash between the two leaves one).
 */

interface LocalAccount {
  readonly user_id: string;
  readonly stripe_account_id: string;
  readonly charges_enabled: boolean;
  readonly payouts_enabled: boolean;
  readonly details_submitted: boolean;
  readonly requirements_due: string[];
  readonly disabled_reason: string | null;
}

/** The fields app.stripe_apply_account mirrors, as Stripe's account gives them. */
function mirrored(account: Stripe.Account) {
  const req = account.requirements;
  return {
    charges_enabled: account.charges_enabled ?? false,
    payouts_enabled: account.payouts_enabled ?? false,
    details_submitted: account.details_submitted ?? false,
    requirements_due: new Set([...(req?.currently_due ?? []), ...(req?.past_due ?? [])]),
    disabled_reason: req?.disabled_reason || null,
  };
}

/** "charges_enabled is false here, true at Stripe; …", or '' when the mirror agrees. */
export function accountDifferences(local: LocalAccount, account: Stripe.Account): string {
  const theirs = mirrored(account);
  const ours = new Set(local.requirements_due);
  const diffs: string[] = [];
  for (const field of ['charges_enabled', 'payouts_enabled', 'details_submitted', 'disabled_reason'] as const) {
    if (local[field] !== theirs[field]) diffs.push(`${field} is ${local[field]} here, ${theirs[field]} at Stripe`);
  }
  const sameDue = ours.size === theirs.requirements_due.size && [...ours].every((r) => theirs.requirements_due.has(r));
  if (!sameDue) {
    const list = (s: Set<string>) => (s.size === 0 ? 'none' : [...s].sort().join(', '));
    diffs.push(`requirements due are ${list(ours)} here, ${list(theirs.requirements_due)} at Stripe`);
  }
  return diffs.join('; ');
}

/** Stripe's error for an object that is gone, or that the platform may no longer read. */
export function unreachable(error: unknown): string | undefined {
  const e = error as { code?: string; statusCode?: number; message?: string };
  if (e.code === 'resource_missing' || e.statusCode === 404) return 'Stripe has no such account';
  if (e.statusCode === 401 || e.statusCode === 403 || e.code === 'account_invalid')
    return `the platform can no longer read it (${e.message ?? 'permission denied'})`;
  return undefined;
}

export async function* checkAccounts(ctx: CheckContext): AsyncIterable<Finding> {
  const { rows } = await ctx.db.query<LocalAccount>(sql`
    select user_id, stripe_account_id, charges_enabled, payouts_enabled, details_submitted, requirements_due,
           disabled_reason
      from public.payout_accounts
     -- A deauthorised account cannot be fetched any more; its mirror says so already.
     where disabled_reason is distinct from 'platform_deauthorized'
     order by created_at`);
  for (const local of rows) {
    ctx.count('account');
    const fetchedAt = new Date();
    let account: Stripe.Account;
    try {
      account = await ctx.stripe.accounts.retrieve(local.stripe_account_id);
    } catch (error) {
      const why = unreachable(error);
      if (why === undefined) throw error;
      yield { kind: 'account', stripeId: local.stripe_account_id, loconomyId: local.user_id, what: why };
      continue;
    }
    const what = accountDifferences(local, account);
    if (what === '') continue;
    yield {
      kind: 'account',
      stripeId: account.id,
      loconomyId: local.user_id,
      what,
      fix: () => applyAccount(ctx.db, account, fetchedAt, null, 0),
    };
  }
}

interface AccountOwner {
  readonly user_id: string | null;
  readonly linked_account: string | null;
  readonly tenant_known: boolean;
}

export async function* checkUnlinkedAccounts(ctx: CheckContext): AsyncIterable<Finding> {
  for await (const account of ctx.stripe.accounts.list({ limit: 100 })) {
    const userId = account.metadata?.loconomy_user_id;
    const tenantId = account.metadata?.loconomy_tenant_id;
    if (userId === undefined || !/^[0-9a-f-]{36}$/.test(userId)) continue; // not made by Loconomy
    ctx.count('connected account');
    const { rows } = await ctx.db.query<AccountOwner>(sql`
      select (select u.id from public.users u where u.id = ${userId}::uuid) as user_id,
             (select a.stripe_account_id from public.payout_accounts a where a.user_id = ${userId}::uuid) as linked_account,
             exists (select 1 from public.tenants t where t.id::text = ${tenantId ?? ''}) as tenant_known`);
    const owner = rows[0] as AccountOwner;
    // Another deployment sharing the Stripe account (test mode is often shared): not ours.
    if (!owner.tenant_known && owner.user_id === null) continue;
    if (owner.linked_account === account.id) continue;
    if (owner.user_id === null) {
      yield {
        kind: 'account',
        stripeId: account.id,
        loconomyId: userId,
        what: 'made for a user Loconomy no longer has',
      };
    } else if (owner.linked_account !== null) {
      yield {
        kind: 'account',
        stripeId: account.id,
        loconomyId: userId,
        what: `a second account for this user, who is paid through ${owner.linked_account}`,
      };
    } else {
      const fetchedAt = new Date();
      yield {
        kind: 'account',
        stripeId: account.id,
        loconomyId: userId,
        what: 'made for this user at Stripe but not stored here',
        fix: async () => {
          await ctx.db.asRole('service_role', { role: 'service_role' }, (tx) =>
            tx.last(sql`select app.stripe_link_payout_account(${userId}::uuid, ${account.id})`),
          );
          return applyAccount(ctx.db, account, fetchedAt, null, 0);
        },
      };
    }
  }
}
