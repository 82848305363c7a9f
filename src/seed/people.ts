import {
  capitalize,
  FIRST_NAMES,
  fill,
  inSentence,
  LANGUAGES,
  LAST_NAMES,
  type NameGroup,
  PHONE_PREFIX,
  STREETS,
  TEXTS,
} from './content.js';
import { ADMIN_CLERK_ID, ascii, type Context, demoClerkId } from './context.js';
import { bool, json, NULL, point, text, textArray } from './copy.js';
import { uuidFactory } from './ids.js';
import type { Random } from './random.js';
import { WeightedIndex } from './random.js';
import { clock, DAY, HOUR, iso, MINUTE } from './time.js';

/**
 * Users: ~N/5 providers and ~N/2 customers, interleaved so that the same demo user is always
 * the same kind whatever N is: of every 7 users (demo_user_000001…000007, …) numbers 1 and 4
 * are providers, the rest customers. demo_user_000001 is a provider, demo_user_000002 a
 * customer; one more user, demo_admin, has the admin role.
 */

export const NAME_GROUPS: readonly NameGroup[] = [
  'us',
  'gb',
  'au',
  'es',
  'mx',
  'fr',
  'de',
  'pt',
  'br',
  'it',
  'nl',
  'sv',
  'in',
];
const GROUP_LANGUAGE: Record<NameGroup, string> = {
  us: 'en',
  gb: 'en',
  au: 'en',
  es: 'es',
  mx: 'es',
  fr: 'fr',
  de: 'de',
  pt: 'pt',
  br: 'pt',
  it: 'it',
  nl: 'nl',
  sv: 'sv',
  in: 'en',
};

export const ROLE_CUSTOMER = 0;
export const ROLE_PROVIDER = 1;
export const ROLE_ADMIN = 2;
const ROLES = ['customer', 'provider', 'admin'];
export const STATUSES = ['active', 'pending_verification', 'inactive', 'suspended'];

export interface People {
  /** Users including the admin (the last one). */
  readonly count: number;
  readonly adminIndex: number;
  readonly id: (user: number) => string;
  readonly role: Uint8Array;
  readonly city: Uint16Array;
  readonly group: Uint8Array;
  readonly first: Uint8Array;
  readonly last: Uint8Array;
  /** Index into LANGUAGES: the language the user writes listings, reviews and messages in. */
  readonly language: Uint8Array;
  readonly status: Uint8Array;
  readonly createdAt: Float64Array;
  readonly lastActiveAt: Float64Array;
  /** Provider k -> user index, customer j -> user index. */
  readonly providers: Int32Array;
  readonly customers: Int32Array;
  /** Per provider. */
  readonly primaryCategory: Uint16Array;
  readonly tuesdayToSaturday: Uint8Array;
  readonly startMinute: Uint16Array;
  readonly endMinute: Uint16Array;
  readonly experience: Uint8Array;
  readonly lon: Float64Array;
  readonly lat: Float64Array;
  /** Customer indexes living in each city. */
  readonly customersByCity: readonly Int32Array[];
  /** Per customer: index of their home address, or -1. */
  readonly homeAddress: Int32Array;
  readonly addresses: Addresses;
  /** Aggregates, filled in by later parts (by user index). */
  readonly reviewSum: Int32Array;
  readonly reviewCount: Int32Array;
  readonly jobsCompleted: Int32Array;
  /** Set when the user got a Stripe customer (payment methods) or Connect account (payouts). */
  readonly stripeCustomer: Uint8Array;
  readonly stripeConnect: Uint8Array;
}

export interface Addresses {
  readonly count: number;
  readonly user: Int32Array;
  readonly work: Uint8Array;
  readonly number: Uint16Array;
  readonly street: Uint8Array;
  readonly postal: string[];
  readonly lon: Float64Array;
  readonly lat: Float64Array;
  readonly id: (index: number) => string;
}

/** A random point within `radiusM` metres of (lon, lat), uniform over the disc. */
export function nearby(random: Random, lon: number, lat: number, radiusM: number): [number, number] {
  const r = radiusM * Math.sqrt(random.next());
  const theta = 2 * Math.PI * random.next();
  const dLat = (r * Math.cos(theta)) / 111_320;
  const dLon = (r * Math.sin(theta)) / (111_320 * Math.cos((lat * Math.PI) / 180));
  return [Math.round((lon + dLon) * 1e6) / 1e6, Math.round((lat + dLat) * 1e6) / 1e6];
}

