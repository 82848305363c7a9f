import { ApiError } from '../../errors.js';

/**
 * The lexical pieces the select, filter and order grammars share: names (plain or "quoted"),
 * JSON paths (`data->a->>b`, `tags->0`) and casts (`::text`). A small cursor over one
 * parameter's text, with PostgREST-style PGRST100 errors that say where it went wrong.
 */

export interface JsonStep {
  /** `->` keeps JSON, `->>` gives text. */
  readonly arrow: '->' | '->>';
  /** A key, or an array index when it is all digits (possibly negative). */
  readonly key: string;
}

export interface Field {
  readonly name: string;
  readonly path: readonly JsonStep[];
  /** Set by the plan stage when the name is a computed field: the function to call with the row. */
  readonly computed?: { readonly schema: string; readonly name: string };
}

export class Cursor {
  pos = 0;
  constructor(
    readonly text: string,
    readonly what: string,
  ) {}

  get done(): boolean {
    return this.pos >= this.text.length;
  }

  peek(n = 1): string {
    return this.text.slice(this.pos, this.pos + n);
  }

  eat(token: string): boolean {
    if (this.text.startsWith(token, this.pos)) {
      this.pos += token.length;
      return true;
    }
    return false;
  }

  expect(token: string, expecting = `"${token}"`): void {
    if (!this.eat(token)) this.fail(expecting);
  }

  fail(expecting: string): never {
    const found = this.done ? 'end of input' : `"${this.text[this.pos]}"`;
    throw new ApiError('PGRST100', {
      message: `"failed to parse ${this.what} (${this.text})" (line 1, column ${this.pos + 1})`,
      details: `unexpected ${found} expecting ${expecting}`,
    });
  }

  /** A name: "quoted" (with "" or \" for a quote) or a run of characters up to a delimiter. */
  name(delimiters: string, expecting = 'a column name'): string {
    if (this.eat('"')) {
      let out = '';
      while (!this.done) {
        const ch = this.text[this.pos] as string;
        if (ch === '\\' && this.text[this.pos + 1] === '"') {
          out += '"';
          this.pos += 2;
        } else if (ch === '"') {
          if (this.text[this.pos + 1] === '"') {
            out += '"';
            this.pos += 2;
          } else {
            this.pos += 1;
            if (out === '') this.fail(expecting);
            return out;
          }
        } else {
          out += ch;
          this.pos += 1;
        }
      }
      this.fail('a closing quote');
    }
    const start = this.pos;
    while (!this.done && !delimiters.includes(this.text[this.pos] as string) && !this.atArrow() && !this.atCast()) {
      this.pos += 1;
    }
    const out = this.text.slice(start, this.pos);
    if (out === '') this.fail(expecting);
    return out;
  }

  atArrow(): boolean {
    return this.peek(2) === '->';
  }

  atCast(): boolean {
    return this.peek(2) === '::';
  }

  /** `->key` and `->>key` steps after a column name. */
  jsonPath(delimiters: string): JsonStep[] {
    const path: JsonStep[] = [];
    while (this.atArrow()) {
      const arrow = this.eat('->>') ? '->>' : '->';
      if (arrow === '->') this.eat('->');
      path.push({ arrow, key: this.name(delimiters, 'a JSON key') });
    }
    return path;
  }

  field(delimiters: string): Field {
    const name = this.name(delimiters);
    return { name, path: this.jsonPath(delimiters) };
  }

  /** `::type`, where type is a name with optional spaces (double precision) and [] suffixes. */
  cast(): string | undefined {
    if (!this.eat('::')) return undefined;
    const match = /^[A-Za-z_][A-Za-z0-9_ ]*(\[\])*/.exec(this.text.slice(this.pos));
    if (!match) this.fail('a type name');
    this.pos += match[0].length;
    return match[0].trim();
  }
}

/** The key a JSON path gives a selected field by default: the last key, else the column. */
export function defaultName(field: Field): string {
  const last = field.path[field.path.length - 1];
  return last ? last.key : field.name;
}
