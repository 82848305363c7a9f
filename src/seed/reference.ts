import type { Queryable } from '../db/database.js';
import { sql } from '../db/sql.js';
import { LoconomyError } from '../errors.js';
import {
  CATEGORIES,
  type CategoryContent,
  CITY_LOCALES,
  DEFAULT_LOCALE,
  genericCategory,
  type Locale,
} from './content.js';

/** What the demo builds on: the reference data db/seed put in place. */
export interface Reference {
  readonly tenant: { id: string; serviceFeeBps: number; platformFeeBps: number };
  readonly cities: readonly City[];
  readonly categories: readonly Category[];
  readonly tags: readonly Tag[];
  readonly program: ReferralProgram | undefined;
  /** Last invoice number used per year in the tenant (app.invoice_counters). */
  readonly invoiceCounters: ReadonlyMap<number, number>;
}

export interface City {
  readonly index: number;
  readonly id: string;
  readonly name: string;
  readonly slug: string;
  readonly state: string | null;
  readonly country: string;
  readonly timeZone: string;
  readonly lon: number;
  readonly lat: number;
  readonly population: number;
  readonly currency: string;
  readonly taxBps: number;
  readonly locale: Locale;
}

export interface Category {
  readonly index: number;
  readonly id: string;
  readonly slug: string;
  readonly parentSlug: string | null;
  readonly content: CategoryContent;
}

export interface Tag {
  readonly index: number;
  readonly id: string;
  readonly name: string;
  readonly slug: string;
  /** Rank by name, by id and by physical position: see tagSetIsOrderFree in catalog.ts. */
  readonly nameRank: number;
  readonly idRank: number;
  readonly heapRank: number;
}

export interface ReferralProgram {
  readonly id: string;
  readonly rewardType: string;
  readonly referrerRewardCents: number;
  readonly refereeRewardCents: number;
  readonly currency: string;
  readonly minimumSpendCents: number;
  readonly maxUsesPerCode: number | null;
  readonly codeValidityDays: number | null;
  readonly rewardValidityDays: number | null;
}

export async function readReference(tx: Queryable): Promise<Reference> {
  const tenants = await tx.query<{ id: string; service_fee_bps: number; platform_fee_bps: number }>(sql`
    select id, service_fee_bps, platform_fee_bps from public.tenants where is_default and is_active`);
  const tenant = tenants.rows[0];
  if (!tenant) {
    throw new LoconomyError(
      'LOCO_DEMO_NO_REFERENCE_DATA',
      'the database has no active default tenant to put the demo data in',
      'run `loconomy seed` to load the reference data first',
    );
  }

  const cityRows = await tx.query<{
    id: string;
    name: string;
    slug: string;
    state_province: string | null;
    country_code: string;
    time_zone: string;
    lon: number;
    lat: number;
    population: number | null;
    currency: string;
    tax_rate_bps: number;
  }>(sql`
    select c.id, c.name, c.slug, c.state_province, c.country_code, c.time_zone,
           extensions.st_x(c.location::extensions.geometry) as lon, extensions.st_y(c.location::extensions.geometry) as lat,
           c.population, r.currency, r.tax_rate_bps
      from public.cities c join public.regions r on r.id = c.region_id
     where c.is_active and r.is_active and c.location is not null
     order by c.slug, c.id`);
  if (cityRows.rows.length === 0) {
    throw new LoconomyError(
      'LOCO_DEMO_NO_REFERENCE_DATA',
      'the database has no active cities to place demo listings in',
      'run `loconomy seed` to load the reference data first',
    );
  }
  const cities = cityRows.rows.map((c, index) => ({
    index,
    id: c.id,
    name: c.name,
    slug: c.slug,
    state: c.state_province,
    country: c.country_code,
    timeZone: c.time_zone,
    lon: Number(c.lon),
    lat: Number(c.lat),
    population: Number(c.population ?? 100_000),
    currency: c.currency,
    taxBps: c.tax_rate_bps,
    locale: CITY_LOCALES[c.slug] ?? DEFAULT_LOCALE,
  }));

  // Leaf categories shared by every tenant or owned by this one.
  const categoryRows = await tx.query<{ id: string; slug: string; name: string; parent_slug: string | null }>(sql`
    select c.id, c.slug, c.name, p.slug as parent_slug
      from public.categories c left join public.categories p on p.id = c.parent_id
     where c.is_active and (c.tenant_id is null or c.tenant_id = ${tenant.id})
       and not exists (select 1 from public.categories k where k.parent_id = c.id)
     order by c.slug, c.id`);
  if (categoryRows.rows.length === 0) {
    throw new LoconomyError(
      'LOCO_DEMO_NO_REFERENCE_DATA',
      'the database has no active categories for demo listings',
      'run `loconomy seed` to load the reference data first',
    );
  }
  const bySlug = new Map(CATEGORIES.map((c) => [c.slug, c]));
  const categories = categoryRows.rows.map((c, index) => ({
    index,
    id: c.id,
    slug: c.slug,
    parentSlug: c.parent_slug,
    content: bySlug.get(c.slug) ?? genericCategory(c.slug, c.name),
  }));

  const tagRows = await tx.query<{
    id: string;
    name: string;
    slug: string;
    name_rank: string;
    id_rank: string;
    heap_rank: string;
  }>(sql`
    select id, name, slug,
           rank() over (order by name) as name_rank,
           rank() over (order by id) as id_rank,
           rank() over (order by ctid) as heap_rank
      from public.tags
     where tenant_id is null or tenant_id = ${tenant.id}
     order by slug, id`);
  const tags = tagRows.rows.map((t, index) => ({
    index,
    id: t.id,
    name: t.name,
    slug: t.slug,
    nameRank: Number(t.name_rank),
    idRank: Number(t.id_rank),
    heapRank: Number(t.heap_rank),
  }));

  const programs = await tx.query<{
    id: string;
    reward_type: string;
    referrer_reward_cents: string;
    referee_reward_cents: string;
    currency: string;
    minimum_spend_cents: string;
    max_uses_per_code: number | null;
    code_validity_days: number | null;
    reward_validity_days: number | null;
  }>(sql`
    select id, reward_type::text, referrer_reward_cents, referee_reward_cents, currency, minimum_spend_cents,
           max_uses_per_code, code_validity_days, reward_validity_days
      from public.referral_programs
     where is_active and (tenant_id is null or tenant_id = ${tenant.id})
     order by tenant_id nulls last, created_at, id
     limit 1`);
  const p = programs.rows[0];
  const program = p && {
    id: p.id,
    rewardType: p.reward_type,
    referrerRewardCents: Number(p.referrer_reward_cents),
    refereeRewardCents: Number(p.referee_reward_cents),
    currency: p.currency,
    minimumSpendCents: Number(p.minimum_spend_cents),
    maxUsesPerCode: p.max_uses_per_code,
    codeValidityDays: p.code_validity_days,
    rewardValidityDays: p.reward_validity_days,
  };

  const counters = await tx.query<{ year: number; last_number: number }>(sql`
    select year, last_number from app.invoice_counters where tenant_id = ${tenant.id}`);

  return {
    tenant: { id: tenant.id, serviceFeeBps: tenant.service_fee_bps, platformFeeBps: tenant.platform_fee_bps },
    cities,
    categories,
    tags,
    program,
    invoiceCounters: new Map(counters.rows.map((r) => [r.year, r.last_number])),
  };
}