function cityWeights(ctx: Context): WeightedIndex {
  return new WeightedIndex(
    ctx.ref.cities.map((c) => Math.sqrt(Math.min(c.population, 9_000_000)) * (c.country === 'US' ? 1.6 : 1)),
  );
}

export function generatePeople(ctx: Context): People {
  const random = ctx.random('people');
  const cycles = Math.ceil(ctx.listings / 10);
  const demoUsers = cycles * 7;
  const count = demoUsers + 1;
  const adminIndex = demoUsers;
  const role = new Uint8Array(count);
  const city = new Uint16Array(count);
  const group = new Uint8Array(count);
  const first = new Uint8Array(count);
  const last = new Uint8Array(count);
  const language = new Uint8Array(count);
  const status = new Uint8Array(count);
  const createdAt = new Float64Array(count);
  const lastActiveAt = new Float64Array(count);
  const providers = new Int32Array(cycles * 2);
  const customers = new Int32Array(cycles * 5);
  const cities = cityWeights(ctx);

  let p = 0;
  let c = 0;
  for (let u = 0; u < count; u++) {
    const isAdmin = u === adminIndex;
    const kind = isAdmin ? ROLE_ADMIN : u % 7 === 0 || u % 7 === 3 ? ROLE_PROVIDER : ROLE_CUSTOMER;
    role[u] = kind;
    if (kind === ROLE_PROVIDER) providers[p++] = u;
    else if (kind === ROLE_CUSTOMER) customers[c++] = u;
    const home = isAdmin ? 0 : cities.draw(random);
    city[u] = home;
    const locale = (ctx.ref.cities[home] as (typeof ctx.ref.cities)[number]).locale;
    const g = locale.names[random.weighted(locale.names.map(([, w]) => w))]?.[0] ?? 'us';
    group[u] = NAME_GROUPS.indexOf(g);
    first[u] = random.int(0, FIRST_NAMES[g].length - 1);
    last[u] = random.int(0, LAST_NAMES[g].length - 1);
    const own = locale.languageOf?.[g];
    const lang =
      own && random.chance(0.65)
        ? own
        : (locale.languages[random.weighted(locale.languages.map(([, w]) => w))]?.[0] ?? 'en');
    language[u] = LANGUAGES.indexOf(lang);
    // The two users the README names are always active; a few others are not (yet).
    const x = random.next();
    status[u] =
      u <= 1 || isAdmin
        ? 0
        : kind === ROLE_PROVIDER
          ? x < 0.97
            ? 0
            : 1
          : x < 0.95
            ? 0
            : x < 0.98
              ? 1
              : x < 0.995
                ? 2
                : 3;
    const joined = ctx.anchor - (230 + random.next() * 500) * DAY - random.int(0, 86_399) * 1000;
    createdAt[u] = joined;
    lastActiveAt[u] = status[u] === 0 ? ctx.anchor - random.next() * 30 * DAY : joined + random.next() * 20 * DAY;
  }
  createdAt[adminIndex] = ctx.anchor - 800 * DAY; // the marketplace's operator came first

  const P = providers.length;
  const categories = ctx.ref.categories;
  const primaryCategory = new Uint16Array(P);
  const tuesdayToSaturday = new Uint8Array(P);
  const startMinute = new Uint16Array(P);
  const endMinute = new Uint16Array(P);
  const experience = new Uint8Array(P);
  const lon = new Float64Array(P);
  const lat = new Float64Array(P);
  // Home services are the bulk of a local marketplace.
  const categoryWeights = new WeightedIndex(categories.map((cat) => (cat.parentSlug === 'home-services' ? 1.6 : 1)));
  for (let k = 0; k < P; k++) {
    const u = providers[k] as number;
    primaryCategory[k] = categoryWeights.draw(random);
    tuesdayToSaturday[k] = random.chance(0.3) ? 1 : 0;
    startMinute[k] = random.chance(0.5) ? 8 * 60 : 9 * 60;
    endMinute[k] = random.chance(0.5) ? 17 * 60 : 18 * 60;
    experience[k] = random.int(1, 30);
    const home = ctx.ref.cities[city[u] as number] as (typeof ctx.ref.cities)[number];
    [lon[k] as number, lat[k] as number] = nearby(random, home.lon, home.lat, 15_000);
  }

  const perCity: number[][] = ctx.ref.cities.map(() => []);
  for (let j = 0; j < customers.length; j++) perCity[city[customers[j] as number] as number]?.push(j);

  const addresses = generateAddresses(ctx, customers, city, group);
  const homeAddress = new Int32Array(customers.length).fill(-1);
  for (let a = addresses.count - 1; a >= 0; a--) {
    if (!addresses.work[a]) homeAddress[addresses.user[a] as number] = a;
  }

  return {
    count,
    adminIndex,
    id: uuidFactory('users'),
    role,
    city,
    group,
    first,
    last,
    language,
    status,
    createdAt,
    lastActiveAt,
    providers,
    customers,
    primaryCategory,
    tuesdayToSaturday,
    startMinute,
    endMinute,
    experience,
    lon,
    lat,
    customersByCity: perCity.map((list) => Int32Array.from(list)),
    homeAddress,
    addresses,
    reviewSum: new Int32Array(count),
    reviewCount: new Int32Array(count),
    jobsCompleted: new Int32Array(count),
    stripeCustomer: new Uint8Array(count),
    stripeConnect: new Uint8Array(count),
  };
}

