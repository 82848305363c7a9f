import {
  type CategoryContent,
  capitalize,
  fill,
  inSentence,
  LANGUAGES,
  type Language,
  PRICE_LEVEL,
  TEXTS,
} from './content.js';
import { type Context, slugify } from './context.js';
import { bool, NULL, point, text, textArray } from './copy.js';
import { uuidFactory } from './ids.js';
import { firstName, nearby, type People } from './people.js';
import type { Random } from './random.js';
import { WeightedIndex } from './random.js';
import type { Tag } from './reference.js';
import { DAY, HOUR, iso } from './time.js';

/**
 * Listings: N of them, each in its provider's city (a random point within 25 km of the
 * centre), in one of the provider's categories, written in the provider's language from the
 * word lists, priced for the local market.
 *
 * Titles, descriptions and the keyword+tag text are interned: each distinct text gets a key,
 * and the search vector of every distinct text is computed once in SQL (see demo.ts), which
 * is what makes a million search vectors affordable.
 */

export const LISTING_STATUSES = ['active', 'paused', 'draft', 'inactive', 'suspended'] as const;
export const STATUS_ACTIVE = 0;
export const STATUS_PAUSED = 1;
export const PRICING = ['hourly', 'fixed', 'custom'] as const;
export const LOCATION_TYPES = ['on_site', 'remote', 'both'] as const;
/** cancellation_policy_kind (0021), by index. */
export const POLICY_KINDS = ['flexible', 'moderate', 'strict'] as const;
const POLICY_WEIGHTS = [35, 45, 20];

/** Distinct texts, each with its language, numbered in order of first use. */
export class TextTable {
  readonly #keys = new Map<string, number>();
  readonly texts: string[] = [];
  readonly languages: Language[] = [];

  intern(language: Language, value: string): number {
    const id = `${language}\u0000${value}`;
    let key = this.#keys.get(id);
    if (key === undefined) {
      key = this.texts.length;
      this.#keys.set(id, key);
      this.texts.push(value);
      this.languages.push(language);
    }
    return key;
  }
}

export interface Catalog {
  readonly count: number;
  readonly id: (listing: number) => string;
  /** Listings of provider k are [start[k], start[k] + count[k]). */
  readonly providerStart: Int32Array;
  readonly providerCount: Int32Array;
  readonly provider: Int32Array;
  readonly category: Uint16Array;
  readonly language: Uint8Array;
  readonly status: Uint8Array;
  readonly deleted: Uint8Array;
  readonly pricing: Uint8Array;
  /** hourly rate (hourly) or base price (fixed, custom), in minor units. */
  readonly price: Float64Array;
  readonly minimumMinutes: Uint16Array;
  readonly durationMinutes: Uint16Array;
  readonly locationType: Uint8Array;
  readonly lon: Float64Array;
  readonly lat: Float64Array;
  readonly radius: Int32Array;
  readonly createdAt: Float64Array;
  /** Bit i set: service i of the category is among the listing's keywords. */
  readonly services: Uint8Array;
  /** Up to three tag indexes per listing (255 = none), in tag-name order. */
  readonly tags: Uint8Array;
  readonly titleKey: Int32Array;
  readonly descriptionKey: Int32Array;
  readonly keywordsKey: Int32Array;
  readonly titles: TextTable;
  readonly descriptions: TextTable;
  readonly keywordTexts: TextTable;
  readonly serviceAreas: readonly number[];
  /** 1: create_booking confirms at once (listings.instant_book). */
  readonly instantBook: Uint8Array;
  /** Index into POLICY_KINDS (listings.cancellation_policy_kind). */
  readonly policy: Uint8Array;
}

export const NO_TAG = 255;

/**
 * True when the tags, sorted by name, are also sorted by id and by physical position.
 * app.listing_search_vector aggregates tag names with string_agg and no ORDER BY, so the
 * order depends on the plan (a hash join probing `tags` yields heap order, an index scan of
 * listing_tags_pkey yields id order); for such sets every plan yields the same text.
 */
export function tagSetIsOrderFree(tags: readonly Tag[]): boolean {
  const sorted = [...tags].sort((a, b) => a.nameRank - b.nameRank);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1] as Tag;
    const cur = sorted[i] as Tag;
    if (!(prev.idRank < cur.idRank && prev.heapRank < cur.heapRank && prev.nameRank < cur.nameRank)) return false;
  }
  return true;
}

