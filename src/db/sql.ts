/**
 * The only door into SQL (STYLE.md 2). Values enter as $n parameters, identifiers only
 * through `sql.ident`, and fixed text only as template literals or `sql.raw` of a string
 * literal. Nothing else in the code base builds SQL from strings.
 *
 *   const q = sql`select * from ${sql.ident('public', 'users')} where id = ${id}`;
 *   q.text   // select * from "public"."users" where id = $1
 *   q.values // [id]
 */

/** What a Database runs: text with $1..$n placeholders and their values. */
export interface Query {
  readonly text: string;
  readonly values: readonly unknown[];
  /**
   * The text is a request shape run again and again with other values: PostgreSQL runs it as a
   * named prepared statement, planned once per connection (src/db/prepared.ts); PGlite ignores it.
   */
  readonly prepare?: boolean;
  /**
   * Columns of the result to return as the bytes PostgreSQL sent (Buffers), not decoded text:
   * a body passed on untouched (src/db/row-bytes.ts). PostgreSQL only; PGlite returns strings.
   */
  readonly bytes?: readonly string[];
  /** Rows as arrays of values in column order, not objects (node-postgres's rowMode 'array'). */
  readonly arrayMode?: boolean;
}

/** Text, a value (a parameter), or a nested fragment: nesting keeps a reference, no copy. */
type Part = string | { readonly value: unknown } | SqlFragment;

/**
 * A piece of SQL; fragments nest, and compile to one Query when `text`/`values` is read. A
 * request's statement is built from hundreds of small fragments, so nesting only links them and
 * the tree is walked once, at compile time (decision 0014, CPU per request).
 */
export class SqlFragment implements Query {
  readonly #parts: readonly Part[];
  #compiled: Query | undefined;

  /** @internal Use the `sql` tag and its helpers. */
  constructor(parts: readonly Part[]) {
    this.#parts = parts;
  }

  get text(): string {
    this.#compiled ??= compile(this);
    return this.#compiled.text;
  }

  get values(): readonly unknown[] {
    this.#compiled ??= compile(this);
    return this.#compiled.values;
  }

  /** @internal For compile: the parts as given, nested fragments included. */
  get parts(): readonly Part[] {
    return this.#parts;
  }
}

function compile(root: SqlFragment): Query {
  const texts: string[] = [];
  const values: unknown[] = [];
  append(root, texts, values);
  // One flat string: concatenating hundreds of pieces one by one makes as many rope nodes.
  return { text: texts.join(''), values };
}

function append(fragment: SqlFragment, texts: string[], values: unknown[]): void {
  for (const part of fragment.parts) {
    if (typeof part === 'string') texts.push(part);
    else if (part instanceof SqlFragment) append(part, texts, values);
    else {
      values.push(part.value);
      texts.push(`$${values.length}`);
    }
  }
}

function fragment(strings: TemplateStringsArray, ...args: unknown[]): SqlFragment {
  const parts: Part[] = [];
  for (let i = 0; i < strings.length; i++) {
    const chunk = strings[i] as string;
    if (chunk !== '') parts.push(chunk);
    if (i < args.length) {
      const arg = args[i];
      parts.push(arg instanceof SqlFragment ? arg : { value: arg });
    }
  }
  return new SqlFragment(parts);
}

/** PostgreSQL truncates longer names silently; refusing them keeps two names from colliding. */
const MAX_IDENTIFIER_BYTES = 63;

/**
 * Quotes one or more identifiers, joined with dots: ident('auth', 'users') is "auth"."users".
 * Double quotes inside are doubled; NUL, empty and over-long names are refused, because
 * PostgreSQL would reject or silently truncate them. This is the audited identifier path:
 * roles, schemas, tables, columns and channels from anywhere outside this file go through it.
 */
function ident(...names: string[]): SqlFragment {
  if (names.length === 0) throw new TypeError('sql.ident needs at least one name');
  let text = quoted(names[0] as string);
  for (let i = 1; i < names.length; i++) text += `.${quoted(names[i] as string)}`;
  return new SqlFragment([text]);
}

/** One identifier, checked and quoted; remembered, since requests name the same columns again and again. */
function quoted(name: string): string {
  let text = quotedNames.get(name);
  if (text !== undefined) return text;
  if (typeof name !== 'string') throw new TypeError(`sql.ident expects strings, got ${typeof name}`);
  if (name === '') throw new TypeError('sql.ident: an identifier cannot be empty');
  if (name.includes('\0')) throw new TypeError('sql.ident: an identifier cannot contain NUL');
  if (Buffer.byteLength(name, 'utf8') > MAX_IDENTIFIER_BYTES) {
    throw new TypeError(`sql.ident: identifier longer than ${MAX_IDENTIFIER_BYTES} bytes: ${name.slice(0, 20)}…`);
  }
  text = `"${name.replaceAll('"', '""')}"`;
  // Names can come from requests (aliases): bounded, the whole map forgotten when full.
  if (quotedNames.size >= QUOTED_NAMES_REMEMBERED) quotedNames.clear();
  quotedNames.set(name, text);
  return text;
}

const QUOTED_NAMES_REMEMBERED = 10_000;
const quotedNames = new Map<string, string>();

/** Joins fragments (or values, which become parameters) with a separator, default ", ". */
function join(items: readonly unknown[], separator: SqlFragment = COMMA): SqlFragment {
  const parts: Part[] = [];
  for (let i = 0; i < items.length; i++) {
    if (i > 0) parts.push(separator);
    const item = items[i];
    parts.push(item instanceof SqlFragment ? item : { value: item });
  }
  return new SqlFragment(parts);
}

const COMMA = new SqlFragment([', ']);

/**
 * Verbatim SQL, for compile-time constants only. The parameter type accepts string literals
 * and rejects `string`, so a runtime value cannot reach it without a cast a reviewer will see.
 */
function raw<T extends string>(text: string extends T ? never : T): SqlFragment {
  return new SqlFragment([text]);
}

/**
 * An integer literal, for the few places SQL needs a constant rather than a parameter
 * (GROUP BY positions). Anything but a safe integer is refused, so nothing else can pass.
 */
function int(value: number): SqlFragment {
  if (!Number.isSafeInteger(value)) throw new TypeError(`sql.int expects a safe integer, got ${String(value)}`);
  return new SqlFragment([String(value)]);
}

/** An empty fragment, for optional clauses. */
const empty = new SqlFragment([]);

export const sql = Object.assign(fragment, { ident, join, raw, int, empty });

export function isQuery(value: unknown): value is Query {
  return (
    value instanceof SqlFragment ||
    (typeof value === 'object' && value !== null && 'text' in value && 'values' in value)
  );
}