/** Home addresses for about 40% of customers, work addresses for a few of those. */
function generateAddresses(ctx: Context, customers: Int32Array, city: Uint16Array, group: Uint8Array): Addresses {
  const random = ctx.random('addresses');
  const user: number[] = [];
  const work: number[] = [];
  const number: number[] = [];
  const street: number[] = [];
  const postal: string[] = [];
  const lon: number[] = [];
  const lat: number[] = [];
  for (let j = 0; j < customers.length; j++) {
    if (!(j === 0 || random.chance(0.4))) continue;
    const u = customers[j] as number;
    const home = ctx.ref.cities[city[u] as number] as (typeof ctx.ref.cities)[number];
    const g = NAME_GROUPS[group[u] as number] as NameGroup;
    const count = random.chance(0.1) ? 2 : 1;
    for (let i = 0; i < count; i++) {
      user.push(j);
      work.push(i);
      number.push(random.int(1, 250));
      street.push(random.int(0, STREETS[g].length - 1));
      postal.push(postalCode(random, home.country));
      const [x, y] = nearby(random, home.lon, home.lat, 12_000);
      lon.push(x);
      lat.push(y);
    }
  }
  return {
    count: user.length,
    user: Int32Array.from(user),
    work: Uint8Array.from(work),
    number: Uint16Array.from(number),
    street: Uint8Array.from(street),
    postal,
    lon: Float64Array.from(lon),
    lat: Float64Array.from(lat),
    id: uuidFactory('user_addresses'),
  };
}

function digits(random: Random, n: number): string {
  let out = '';
  for (let i = 0; i < n; i++) out += String(random.int(0, 9));
  return out;
}

const LETTERS = 'ABCDEFGHJKLMNPRSTUVWXYZ';

function postalCode(random: Random, country: string): string {
  const letter = () => LETTERS[random.int(0, LETTERS.length - 1)] as string;
  switch (country) {
    case 'CA':
      return `${letter()}${random.int(1, 9)}${letter()} ${random.int(1, 9)}${letter()}${random.int(1, 9)}`;
    case 'GB':
      return `${letter()}${letter()}${random.int(1, 20)} ${random.int(1, 9)}${letter()}${letter()}`;
    case 'NL':
      return `${random.int(1000, 1109)} ${letter()}${letter()}`;
    case 'PT':
      return `${random.int(1000, 1990)}-${digits(random, 3)}`;
    case 'SE':
      return `1${digits(random, 2)} ${digits(random, 2)}`;
    case 'AU':
      return String(random.int(2000, 4999));
    case 'IN':
      return `${random.int(1, 5)}${digits(random, 5)}`;
    case 'BR':
      return `${digits(random, 5)}-${digits(random, 3)}`;
    default:
      return digits(random, 5);
  }
}

// ---------------------------------------------------------------------------------------------
// Rows
// ---------------------------------------------------------------------------------------------