/** Rounds a local price to a believable amount, in minor units. */
function localPrice(usd: number, currency: string, step: number): number {
  const level = PRICE_LEVEL[currency] ?? 1;
  const big = level >= 10 ? 10 : 1;
  const units = Math.max(step * big, Math.round((usd * level) / (step * big)) * step * big);
  return units * 100;
}

function spread(random: Random, [min, max]: readonly [number, number]): number {
  // Skewed towards the lower half, as prices are.
  const x = random.next() ** 1.6;
  return min + (max - min) * x;
}

export function generateCatalog(ctx: Context, people: People): Catalog {
  const random = ctx.random('listings');
  const tagRandom = ctx.random('listing-tags');
  const N = ctx.listings;
  const P = people.providers.length;

  // Listings per provider: one each (while they last), the rest by a skewed popularity.
  const providerCount = new Int32Array(P);
  if (N <= P) {
    for (let k = 0; k < N; k++) providerCount[k] = 1;
  } else {
    providerCount.fill(1);
    const popularity = new WeightedIndex(Array.from({ length: P }, () => Math.exp(random.normal(0, 0.9))));
    for (let i = P; i < N; i++) {
      const k = popularity.draw(random);
      providerCount[k] = (providerCount[k] as number) + 1;
    }
  }
  const providerStart = new Int32Array(P);
  for (let k = 1; k < P; k++) providerStart[k] = (providerStart[k - 1] as number) + (providerCount[k - 1] as number);

  const provider = new Int32Array(N);
  const category = new Uint16Array(N);
  const language = new Uint8Array(N);
  const status = new Uint8Array(N);
  const deleted = new Uint8Array(N);
  const pricing = new Uint8Array(N);
  const price = new Float64Array(N);
  const minimumMinutes = new Uint16Array(N);
  const durationMinutes = new Uint16Array(N);
  const locationType = new Uint8Array(N);
  const lon = new Float64Array(N);
  const lat = new Float64Array(N);
  const radius = new Int32Array(N);
  const createdAt = new Float64Array(N);
  const services = new Uint8Array(N);
  const tags = new Uint8Array(N * 3).fill(NO_TAG);
  const titleKey = new Int32Array(N);
  const descriptionKey = new Int32Array(N);
  const keywordsKey = new Int32Array(N);
  const titles = new TextTable();
  const descriptions = new TextTable();
  const keywordTexts = new TextTable();
  const serviceAreas: number[] = [];

  const categories = ctx.ref.categories;
  const siblings = new Map<string | null, number[]>();
  for (const c of categories) {
    const list = siblings.get(c.parentSlug) ?? [];
    list.push(c.index);
    siblings.set(c.parentSlug, list);
  }
  const tagBySlug = new Map(ctx.ref.tags.map((t) => [t.slug, t]));

  for (let k = 0; k < P; k++) {
    const u = people.providers[k] as number;
    const home = ctx.ref.cities[people.city[u] as number] as (typeof ctx.ref.cities)[number];
    const primary = people.primaryCategory[k] as number;
    const name = firstName(people, u);
    const start = providerStart[k] as number;
    for (let i = start; i < start + (providerCount[k] as number); i++) {
      provider[i] = k;
      const same = siblings.get((categories[primary] as (typeof categories)[number]).parentSlug) ?? [primary];
      const cat = random.chance(0.75) ? primary : (random.pick(same) as number);
      category[i] = cat;
      const content = (categories[cat] as (typeof categories)[number]).content;
      const own = LANGUAGES[people.language[u] as number] ?? 'en';
      const lang: Language = random.chance(0.9) ? own : 'en';
      language[i] = LANGUAGES.indexOf(lang);
      const x = random.next();
      // demo_user_000001's first listing is always bookable.
      status[i] = i === 0 ? 0 : x < 0.88 ? 0 : x < 0.92 ? 1 : x < 0.96 ? 2 : x < 0.99 ? 3 : 4;
      deleted[i] = status[i] === 3 && random.chance(0.3) ? 1 : 0;

      // Price and duration.
      const options = (content.hourly ? 1 : 0) + (content.fixed ? 2 : 0);
      const y = random.next();
      const kind =
        options === 3 ? (y < 0.6 ? 0 : y < 0.95 ? 1 : 2) : options === 1 ? (y < 0.92 ? 0 : 2) : y < 0.92 ? 1 : 2;
      pricing[i] = kind;
      price[i] =
        kind === 0
          ? localPrice(spread(random, content.hourly as [number, number]), home.currency, 1)
          : localPrice(
              spread(random, content.fixed ?? [(content.hourly?.[0] ?? 40) * 1.5, (content.hourly?.[1] ?? 100) * 3]),
              home.currency,
              5,
            );
      const typical = Math.round(spread(random, content.minutes) / 15) * 15;
      minimumMinutes[i] = kind === 0 ? Math.min(60, content.minutes[0]) : Math.max(15, Math.min(60, typical));
      durationMinutes[i] = kind === 0 ? (random.chance(0.5) ? Math.max(typical, 60) : 0) : Math.max(30, typical);

      // Where.
      const where =
        content.where === 'mixed'
          ? random.weighted([2, 4, 4])
          : content.where === 'both'
            ? random.chance(0.6)
              ? 2
              : 0
            : content.where === 'remote'
              ? 1
              : 0;
      locationType[i] = where;
      if (where === 1 && random.chance(0.5)) {
        lon[i] = Number.NaN;
        lat[i] = Number.NaN;
      } else {
        [lon[i] as number, lat[i] as number] = nearby(random, home.lon, home.lat, 25_000);
      }
      radius[i] = where === 1 ? 0 : random.int(5, 40) * 1000;
      createdAt[i] =
        status[i] === 2
          ? ctx.anchor - random.next() * 60 * DAY
          : (people.createdAt[u] as number) +
            random.next() * Math.max(DAY, ctx.anchor - 215 * DAY - (people.createdAt[u] as number));

      // Words.
      const li = language[i] as number;
      const texts = TEXTS[lang];
      const chosen = random.sample(5, 3);
      services[i] = chosen.reduce((mask, s) => mask | (1 << s), 0);
      const svc = chosen.map((s) => inSentence(lang, content.services[s]?.[li] ?? ''));
      const field = content.field[li] as string;
      const title = fill(random.pick(texts.titles), {
        adj: random.pick(texts.adjectives),
        pro: content.pro[li] as string,
        Field: field,
        svc: svc[0] as string,
        Svc: capitalize(svc[0] as string),
        svc2: svc[1] as string,
        city: home.name,
        name,
      });
      titleKey[i] = titles.intern(lang, title.slice(0, 200));
      const description = `${fill(random.pick(texts.intros), { Field: field, field: inSentence(lang, field) })} ${fill(
        random.pick(texts.services),
        { s1: svc[0] as string, s2: svc[1] as string, s3: svc[2] as string },
      )}\n\n${random.pick(texts.trust)} ${random.pick(texts.availability)}`;
      descriptionKey[i] = descriptions.intern(lang, description);

      // Tags: mostly ones that suit the trade, in name order, from sets every plan orders alike.
      const want = [0, 1, 1, 2, 2, 3][tagRandom.int(0, 5)] as number;
      const picked: Tag[] = [];
      for (let attempt = 0; attempt < 6 && picked.length < want; attempt++) {
        const slug = tagRandom.chance(0.85) ? tagRandom.pick(content.tags) : undefined;
        const tag = slug ? tagBySlug.get(slug) : ctx.ref.tags.length > 0 ? tagRandom.pick(ctx.ref.tags) : undefined;
        if (!tag || picked.includes(tag)) continue;
        if (tagSetIsOrderFree([...picked, tag])) picked.push(tag);
      }
      picked.sort((a, b) => a.nameRank - b.nameRank);
      picked.forEach((tag, t) => {
        tags[i * 3 + t] = tag.index;
      });
      const keywords = keywordList(content, li, services[i] as number);
      const tagText = picked.map((t) => t.name).join(' ');
      keywordsKey[i] = keywordTexts.intern(
        lang,
        picked.length > 0 ? `${keywords.join(' ')} ${tagText}` : keywords.join(' '),
      );
      if (where === 0 && random.chance(0.01)) serviceAreas.push(i);
    }
  }

  // Instant booking and the cancellation policy, from their own stream so the rest stays put.
  // demo_user_000001's first listing takes requests, so its showcase has pending ones.
  const terms = ctx.random('listing-terms');
  const instantBook = new Uint8Array(N);
  const policy = new Uint8Array(N);
  for (let i = 0; i < N; i++) {
    instantBook[i] = i > 0 && terms.chance(0.3) ? 1 : 0;
    policy[i] = terms.weighted(POLICY_WEIGHTS);
  }

  return {
    count: N,
    id: uuidFactory('listings'),
    instantBook,
    policy,
    providerStart,
    providerCount,
    provider,
    category,
    language,
    status,
    deleted,
    pricing,
    price,
    minimumMinutes,
    durationMinutes,
    locationType,
    lon,
    lat,
    radius,
    createdAt,
    services,
    tags,
    titleKey,
    descriptionKey,
    keywordsKey,
    titles,
    descriptions,
    keywordTexts,
    serviceAreas,
  };
}

