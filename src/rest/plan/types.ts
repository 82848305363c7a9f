import type { Field } from '../parse/field.js';
import type { Condition } from '../parse/filter.js';
import type { AggregateFunction } from '../parse/select.js';
import type { Relation, Relationship, Routine, TypeName } from '../schema/cache.js';

/**
 * Plans: what a request will do, resolved against the schema cache, with every name checked
 * and every type known. The SQL stage turns a plan into one statement; nothing here is SQL.
 */

/** One output column of a select list. */
export type OutputItem =
  | {
      readonly kind: 'column';
      readonly field: Field;
      readonly name: string;
      readonly cast?: TypeName;
      readonly aggregate?: { readonly fn: AggregateFunction; readonly cast?: TypeName };
    }
  | { readonly kind: 'count'; readonly name: string; readonly cast?: TypeName }
  /** The JSON of an embedding (index into SelectPlan.embeds). */
  | { readonly kind: 'embed'; readonly name: string; readonly embed: number }
  /** A column of a spread to-one embedding, hoisted into this level. */
  | { readonly kind: 'spread'; readonly name: string; readonly embed: number; readonly column: string };

export type FilterPlan =
  | { readonly kind: 'condition'; readonly condition: Condition }
  | {
      readonly kind: 'logic';
      readonly op: 'and' | 'or';
      readonly negate: boolean;
      readonly children: readonly FilterPlan[];
    }
  /** `embedding=is.null` / `not.is.null`: whether the embedded resource is there. */
  | { readonly kind: 'embedded'; readonly embed: number; readonly present: boolean };

export interface OrderPlan {
  readonly field: Field;
  readonly direction?: 'asc' | 'desc';
  readonly nulls?: 'first' | 'last';
  /** Order by a column of a to-one relationship (a scalar subquery). */
  readonly via?: { readonly relationship: Relationship; readonly target: Relation };
}

export interface SelectPlan {
  readonly items: readonly OutputItem[];
  readonly embeds: readonly EmbedPlan[];
  readonly where: readonly FilterPlan[];
  readonly order: readonly OrderPlan[];
  readonly limit?: number;
  readonly offset?: number;
  /** There is an aggregate: group by the other items. */
  readonly grouped: boolean;
}

export interface EmbedPlan {
  readonly name: string;
  readonly relationship: Relationship;
  readonly target: Relation;
  readonly toOne: boolean;
  readonly inner: boolean;
  readonly spread: boolean;
  readonly select: SelectPlan;
}

/** Where the rows come from: a table or view, or a function call. */
export type Source =
  | { readonly kind: 'relation'; readonly relation: Relation }
  | {
      readonly kind: 'call';
      readonly routine: Routine;
      readonly args: ReadonlyMap<string, unknown>;
      readonly singleObject: boolean;
    };
