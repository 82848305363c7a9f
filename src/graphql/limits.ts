import {
  type ASTVisitor,
  type FragmentDefinitionNode,
  GraphQLError,
  NoSchemaIntrospectionCustomRule,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValidationContext,
  type ValidationRule,
} from 'postgraphile/graphql';

/*
 * What one GraphQL operation may ask for, checked while grafserv validates the document (before
 * anything runs, once per distinct document: grafserv caches the result). GraphQL Armor's limits
 * as graphql-js validation rules of our own: depth, aliases, fields (the width and cost of the
 * answer: every field selected, fragments counted each time they are spread), directives.
 * Introspection has its own switch and is not counted. Decision 0025, slice 2.
 */

export interface GraphqlLimits {
  readonly maxDepth: number;
  readonly maxAliases: number;
  readonly maxFields: number;
  readonly maxDirectives: number;
  /** Off: `__schema` and `__type` are refused (the schema is still in schema.graphql). */
  readonly introspection: boolean;
  /** Production: no "Did you mean …?" in errors, which would spell the schema out field by field. */
  readonly hideSuggestions: boolean;
}

/** What an operation asks for, with every fragment spread expanded. */
interface Measure {
  depth: number;
  aliases: number;
  fields: number;
  directives: number;
}

const NOTHING: Measure = { depth: 0, aliases: 0, fields: 0, directives: 0 };

/** Introspection fields: governed by the introspection switch, not by the limits. */
const INTROSPECTION = new Set(['__schema', '__type']);

/**
 * Measures operations. Each fragment is measured once and its measure reused wherever it is
 * spread, so a document of fragments spreading fragments (a "fragment bomb") costs linear time to
 * measure while its expanded size is what is compared with the limits. A fragment cycle counts as
 * nothing here; graphql-js's NoFragmentCyclesRule refuses it.
 */
class Measurer {
  readonly #fragments = new Map<string, Measure>();
  readonly #measuring = new Set<string>();
  constructor(private readonly context: ValidationContext) {}

  selectionSet(set: SelectionSetNode | undefined): Measure {
    const total = { ...NOTHING };
    for (const selection of set?.selections ?? []) {
      let part: Measure;
      const directives = selection.directives?.length ?? 0;
      if (selection.kind === 'Field') {
        if (INTROSPECTION.has(selection.name.value)) continue;
        const inner = this.selectionSet(selection.selectionSet);
        part = {
          depth: inner.depth + 1,
          aliases: inner.aliases + (selection.alias === undefined ? 0 : 1),
          fields: inner.fields + 1,
          directives: inner.directives + directives,
        };
      } else if (selection.kind === 'InlineFragment') {
        const inner = this.selectionSet(selection.selectionSet);
        part = { ...inner, directives: inner.directives + directives };
      } else {
        const inner = this.fragment(selection.name.value);
        part = { ...inner, directives: inner.directives + directives };
      }
      total.depth = Math.max(total.depth, part.depth);
      total.aliases += part.aliases;
      total.fields += part.fields;
      total.directives += part.directives;
    }
    return total;
  }

  fragment(name: string): Measure {
    const known = this.#fragments.get(name);
    if (known !== undefined) return known;
    const definition: FragmentDefinitionNode | null | undefined = this.context.getFragment(name);
    if (definition == null || this.#measuring.has(name)) return NOTHING;
    this.#measuring.add(name);
    const inner = this.selectionSet(definition.selectionSet);
    this.#measuring.delete(name);
    const measure = { ...inner, directives: inner.directives + (definition.directives?.length ?? 0) };
    this.#fragments.set(name, measure);
    return measure;
  }

  operation(operation: OperationDefinitionNode): Measure {
    const inner = this.selectionSet(operation.selectionSet);
    return { ...inner, directives: inner.directives + (operation.directives?.length ?? 0) };
  }
}

/** The error of a limit: what was found, the limit, and the setting that raises it. */
function limitError(
  operation: OperationDefinitionNode,
  what: string,
  found: number,
  limit: number,
  setting: string,
): GraphQLError {
  const name = operation.name === undefined ? 'The operation' : `Operation "${operation.name.value}"`;
  return new GraphQLError(`${name} ${what} ${found}; the limit is ${limit}.`, {
    nodes: [operation],
    extensions: { code: 'LOCO_GRAPHQL_LIMIT', limit: setting, found, max: limit },
  });
}

function limitsRule(limits: GraphqlLimits): ValidationRule {
  return (context): ASTVisitor => {
    const measurer = new Measurer(context);
    return {
      OperationDefinition(operation) {
        const m = measurer.operation(operation);
        const checks = [
          ['is nested deeper than allowed: depth', m.depth, limits.maxDepth, 'LOCONOMY_GRAPHQL_MAX_DEPTH'],
          ['uses too many aliases:', m.aliases, limits.maxAliases, 'LOCONOMY_GRAPHQL_MAX_ALIASES'],
          ['selects too many fields:', m.fields, limits.maxFields, 'LOCONOMY_GRAPHQL_MAX_FIELDS'],
          ['uses too many directives:', m.directives, limits.maxDirectives, 'LOCONOMY_GRAPHQL_MAX_DIRECTIVES'],
        ] as const;
        for (const [what, found, limit, setting] of checks) {
          if (found > limit) context.reportError(limitError(operation, what, found, limit, setting));
        }
      },
    };
  };
}

/** graphql-js's suggestions, as its messages end: ` Did you mean "x" or "y"?`. */
const SUGGESTION = /\s*Did you mean [\s\S]*\?$/;

/** The message without its "Did you mean …?" (the error is the same otherwise). */
export function withoutSuggestion(error: GraphQLError): GraphQLError {
  if (!SUGGESTION.test(error.message)) return error;
  return new GraphQLError(error.message.replace(SUGGESTION, ''), {
    nodes: error.nodes,
    source: error.source,
    positions: error.positions,
    path: error.path,
    originalError: error.originalError,
    extensions: error.extensions,
  });
}

/**
 * Runs first, before the specified rules build their visitors: every error the other rules
 * report on this context loses its suggestion. (graphql-js has a hideSuggestions option, but
 * grafserv's validate call does not pass options.)
 */
const HideSuggestionsRule: ValidationRule = (context) => {
  const report = context.reportError.bind(context);
  context.reportError = (error) => report(withoutSuggestion(error));
  return {};
};

/** The rules to add to grafserv's validation (the specified rules stay). */
export function limitRules(limits: GraphqlLimits): { first: ValidationRule[]; last: ValidationRule[] } {
  return {
    first: limits.hideSuggestions ? [HideSuggestionsRule] : [],
    last: [limitsRule(limits), ...(limits.introspection ? [] : [NoSchemaIntrospectionCustomRule])],
  };
}

/** A grafserv plugin adding the limits to its validation rules. */
export function limitsPlugin(limits: GraphqlLimits): GraphileConfig.Plugin {
  const rules = limitRules(limits);
  return {
    name: 'LoconomyGraphqlLimitsPlugin',
    version: '1.0.0',
    grafserv: {
      middleware: {
        setPreset(next, event) {
          event.validationRules.unshift(...rules.first);
          event.validationRules.push(...rules.last);
          return next();
        },
      },
    },
  };
}