/** The listing's keywords: its services in its language, lower-cased as typed into search. */
export function keywordList(content: CategoryContent, languageIndex: number, mask: number): string[] {
  const out: string[] = [];
  for (let s = 0; s < 5; s++) {
    if (mask & (1 << s)) out.push((content.services[s]?.[languageIndex] ?? '').toLowerCase());
  }
  return out;
}

/** A service of the listing, for messages ("Are you available for leak repair?"). */
export function listingService(ctx: Context, catalog: Catalog, i: number, random: Random): string {
  const content = (ctx.ref.categories[catalog.category[i] as number] as (typeof ctx.ref.categories)[number]).content;
  const li = catalog.language[i] as number;
  const lang = LANGUAGES[li] as Language;
  const mask = catalog.services[i] as number;
  const options = [0, 1, 2, 3, 4].filter((s) => mask & (1 << s));
  return inSentence(lang, content.services[random.pick(options)]?.[li] ?? '');
}

// ---------------------------------------------------------------------------------------------
// Rows
// ---------------------------------------------------------------------------------------------

/** The staging table's columns: listings' own plus the three text keys. */
export const LISTING_STAGE_COLUMNS = [
  'id',
  'tenant_id',
  'provider_id',
  'category_id',
  'city_id',
  'title',
  'description',
  'slug',
  'language',
  'pricing_type',
  'currency',
  'base_price_cents',
  'hourly_rate_cents',
  'minimum_duration_minutes',
  'duration_minutes',
  'location_type',
  'location',
  'service_radius_m',
  'featured_image_url',
  'images',
  'keywords',
  'max_bookings_per_day',
  'advance_booking_days',
  'min_notice_minutes',
  'cancellation_policy',
  'cancellation_window_hours',
  'status',
  'is_featured',
  'view_count',
  'published_at',
  'created_at',
  'updated_at',
  'deleted_at',
  'instant_book',
  'cancellation_policy_kind',
  'title_key',
  'description_key',
  'keywords_key',
] as const;

