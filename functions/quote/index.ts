import { z } from 'zod';
import type { FunctionContext, FunctionTransaction } from '../../src/functions/types.ts';

/**
 * quote: what a booking of a listing would cost, before booking it —
 * `supabase.functions.invoke('quote', { body: { listing_id, duration_minutes, quantity, add_ons, starts_at } })`.
 *
 * The listing, its marketplace's fees and the region's tax are read AS THE CALLER (ctx.db), so
 * the quote covers exactly the listings the caller may see: active ones of their marketplace, and
 * a provider's own drafts. The arithmetic is create_booking's (app.price_booking in
 * db/migrations/0021_bookings.sql): base = hourly rate × minutes / 60 or the fixed price, service
 * fee and platform commission in basis points of the base, tax on base + fee, each rounded half up
 * to a minor unit. Two things a booking does not have yet: `quantity` (that many units or
 * sessions) and add-ons the provider lists in the listing's metadata as
 * `{"add_ons": [{"id": "deep-clean", "name": "Deep clean", "price_cents": 2500}]}`, both added to
 * the base before fees and tax. With `starts_at`, the answer says whether that start is free
 * (listing_slots()).
 */

const input = z.strictObject({
  listing_id: z.uuid({ error: 'must be a listing id (a UUID)' }),
  duration_minutes: z
    .number({ error: 'must be a whole number of minutes' })
    .int({ error: 'must be a whole number of minutes' })
    .min(5, { error: 'must be at least 5 minutes' })
    .max(1440, { error: 'must be at most 1440 minutes (a day)' })
    .optional(),
  quantity: z
    .number({ error: 'must be a whole number' })
    .int({ error: 'must be a whole number' })
    .min(1, { error: 'must be at least 1' })
    .max(100, { error: 'must be at most 100' })
    .default(1),
  add_ons: z
    .array(z.string().min(1).max(100), { error: 'must be a list of add-on ids' })
    .max(20, { error: 'must name at most 20 add-ons' })
    .default([]),
  starts_at: z.iso.datetime({ offset: true, error: 'must be an ISO 8601 date-time with an offset' }).optional(),
});

/** An add-on as the provider lists it in listings.metadata.add_ons. */
const addOn = z.object({ id: z.string(), name: z.string(), price_cents: z.number().int().min(0) });

interface ListingRow {
  id: string;
  title: string;
  pricing_type: 'hourly' | 'fixed' | 'custom';
  currency: string;
  base_price_cents: string | null;
  hourly_rate_cents: string | null;
  minimum_duration_minutes: number;
  duration_minutes: number | null;
  add_ons: unknown;
  service_fee_bps: number;
  platform_fee_bps: number;
  tax_rate_bps: number;
}

export const config = { timeoutMs: 10_000, bodyLimit: 16 * 1024 };