function nameOf(people: People, u: number): { first: string; last: string; group: NameGroup } {
  const group = NAME_GROUPS[people.group[u] as number] as NameGroup;
  if (u === people.adminIndex) return { first: 'Demo', last: 'Admin', group: 'us' };
  return {
    first: FIRST_NAMES[group][people.first[u] as number] as string,
    last: LAST_NAMES[group][people.last[u] as number] as string,
    group,
  };
}

export function firstName(people: People, u: number): string {
  return nameOf(people, u).first;
}

/** user_profiles.display_name: first name and initial (`Ana G.`). */
export function displayName(people: People, u: number): string {
  const { first, last } = nameOf(people, u);
  return `${first} ${last.slice(0, 1)}.`;
}

export function clerkId(people: People, u: number): string {
  return u === people.adminIndex ? ADMIN_CLERK_ID : demoClerkId(u + 1);
}

export const USER_COLUMNS = [
  'id',
  'tenant_id',
  'clerk_id',
  'email',
  'email_verified_at',
  'phone',
  'phone_verified_at',
  'role',
  'status',
  'verification_status',
  'first_name',
  'last_name',
  'time_zone',
  'locale',
  'stripe_customer_id',
  'stripe_connect_account_id',
  'last_active_at',
  'login_count',
  'created_at',
  'updated_at',
] as const;

export function* userRows(
  ctx: Context,
  people: People,
  stripe: (prefix: string, u: number) => string,
): Generator<string> {
  const random = ctx.random('user-rows');
  const tenant = ctx.ref.tenant.id;
  for (let u = 0; u < people.count; u++) {
    const { first, last, group } = nameOf(people, u);
    const home = ctx.ref.cities[people.city[u] as number] as (typeof ctx.ref.cities)[number];
    const kind = people.role[u] as number;
    const status = people.status[u] as number;
    const created = people.createdAt[u] as number;
    const verified = status === 0 || status === 2 || status === 3;
    const hasPhone = random.chance(0.6);
    const phone = hasPhone
      ? `${PHONE_PREFIX[home.country] ?? '+1'} ${random.int(200, 999)} ${random.int(100, 999)} ${random.int(1000, 9999)}`
      : null;
    const verification =
      kind === ROLE_ADMIN
        ? 'verified'
        : kind === ROLE_PROVIDER
          ? status === 1
            ? 'in_review'
            : random.chance(0.9)
              ? 'verified'
              : 'in_review'
          : random.chance(0.3)
            ? 'verified'
            : 'pending';
    const email =
      u === people.adminIndex ? 'demo.admin@example.com' : `${ascii(first)}.${ascii(last)}.${u + 1}@example.com`;
    const lang = GROUP_LANGUAGE[group];
    const lastActive = people.lastActiveAt[u] as number;
    yield `${people.id(u)}\t${tenant}\t${clerkId(people, u)}\t${email}\t${verified ? iso(created + 10 * MINUTE) : NULL}\t${text(phone)}\t${
      phone && verified ? iso(created + 20 * MINUTE) : NULL
    }\t${ROLES[kind]}\t${STATUSES[status]}\t${verification}\t${text(first)}\t${text(last)}\t${home.timeZone}\t${lang}-${home.country}\t${
      people.stripeCustomer[u] ? stripe('cus', u) : NULL
    }\t${people.stripeConnect[u] ? stripe('acct', u) : NULL}\t${iso(lastActive)}\t${random.int(1, 240)}\t${iso(created)}\t${iso(
      Math.max(created, lastActive - random.next() * 5 * DAY),
    )}\n`;
  }
}

export const PROFILE_COLUMNS = [
  'user_id',
  'tenant_id',
  'display_name',
  'avatar_url',
  'headline',
  'bio',
  'skills',
  'experience_years',
  'certifications',
  'languages',
  'city_id',
  'location',
  'service_radius_m',
  'business_name',
  'business_type',
  'license_number',
  'website_url',
  'social_links',
  'is_public',
  'rating_average',
  'review_count',
  'rating_bayesian',
  'total_jobs_completed',
  'identity_verified',
  'background_check_verified',
  'business_verified',
  'created_at',
  'updated_at',
] as const;