const POLICIES = [
  [24, 'Free cancellation up to 24 hours before the appointment.'],
  [48, 'Free cancellation up to 48 hours before; 50% charged after that.'],
  [12, 'Free cancellation up to 12 hours before the appointment.'],
] as const;

export function* listingStageRows(ctx: Context, people: People, catalog: Catalog): Generator<string> {
  const random = ctx.random('listing-rows');
  const tenant = ctx.ref.tenant.id;
  for (let i = 0; i < catalog.count; i++) {
    const k = catalog.provider[i] as number;
    const u = people.providers[k] as number;
    const home = ctx.ref.cities[people.city[u] as number] as (typeof ctx.ref.cities)[number];
    const cat = ctx.ref.categories[catalog.category[i] as number] as (typeof ctx.ref.categories)[number];
    const li = catalog.language[i] as number;
    const title = catalog.titles.texts[catalog.titleKey[i] as number] as string;
    const kind = catalog.pricing[i] as number;
    const status = catalog.status[i] as number;
    const created = catalog.createdAt[i] as number;
    const published = status === 2 ? null : created + random.int(1, 72) * HOUR;
    const updated = Math.max(created, Math.min(ctx.anchor - HOUR, (published ?? created) + random.next() * 30 * DAY));
    const deletedAt = catalog.deleted[i] ? updated + HOUR : null;
    const imageCount = random.int(1, 3);
    const images: string[] = [];
    for (let n = 0; n < imageCount; n++) {
      images.push(`https://picsum.photos/seed/loconomy-${cat.slug}-${random.int(1, 40)}/1200/800`);
    }
    const [window, policy] = random.pick(POLICIES);
    const duration = catalog.durationMinutes[i] as number;
    const keywords = keywordList(cat.content, li, catalog.services[i] as number);
    yield `${catalog.id(i)}\t${tenant}\t${people.id(u)}\t${cat.id}\t${home.id}\t${text(title)}\t${text(
      catalog.descriptions.texts[catalog.descriptionKey[i] as number] as string,
    )}\t${slugify(title)}-${i.toString(36)}\t${LANGUAGES[li]}\t${PRICING[kind]}\t${home.currency}\t${
      kind === 0 ? NULL : catalog.price[i]
    }\t${kind === 0 ? catalog.price[i] : NULL}\t${catalog.minimumMinutes[i]}\t${duration === 0 ? NULL : duration}\t${
      LOCATION_TYPES[catalog.locationType[i] as number]
    }\t${point(catalog.lon[i] as number, catalog.lat[i] as number)}\t${
      catalog.radius[i] === 0 ? NULL : catalog.radius[i]
    }\t${images[0]}\t${textArray(images)}\t${textArray(keywords)}\t${random.chance(0.1) ? random.int(2, 6) : NULL}\t${random.pick(
      [30, 60, 60, 90],
    )}\t${random.pick([60, 120, 120, 1440])}\t${text(policy)}\t${window}\t${LISTING_STATUSES[status]}\t${bool(
      status === 0 && random.chance(0.03),
    )}\t${status === 2 ? 0 : Math.floor(Math.exp(random.normal(4, 1.3)))}\t${
      published === null ? NULL : iso(published)
    }\t${iso(created)}\t${iso(updated)}\t${deletedAt === null ? NULL : iso(deletedAt)}\t${bool(
      catalog.instantBook[i] === 1,
    )}\t${POLICY_KINDS[catalog.policy[i] as number]}\t${catalog.titleKey[i]}\t${
      catalog.descriptionKey[i]
    }\t${catalog.keywordsKey[i]}\n`;
  }
}

