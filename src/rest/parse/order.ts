import { Cursor, type Field } from './field.js';

/**
 * `order=col.desc.nullslast,data->>x,provider(name).asc`: terms in order; a term may name a
 * column of a to-one embedded resource as `relation(column)`.
 */
export interface OrderTerm {
  /** Set when ordering by a column of an embedded to-one resource. */
  readonly relation?: string;
  readonly field: Field;
  readonly direction?: 'asc' | 'desc';
  readonly nulls?: 'first' | 'last';
}

export function parseOrder(text: string): OrderTerm[] {
  const c = new Cursor(text, 'order parameter');
  const terms: OrderTerm[] = [];
  do {
    let relation: string | undefined;
    let field = c.field(',.(');
    if (c.eat('(')) {
      relation = field.name;
      field = c.field(',.()');
      c.expect(')');
    }
    let direction: OrderTerm['direction'];
    let nulls: OrderTerm['nulls'];
    while (c.eat('.')) {
      const word = c.name(',.', 'asc, desc, nullsfirst or nullslast');
      if ((word === 'asc' || word === 'desc') && direction === undefined) direction = word;
      else if ((word === 'nullsfirst' || word === 'nullslast') && nulls === undefined) {
        nulls = word === 'nullsfirst' ? 'first' : 'last';
      } else {
        c.pos -= word.length;
        c.fail('asc, desc, nullsfirst or nullslast');
      }
    }
    terms.push({ relation, field, direction, nulls });
  } while (c.eat(','));
  if (!c.done) c.fail('"," or end of input');
  return terms;
}
