import { Random } from './random.js';
import type { Reference } from './reference.js';
import { DAY } from './time.js';

/** What every part of the generator shares: the reference data, the size and the clock. */
export interface Context {
  readonly ref: Reference;
  /** The number of listings asked for (N). */
  readonly listings: number;
  /** "Now" for the demo: the start of a UTC day. Past bookings end before it, upcoming ones start after it. */
  readonly anchor: number;
  /** anchor as a day number (days since 1970-01-01). */
  readonly anchorDay: number;
  /** An independent random stream per part, so one part's draws never shift another's. */
  random(part: string): Random;
}

export function createContext(ref: Reference, listings: number, now: Date): Context {
  const anchorDay = Math.floor(now.getTime() / DAY);
  return {
    ref,
    listings,
    anchor: anchorDay * DAY,
    anchorDay,
    random: (part) => new Random('loconomy-demo', listings, part),
  };
}

/** `demo_user_000123`: the Clerk id (JWT sub) of demo user number n (1-based). */
export function demoClerkId(n: number): string {
  return `demo_user_${String(n).padStart(6, '0')}`;
}

export const ADMIN_CLERK_ID = 'demo_admin';

/** ASCII letters only, for e-mail addresses and slugs. */
export function ascii(text: string): string {
  return text
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '');
}

/** A URL slug (public.slug: lower-case words joined by single hyphens). */
export function slugify(text: string, maxLength = 100): string {
  const slug = text
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, maxLength)
    .replace(/-+$/g, '');
  return slug === '' ? 'listing' : slug;
}

/** Rounds half away from zero, like PostgreSQL's round(numeric) for the non-negative amounts here. */
export function roundDiv(numerator: number, denominator: number): number {
  return Math.floor((2 * numerator + denominator) / (2 * denominator));
}