/** numeric(5,4) text of app.rating_bayesian(sum, n): round((5 × 3.0 + sum) / (5 + n), 4). */
export function ratingBayesian(sum: number, n: number): string {
  const tenThousandths = Math.floor((2 * (15 + sum) * 10000 + (5 + n)) / (2 * (5 + n)));
  return `${Math.floor(tenThousandths / 10000)}.${String(tenThousandths % 10000).padStart(4, '0')}`;
}

/** numeric(3,2) text of round(sum / n, 2), as round(avg(rating), 2) gives it. */
export function ratingAverage(sum: number, n: number): string {
  const hundredths = Math.floor((200 * sum + n) / (2 * n));
  return `${Math.floor(hundredths / 100)}.${String(hundredths % 100).padStart(2, '0')}`;
}

const LICENSED = new Set([
  'plumbing',
  'electrical',
  'hvac',
  'pest-control',
  'massage',
  'smart-home',
  'mobile-mechanic',
]);

export function* profileRows(ctx: Context, people: People): Generator<string> {
  const random = ctx.random('profile-rows');
  const tenant = ctx.ref.tenant.id;
  const providerIndex = new Int32Array(people.count).fill(-1);
  for (let k = 0; k < people.providers.length; k++) providerIndex[people.providers[k] as number] = k;
  for (let u = 0; u < people.count; u++) {
    const { first, last } = nameOf(people, u);
    const home = ctx.ref.cities[people.city[u] as number] as (typeof ctx.ref.cities)[number];
    const kind = people.role[u] as number;
    const lang = LANGUAGES[people.language[u] as number] ?? 'en';
    const languages = lang === 'en' ? ['en'] : random.chance(0.5) ? [lang, 'en'] : [lang];
    const n = people.reviewCount[u] as number;
    const rating = n > 0 ? ratingAverage(people.reviewSum[u] as number, n) : NULL;
    const bayesian = ratingBayesian(people.reviewSum[u] as number, n);
    const created = people.createdAt[u] as number;
    const avatar = random.chance(kind === ROLE_CUSTOMER ? 0.4 : 0.8)
      ? `https://i.pravatar.cc/300?u=${clerkId(people, u)}`
      : null;
    const display = displayName(people, u);
    const k = providerIndex[u] as number;
    if (k < 0) {
      yield `${people.id(u)}\t${tenant}\t${text(display)}\t${text(avatar)}\t${NULL}\t${NULL}\t{}\t${NULL}\t{}\t${textArray(
        languages,
      )}\t${home.id}\t${NULL}\t${NULL}\t${NULL}\t${NULL}\t${NULL}\t${NULL}\t{}\t${bool(kind === ROLE_ADMIN)}\t${rating}\t${n}\t${bayesian}\t${
        people.jobsCompleted[u]
      }\tf\tf\tf\t${iso(created)}\t${iso(created)}\n`;
      continue;
    }
    const category = ctx.ref.categories[people.primaryCategory[k] as number] as (typeof ctx.ref.categories)[number];
    const content = category.content;
    const li = LANGUAGES.indexOf(lang);
    const texts = TEXTS[lang];
    const pro = content.pro[li] as string;
    const field = content.field[li] as string;
    const headline = fill(texts.titles[0] as string, {
      adj: random.pick(texts.adjectives),
      pro,
      city: home.name,
      Field: field,
    });
    const years = people.experience[k] as number;
    const bio = `${fill(texts.bio, { years: String(years), field: inSentence(lang, field) })} ${random.pick(texts.trust)}`;
    const skills = [
      capitalize(content.services[0][li] as string),
      ...random.sample(5, 2).map((s) => capitalize(content.services[s]?.[li] ?? '')),
    ];
    const licensed = LICENSED.has(category.slug);
    const certifications = licensed ? ['Licensed', 'Insured'] : random.chance(0.3) ? ['First aid'] : [];
    const business = random.chance(0.3) ? `${last} ${field}` : null;
    const verified = people.status[u] === 0;
    const website = business && random.chance(0.4) ? `https://www.${ascii(last)}-${ascii(field)}.example.com` : null;
    const social = random.chance(0.15)
      ? { instagram: `https://instagram.com/${ascii(first)}${ascii(last)}${u + 1}` }
      : {};
    yield `${people.id(u)}\t${tenant}\t${text(display)}\t${text(avatar)}\t${text(headline)}\t${text(bio)}\t${textArray([
      ...new Set(skills),
    ])}\t${years}\t${textArray(certifications)}\t${textArray(languages)}\t${home.id}\t${point(
      people.lon[k] as number,
      people.lat[k] as number,
    )}\t${random.int(5, 40) * 1000}\t${text(business)}\t${business ? (random.chance(0.5) ? 'llc' : 'sole_proprietor') : NULL}\t${
      licensed && random.chance(0.6) ? `LIC-${home.country}-${random.int(100000, 999999)}` : NULL
    }\t${text(website)}\t${json(social)}\tt\t${rating}\t${n}\t${bayesian}\t${people.jobsCompleted[u]}\t${bool(verified)}\t${bool(
      verified && random.chance(0.7),
    )}\t${bool(verified && business !== null)}\t${iso(created)}\t${iso(created + random.int(1, 30) * DAY)}\n`;
  }
}

