import { ApiError } from '../../errors.js';
import { Cursor, type Field } from './field.js';

/**
 * Horizontal filters: `column=[not.]op[(any|all)][(config)].value` and the logic trees
 * `or=(a.eq.1,and(b.gt.2,c.is.null))`, `not.and=(…)`, as PostgREST reads them. Values stay
 * text here; the plan stage checks columns and the SQL stage passes values as parameters.
 */

export const OPERATORS = {
  eq: '=',
  neq: '<>',
  gt: '>',
  gte: '>=',
  lt: '<',
  lte: '<=',
  like: 'like',
  ilike: 'ilike',
  match: '~',
  imatch: '~*',
  in: 'in',
  is: 'is',
  isdistinct: 'is distinct from',
  fts: '@@',
  plfts: '@@',
  phfts: '@@',
  wfts: '@@',
  cs: '@>',
  cd: '<@',
  ov: '&&',
  sl: '<<',
  sr: '>>',
  nxr: '&<',
  nxl: '&>',
  adj: '-|-',
} as const;

export type Operator = keyof typeof OPERATORS;

/** Operators that take the any/all modifier (PostgREST: eq, like, ilike, gt, gte, lt, lte, match, imatch). */
const QUANTIFIABLE = new Set<Operator>(['eq', 'neq', 'like', 'ilike', 'gt', 'gte', 'lt', 'lte', 'match', 'imatch']);
const FTS = new Set<Operator>(['fts', 'plfts', 'phfts', 'wfts']);
const IS_VALUES = new Set(['null', 'not_null', 'true', 'false', 'unknown']);

export interface Condition {
  readonly kind: 'condition';
  readonly field: Field;
  readonly negate: boolean;
  readonly op: Operator;
  readonly quantifier?: 'any' | 'all';
  /** Text-search configuration of fts operators: `fts(english).term`. */
  readonly config?: string;
  /** The value: a list for `in` and any/all, otherwise text. */
  readonly value: string | readonly string[];
}

export interface Logic {
  readonly kind: 'logic';
  readonly op: 'and' | 'or';
  readonly negate: boolean;
  readonly children: readonly FilterNode[];
}

export type FilterNode = Condition | Logic;

/** Parses the value side of `column=<value>` for a known field. */
export function parseCondition(field: Field, text: string, where: string): Condition {
  let rest = text;
  let negate = false;
  if (rest.startsWith('not.')) {
    negate = true;
    rest = rest.slice(4);
  }
  const match = /^([a-z]+)(?:\((any|all)\)|\(([^)]*)\))?\./.exec(rest);
  if (!match) throw invalidFilter(where, text, 'an operator such as eq., in. or is. (see docs/api.md)');
  const [head, name, quantifier, config] = match as unknown as [string, string, string?, string?];
  if (!(name in OPERATORS)) {
    // PostgREST's parser wording, so clients matching on it keep working.
    throw new ApiError('PGRST100', {
      message: `"failed to parse filter (${text})" (line 1, column ${text.length - rest.length + 1})`,
      details: `unexpected "${name[0]}" expecting "not" or operator (eq, gt, ...)`,
    });
  }
  const op = name as Operator;
  const valueText = rest.slice(head.length);
  if (quantifier && !QUANTIFIABLE.has(op)) throw invalidFilter(where, text, `an operator that takes (${quantifier})`);
  if (config !== undefined && !FTS.has(op)) throw invalidFilter(where, text, 'a text-search operator before (config)');
  if (config !== undefined && !/^[A-Za-z_][A-Za-z0-9_.]*$/.test(config)) {
    throw invalidFilter(where, text, 'a text-search configuration name such as english');
  }

  if (op === 'in') return { kind: 'condition', field, negate, op, value: parseList(valueText, '(', ')', where, text) };
  if (quantifier) {
    const value = parseList(valueText, '{', '}', where, text);
    return { kind: 'condition', field, negate, op, quantifier: quantifier as 'any' | 'all', value };
  }
  if (op === 'is' && !IS_VALUES.has(valueText.toLowerCase())) {
    throw invalidFilter(where, text, 'null, not_null, true, false or unknown after is.');
  }
  return { kind: 'condition', field, negate, op, config, value: op === 'is' ? valueText.toLowerCase() : valueText };
}

