/**
 * TypeScript type expressions as data, and a printer that lays them out as this project's
 * formatter (Biome: 2 spaces, single quotes, semicolons, 120 columns) would, so the committed
 * types file passes `biome check` unchanged. Object types are always expanded, one member per
 * line; a union that does not fit on its line breaks into one `| member` per line; tuples and
 * arrays break the same way. Only the shapes the type generator emits are covered.
 */

export type TsType =
  /** Printed as is: `string`, `Json`, `Database['public']['Enums']['x']`, `'draft'`. */
  | { readonly kind: 'raw'; readonly text: string }
  | { readonly kind: 'union'; readonly members: readonly TsType[] }
  | { readonly kind: 'array'; readonly element: TsType }
  | { readonly kind: 'tuple'; readonly elements: readonly TsType[] }
  | { readonly kind: 'object'; readonly members: readonly TsMember[] };

export interface TsMember {
  readonly key: string;
  readonly optional?: boolean;
  readonly type: TsType;
  /** A `//` comment line above the member. */
  readonly comment?: string;
}

export const LINE_WIDTH = 120;
const STEP = '  ';

export const raw = (text: string): TsType => ({ kind: 'raw', text });
export const literal = (value: string | boolean): TsType => raw(typeof value === 'string' ? quote(value) : `${value}`);
export const array = (element: TsType): TsType => ({ kind: 'array', element });
export const tuple = (elements: readonly TsType[]): TsType => ({ kind: 'tuple', elements });
export const object = (members: readonly TsMember[]): TsType => ({ kind: 'object', members });

/** A union, flattened; a single member is itself. */
export function union(members: readonly TsType[]): TsType {
  const flat = members.flatMap((m) => (m.kind === 'union' ? m.members : [m]));
  return flat.length === 1 ? (flat[0] as TsType) : { kind: 'union', members: flat };
}

/** An object type without members, which the linter accepts (unlike `{}`). */
export const EMPTY_OBJECT = '{ [_ in never]: never }';

/** A string literal as Biome writes it: single quotes unless the text holds more of them than of double ones. */
export function quote(value: string): string {
  const singles = value.split("'").length - 1;
  const doubles = value.split('"').length - 1;
  const q = singles > doubles ? '"' : "'";
  let out = '';
  for (const ch of value) {
    const code = ch.codePointAt(0) as number;
    if (ch === '\\' || ch === q) out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (code < 0x20 || code === 0x2028 || code === 0x2029) out += `\\u${code.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return `${q}${out}${q}`;
}

/** A property key: bare when it is an identifier, quoted otherwise. */
export function key(name: string): string {
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(name) ? name : quote(name);
}

/** The type on one line, or undefined when it cannot be (an object with members). */
function flat(type: TsType): string | undefined {
  switch (type.kind) {
    case 'raw':
      return type.text;
    case 'object':
      return type.members.length === 0 ? EMPTY_OBJECT : undefined;
    case 'union': {
      const parts = type.members.map(flat);
      return parts.every((p) => p !== undefined) ? parts.join(' | ') : undefined;
    }
    case 'array': {
      const element = flat(type.element);
      if (element === undefined) return undefined;
      return type.element.kind === 'union' ? `(${element})[]` : `${element}[]`;
    }
    case 'tuple': {
      const parts = type.elements.map(flat);
      return parts.every((p) => p !== undefined) ? `[${parts.join(', ')}]` : undefined;
    }
  }
}

/**
 * The type where it may span lines: the first line continues the current one, later lines
 * carry their own indentation, and `indent` is that of the line the type starts on.
 */
function block(type: TsType, indent: string, used: number): string {
  const one = flat(type);
  if (one !== undefined && (used + one.length <= LINE_WIDTH || !breakable(type))) return one;
  switch (type.kind) {
    case 'object':
      return `{\n${type.members.map((m) => member(m, indent + STEP)).join('\n')}\n${indent}}`;
    case 'array':
      if (type.element.kind === 'union') return `(\n${unionLines(type.element, indent + STEP)}\n${indent})[]`;
      return `${block(type.element, indent, used)}[]`;
    case 'tuple':
      if (type.elements.length === 0) return '[]';
      return `[\n${type.elements
        .map((e) => `${indent}${STEP}${block(e, indent + STEP, indent.length + STEP.length + 1)},`)
        .join('\n')}\n${indent}]`;
    case 'union':
      return `\n${unionLines(type, indent + STEP)}`;
    case 'raw':
      return type.text;
  }
}

function breakable(type: TsType): boolean {
  return type.kind !== 'raw' && !(type.kind === 'array' && type.element.kind === 'raw');
}

/** `| member` lines; an object member's body is indented past the bar. */
function unionLines(type: TsType & { kind: 'union' }, indent: string): string {
  return type.members.map((m) => `${indent}| ${block(m, indent + STEP, indent.length + 2)}`).join('\n');
}

/** One `key: type;` member, at `indent`. */
export function member(m: TsMember, indent: string): string {
  const head = `${indent}${key(m.key)}${m.optional ? '?' : ''}:`;
  const comment = m.comment === undefined ? '' : `${indent}// ${m.comment}\n`;
  const one = flat(m.type);
  if (one !== undefined && (head.length + 1 + one.length + 1 <= LINE_WIDTH || !breakable(m.type))) {
    return `${comment}${head} ${one};`;
  }
  if (m.type.kind === 'union') return `${comment}${head}\n${unionLines(m.type, indent + STEP)};`;
  return `${comment}${head} ${block(m.type, indent, head.length + 1)};`;
}

/** `export type Name = …;` */
export function typeAlias(name: string, type: TsType): string {
  const head = `export type ${name} =`;
  const one = flat(type);
  if (type.kind === 'union' && (one === undefined || head.length + 1 + one.length + 1 > LINE_WIDTH)) {
    return `${head}\n${unionLines(type, STEP)};`;
  }
  return `${head} ${block(type, '', head.length + 1)};`;
}

/** A value of nested objects and arrays of strings, laid out as Biome lays out an object literal. */
export type ConstValue = string | readonly string[] | { readonly [key: string]: ConstValue };

export function constValue(value: ConstValue, indent: string, used: number): string {
  if (typeof value === 'string') return quote(value);
  if (isStringArray(value)) {
    const one = `[${value.map(quote).join(', ')}]`;
    if (used + one.length + 1 <= LINE_WIDTH || value.length === 0) return one;
    return `[\n${value.map((v) => `${indent}${STEP}${quote(v)},`).join('\n')}\n${indent}]`;
  }
  const entries = Object.entries(value);
  if (entries.length === 0) return '{}';
  return `{\n${entries
    .map(([k, v]) => {
      const head = `${indent}${STEP}${key(k)}: `;
      return `${head}${constValue(v, indent + STEP, head.length)},`;
    })
    .join('\n')}\n${indent}}`;
}

function isStringArray(value: ConstValue): value is readonly string[] {
  return Array.isArray(value);
}