export function* listingTagRows(ctx: Context, catalog: Catalog): Generator<string> {
  const tags = ctx.ref.tags;
  for (let i = 0; i < catalog.count; i++) {
    // In id order, so the heap and listing_tags_pkey agree.
    const own: Tag[] = [];
    for (let t = 0; t < 3; t++) {
      const index = catalog.tags[i * 3 + t] as number;
      if (index !== NO_TAG) own.push(tags[index] as Tag);
    }
    if (own.length === 0) continue;
    own.sort((a, b) => a.idRank - b.idRank);
    const created = iso((catalog.createdAt[i] as number) + 10 * 60_000);
    const id = catalog.id(i);
    for (const tag of own) yield `${id}\t${tag.id}\t${created}\n`;
  }
}

/** A hexagon of the listing's service radius around it, as a MultiPolygon. */
export function* serviceAreaRows(ctx: Context, people: People, catalog: Catalog): Generator<string> {
  const tenant = ctx.ref.tenant.id;
  const id = uuidFactory('listing_service_areas');
  let row = 0;
  for (const i of catalog.serviceAreas) {
    const lon = catalog.lon[i] as number;
    const lat = catalog.lat[i] as number;
    const r = (catalog.radius[i] as number) || 10_000;
    const ring: string[] = [];
    for (let v = 0; v <= 6; v++) {
      const angle = ((v % 6) * Math.PI) / 3;
      const x = lon + (r * Math.cos(angle)) / (111_320 * Math.cos((lat * Math.PI) / 180));
      const y = lat + (r * Math.sin(angle)) / 111_320;
      ring.push(`${x.toFixed(6)} ${y.toFixed(6)}`);
    }
    const u = people.providers[catalog.provider[i] as number] as number;
    const home = ctx.ref.cities[people.city[u] as number] as (typeof ctx.ref.cities)[number];
    const created = iso((catalog.createdAt[i] as number) + HOUR);
    yield `${id(row++)}\t${catalog.id(i)}\t${tenant}\t${text(`${home.name} area`)}\tSRID=4326;MULTIPOLYGON(((${ring.join(
      ',',
    )})))\t${created}\t${created}\n`;
  }
}

/** (key, language, text) rows of an interned text table. */
export function* textRows(table: TextTable, kind: 'A' | 'B' | 'C'): Generator<string> {
  for (let key = 0; key < table.texts.length; key++) {
    yield `${kind}\t${key}\t${table.languages[key]}\t${text(table.texts[key] as string)}\n`;
  }
}