export const ADDRESS_COLUMNS = [
  'id',
  'user_id',
  'tenant_id',
  'label',
  'line1',
  'city',
  'state_province',
  'postal_code',
  'country_code',
  'city_id',
  'location',
  'is_default',
  'created_at',
  'updated_at',
] as const;

/** The parts of an address a booking copies into service_address. */
export function addressParts(ctx: Context, people: People, a: number) {
  const j = people.addresses.user[a] as number;
  const u = people.customers[j] as number;
  const home = ctx.ref.cities[people.city[u] as number] as (typeof ctx.ref.cities)[number];
  const group = NAME_GROUPS[people.group[u] as number] as NameGroup;
  const street = STREETS[group][people.addresses.street[a] as number] as string;
  const number = people.addresses.number[a] as number;
  const line1 =
    group === 'us' || group === 'gb' || group === 'au' || group === 'in' || group === 'fr'
      ? `${number} ${street}`
      : `${street} ${number}`;
  return {
    line1,
    city: home.name,
    state: home.state,
    postal: people.addresses.postal[a] as string,
    country: home.country,
    cityId: home.id,
  };
}

export function* addressRows(ctx: Context, people: People): Generator<string> {
  const tenant = ctx.ref.tenant.id;
  const { addresses } = people;
  for (let a = 0; a < addresses.count; a++) {
    const j = addresses.user[a] as number;
    const u = people.customers[j] as number;
    const parts = addressParts(ctx, people, a);
    const created = (people.createdAt[u] as number) + (1 + (a % 20)) * HOUR;
    const isWork = addresses.work[a] === 1;
    yield `${addresses.id(a)}\t${people.id(u)}\t${tenant}\t${isWork ? 'work' : 'home'}\t${text(parts.line1)}\t${text(
      parts.city,
    )}\t${text(parts.state)}\t${text(parts.postal)}\t${parts.country}\t${parts.cityId}\t${point(
      addresses.lon[a] as number,
      addresses.lat[a] as number,
    )}\t${bool(!isWork)}\t${iso(created)}\t${iso(created)}\n`;
  }
}

export const AVAILABILITY_COLUMNS = [
  'id',
  'provider_id',
  'tenant_id',
  'day_of_week',
  'start_time',
  'end_time',
  'time_zone',
  'created_at',
  'updated_at',
] as const;

/** The weekdays (ISO, 1 = Monday) a provider works. */
export function workdays(people: People, k: number): readonly number[] {
  return people.tuesdayToSaturday[k] ? [2, 3, 4, 5, 6] : [1, 2, 3, 4, 5];
}

export function* availabilityRows(ctx: Context, people: People): Generator<string> {
  const tenant = ctx.ref.tenant.id;
  const id = uuidFactory('provider_availability');
  let row = 0;
  for (let k = 0; k < people.providers.length; k++) {
    const u = people.providers[k] as number;
    const zone = (ctx.ref.cities[people.city[u] as number] as (typeof ctx.ref.cities)[number]).timeZone;
    const start = clock(people.startMinute[k] as number);
    const end = clock(people.endMinute[k] as number);
    const created = iso((people.createdAt[u] as number) + DAY);
    for (const day of workdays(people, k)) {
      yield `${id(row++)}\t${people.id(u)}\t${tenant}\t${day}\t${start}\t${end}\t${zone}\t${created}\t${created}\n`;
    }
  }
}