/**
 * `(a,b,"c,d")` or `{a,b}`: items split on commas, double quotes keeping commas and
 * parentheses, backslash escaping a quote or backslash.
 */
function parseList(text: string, open: string, close: string, where: string, whole: string): string[] {
  if (!text.startsWith(open) || !text.endsWith(close)) {
    throw invalidFilter(where, whole, `a list in ${open}${close}, e.g. ${open}1,2,3${close}`);
  }
  const inner = text.slice(1, -1);
  if (inner === '') return [];
  const items: string[] = [];
  let current = '';
  let quoted = false;
  let wasQuoted = false;
  for (let i = 0; i < inner.length; i++) {
    const ch = inner[i] as string;
    if (ch === '\\' && i + 1 < inner.length) {
      current += inner[++i];
    } else if (ch === '"') {
      quoted = !quoted;
      wasQuoted = true;
    } else if (ch === ',' && !quoted) {
      items.push(wasQuoted ? current : current.trim());
      current = '';
      wasQuoted = false;
    } else current += ch;
  }
  if (quoted) throw invalidFilter(where, whole, 'a closing double quote');
  items.push(wasQuoted ? current : current.trim());
  return items;
}

/** `(a.eq.1,b.gt.2,and(c.is.null))`: the value of an `or`/`and` parameter. */
export function parseLogic(op: 'and' | 'or', negate: boolean, text: string, where: string): Logic {
  const cursor = new Cursor(text, `logic tree (${where})`);
  if (!text.startsWith('(')) cursor.fail('"(" to open the list of conditions');
  if (!text.endsWith(')') || text.length === 1) {
    // `or=(a.eq.1`: say where the list should have ended and what was expected there.
    cursor.pos = text.length;
    cursor.fail(`"," and another condition, or ")" to close the list: ${where}=(a.eq.1,b.eq.2)`);
  }
  const children = splitTopLevel(text.slice(1, -1), where, text).map((part) => parseLogicItem(part, where));
  if (children.length === 0) cursor.fail('at least one condition');
  return { kind: 'logic', op, negate, children };
}

function parseLogicItem(text: string, where: string): FilterNode {
  const logic = /^(not\.)?(and|or)(\(.*\))$/s.exec(text);
  if (logic) return parseLogic(logic[2] as 'and' | 'or', logic[1] !== undefined, logic[3] as string, where);
  const cursor = new Cursor(text, `logic tree (${where})`);
  const field = cursor.field('.');
  if (!cursor.eat('.')) cursor.fail('"." and an operator after the column');
  const condition = parseCondition(field, text.slice(cursor.pos), where);
  return typeof condition.value === 'string' ? { ...condition, value: unquote(condition.value) } : condition;
}

/** Inside or=()/and=(), a value may be double-quoted to hold `,` `.` `(` `)`: `"[15,16)"`. */
function unquote(value: string): string {
  if (value.length < 2 || !value.startsWith('"') || !value.endsWith('"')) return value;
  return value.slice(1, -1).replace(/\\(.)/g, '$1');
}

/** Splits on commas outside quotes, parentheses and braces. */
function splitTopLevel(text: string, where: string, whole: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quoted = false;
  let current = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (ch === '\\' && i + 1 < text.length) {
      current += ch + text[++i];
      continue;
    }
    if (ch === '"') quoted = !quoted;
    else if (!quoted && (ch === '(' || ch === '{')) depth++;
    else if (!quoted && (ch === ')' || ch === '}')) depth--;
    if (depth < 0) throw invalidFilter(where, whole, 'balanced parentheses');
    if (ch === ',' && depth === 0 && !quoted) {
      parts.push(current);
      current = '';
    } else current += ch;
  }
  if (quoted) throw invalidFilter(where, whole, 'a closing double quote');
  if (depth !== 0) throw invalidFilter(where, whole, `")" to close the "(" left open (${depth} unclosed)`);
  if (current !== '' || parts.length > 0) parts.push(current);
  return parts;
}

function invalidFilter(where: string, text: string, expecting: string): ApiError {
  return new ApiError('PGRST100', {
    message: `"failed to parse filter (${text})" (${where})`,
    details: `expecting ${expecting}`,
  });
}
