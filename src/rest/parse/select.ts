import { Cursor, type Field } from './field.js';

/**
 * The `select` parameter, as PostgREST reads it:
 *
 *   select=id,title,price:price_cents::text,data->>color,count(),amount.sum(),
 *          provider:users!listings_provider_id_fkey(id,name),reviews!inner(*),...category(name)
 *
 * Whitespace outside quotes is ignored (supabase-js strips it too).
 */

export type AggregateFunction = 'count' | 'sum' | 'avg' | 'min' | 'max';

export type SelectItem = StarItem | FieldItem | CountItem | EmbedItem;

export interface StarItem {
  readonly kind: 'star';
}

export interface FieldItem {
  readonly kind: 'field';
  readonly field: Field;
  readonly alias?: string;
  /** Cast of the column (before an aggregate), e.g. `amount::int.sum()`. */
  readonly cast?: string;
  readonly aggregate?: { readonly fn: AggregateFunction; readonly cast?: string };
}

/** A bare `count()`: the number of rows (in each group). */
export interface CountItem {
  readonly kind: 'count';
  readonly alias?: string;
  readonly cast?: string;
}

export interface EmbedItem {
  readonly kind: 'embed';
  /** A table, view or function name reachable through a relationship. */
  readonly relation: string;
  readonly alias?: string;
  /** `!inner`, `!left`, or a foreign key / column name that picks among relationships. */
  readonly join?: 'inner' | 'left';
  readonly hint?: string;
  /** `...relation(cols)`: the embedded columns are spread into the parent. */
  readonly spread: boolean;
  readonly select: readonly SelectItem[];
}

const AGGREGATES = new Set<string>(['count', 'sum', 'avg', 'min', 'max']);
const DELIMITERS = ',()!:.';

export function parseSelect(text: string): SelectItem[] {
  const compact = stripWhitespace(text);
  if (compact === '') return [{ kind: 'star' }];
  const cursor = new Cursor(compact, 'select parameter');
  const items = parseList(cursor);
  if (!cursor.done) cursor.fail('"," or end of input');
  return items;
}

function parseList(c: Cursor): SelectItem[] {
  const items: SelectItem[] = [parseItem(c)];
  while (c.eat(',')) items.push(parseItem(c));
  return items;
}

function parseItem(c: Cursor): SelectItem {
  if (c.eat('*')) return { kind: 'star' };
  if (c.eat('...')) return parseEmbed(c, c.name(DELIMITERS, 'a relation name'), undefined, true);

  let alias: string | undefined;
  let name = c.name(DELIMITERS, 'a field name (* or a column)');
  if (c.peek() === ':' && c.peek(2) !== '::') {
    c.eat(':');
    alias = name;
    if (c.eat('...')) c.fail('a field name (spread cannot be aliased)');
    name = c.name(DELIMITERS, 'a field name');
  }
  if (name === 'count' && c.peek(2) === '()') {
    c.eat('()');
    return { kind: 'count', alias, cast: c.cast() };
  }
  if (c.peek() === '(' || c.peek() === '!') return parseEmbed(c, name, alias, false);

  const field: Field = { name, path: c.jsonPath(DELIMITERS) };
  const cast = c.cast();
  if (c.eat('.')) {
    const fn = c.name(DELIMITERS, 'an aggregate function (count, sum, avg, min, max)');
    if (!AGGREGATES.has(fn)) {
      c.pos -= fn.length;
      c.fail('an aggregate function (count, sum, avg, min, max)');
    }
    c.expect('()');
    return { kind: 'field', field, alias, cast, aggregate: { fn: fn as AggregateFunction, cast: c.cast() } };
  }
  return { kind: 'field', field, alias, cast };
}

function parseEmbed(c: Cursor, relation: string, alias: string | undefined, spread: boolean): EmbedItem {
  let join: 'inner' | 'left' | undefined;
  let hint: string | undefined;
  while (c.eat('!')) {
    const word = c.name(DELIMITERS, 'inner, left or a foreign key name');
    if (word === 'inner' || word === 'left') join = word;
    else if (hint === undefined) hint = word;
    else c.fail('"(" (only one relationship hint is allowed)');
  }
  c.expect('(');
  const select: SelectItem[] = c.peek() === ')' ? [] : parseList(c);
  c.expect(')', '"," or ")"');
  return { kind: 'embed', relation, alias, join, hint, spread, select };
}

/** Drops whitespace that is outside double quotes. */
export function stripWhitespace(text: string): string {
  let out = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (ch === '"' && text[i - 1] !== '\\') quoted = !quoted;
    if (!quoted && /\s/.test(ch)) continue;
    out += ch;
  }
  return out;
}