export default async function quote(req: Request, ctx: FunctionContext): Promise<Response> {
  if (req.method !== 'POST') {
    return problem(
      405,
      'LOCO_QUOTE_METHOD',
      'quote takes POST with a JSON body',
      'Call supabase.functions.invoke("quote", { body }).',
    );
  }
  let json: unknown;
  try {
    json = await req.json();
  } catch {
    return problem(
      400,
      'LOCO_QUOTE_INVALID',
      'The body must be JSON',
      'Send { "listing_id": "…", "duration_minutes": 90 }.',
    );
  }
  const parsed = input.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue?.path.join('.') || 'body';
    const message = issue?.code === 'unrecognized_keys' ? `unknown field ${issue.keys.join(', ')}` : issue?.message;
    return problem(400, 'LOCO_QUOTE_INVALID', `${field}: ${message ?? 'is not valid'}`, HINT);
  }
  const ask = parsed.data;

  return ctx.db.transaction(async (tx) => {
    const listing = await readListing(tx, ctx, ask.listing_id);
    if (listing === undefined) {
      return problem(
        404,
        'LOCO_QUOTE_NOT_FOUND',
        `listing ${ask.listing_id} was not found`,
        'Quote a listing you can see (search_listings() finds them).',
      );
    }
    if (listing.pricing_type === 'custom') {
      return problem(
        422,
        'LOCO_QUOTE_ON_REQUEST',
        `${listing.title} is priced on request`,
        'Message the provider for a price.',
      );
    }
    const minutes = ask.duration_minutes ?? listing.duration_minutes ?? listing.minimum_duration_minutes;
    if (minutes < listing.minimum_duration_minutes) {
      return problem(
        400,
        'LOCO_QUOTE_INVALID',
        `duration_minutes: must be at least ${listing.minimum_duration_minutes} minutes for this listing`,
        HINT,
      );
    }
    const offered = z.array(addOn).safeParse(listing.add_ons ?? []);
    const available = offered.success ? offered.data : [];
    const chosen = [];
    for (const id of new Set(ask.add_ons)) {
      const found = available.find((a) => a.id === id);
      if (found === undefined) {
        const names = available.map((a) => a.id).join(', ') || 'none';
        return problem(
          400,
          'LOCO_QUOTE_INVALID',
          `add_ons: this listing has no add-on ${id}`,
          `Its add-ons: ${names}.`,
        );
      }
      chosen.push(found);
    }

    const unit = BigInt(
      (listing.pricing_type === 'hourly' ? listing.hourly_rate_cents : listing.base_price_cents) ?? 0,
    );
    const service =
      (listing.pricing_type === 'hourly' ? roundDiv(unit * BigInt(minutes), 60n) : unit) * BigInt(ask.quantity);
    const extras = chosen.reduce((sum, a) => sum + BigInt(a.price_cents), 0n);
    const base = service + extras;
    const fee = roundDiv(base * BigInt(listing.service_fee_bps), 10_000n);
    const tax = roundDiv((base + fee) * BigInt(listing.tax_rate_bps), 10_000n);
    const commission = roundDiv(base * BigInt(listing.platform_fee_bps), 10_000n);

    const slot = ask.starts_at === undefined ? {} : await isFree(tx, ctx, listing.id, ask.starts_at, minutes);
    ctx.log.debug({ listing: listing.id, total: String(base + fee + tax) }, 'quoted');
    return Response.json({
      listing_id: listing.id,
      title: listing.title,
      currency: listing.currency,
      pricing_type: listing.pricing_type,
      minutes,
      quantity: ask.quantity,
      unit_price_cents: Number(unit),
      service_cents: Number(service),
      add_ons: chosen,
      add_ons_cents: Number(extras),
      base_cents: Number(base),
      service_fee_bps: listing.service_fee_bps,
      service_fee_cents: Number(fee),
      tax_rate_bps: listing.tax_rate_bps,
      tax_cents: Number(tax),
      total_cents: Number(base + fee + tax),
      platform_fee_bps: listing.platform_fee_bps,
      platform_fee_cents: Number(commission),
      provider_payout_cents: Number(base - commission),
      ...slot,
    });
  });
}

const HINT =
  'Send { "listing_id": "<uuid>", "duration_minutes": 90, "quantity": 1, "add_ons": ["<id>"], "starts_at": "2027-03-14T10:00:00Z" }; only listing_id is required.';

/** The listing with its marketplace's fees and tax rate, as the caller may see them (RLS). */
async function readListing(tx: FunctionTransaction, ctx: FunctionContext, id: string): Promise<ListingRow | undefined> {
  const { rows } = await tx.query<ListingRow>(ctx.sql`
    select l.id, l.title, l.pricing_type, l.currency, l.base_price_cents, l.hourly_rate_cents,
           l.minimum_duration_minutes, l.duration_minutes, l.metadata -> 'add_ons' as add_ons,
           t.service_fee_bps, t.platform_fee_bps,
           coalesce((select r.tax_rate_bps from public.cities c join public.regions r on r.id = c.region_id
                      where c.id = l.city_id),
                    (select r.tax_rate_bps from public.regions r where r.id = t.region_id), 0) as tax_rate_bps
    from public.listings l
    join public.tenants t on t.id = l.tenant_id
    where l.id = ${id} and l.deleted_at is null`);
  return rows[0];
}

/** Whether listing_slots() offers this start for this duration. */
async function isFree(tx: FunctionTransaction, ctx: FunctionContext, id: string, startsAt: string, minutes: number) {
  const { rows } = await tx.query<{ available: boolean }>(ctx.sql`
    select exists (
      select 1 from public.listing_slots(${id}, ${startsAt}::timestamptz, ${startsAt}::timestamptz + interval '1 minute',
                                         null, ${minutes}) s
      where s.starts_at = ${startsAt}::timestamptz) as available`);
  return { starts_at: new Date(startsAt).toISOString(), available: rows[0]?.available === true };
}

/** n / d rounded half up, for amounts of 0 or more (SQL's round() on numeric). */
function roundDiv(n: bigint, d: bigint): bigint {
  return (2n * n + d) / (2n * d);
}

/** An error in the API's shape ({code, message, details, hint}), which supabase-js hands back as FunctionsHttpError. */
function problem(status: number, code: string, message: string, hint: string | null = null): Response {
  return Response.json({ code, message, details: null, hint }, { status });
}
