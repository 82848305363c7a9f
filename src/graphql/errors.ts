import { randomUUID } from 'node:crypto';
import { isSafeError } from 'postgraphile/grafast';
import { GraphQLError } from 'postgraphile/graphql';
import type { Logger } from '../log.js';
import { fromDatabaseError, isDatabaseError } from '../rest/errors.js';
import { withoutSuggestion } from './limits.js';

/*
 * What a GraphQL error shows. PostgreSQL's errors are the API's errors, as over REST: RLS
 * refusals, check violations, a workflow function's `raise` with its hint. They keep their
 * message and gain REST's fields as extensions (code = SQLSTATE, details, hint, and the HTTP
 * status REST would answer). Anything else is a bug: logged with an id, and shown as that id in
 * production; in development its message is shown too. Never SQL text or a stack. Decision 0025.
 */

export function graphqlErrorMasker(log: Logger, development: boolean): (error: GraphQLError) => GraphQLError {
  return (error) => {
    const original = error.originalError;
    // Production: no "Did you mean …?" (variables' enum values, input fields), as in validation.
    if (original == null || original instanceof GraphQLError) return development ? error : withoutSuggestion(error);
    const where = { nodes: error.nodes, source: error.source, positions: error.positions, path: error.path };
    if (isDatabaseError(original)) {
      const api = fromDatabaseError(original, true);
      return new GraphQLError(api.message, {
        ...where,
        extensions: { code: api.code, details: api.details, hint: api.hint, status: api.status },
      });
    }
    if (isSafeError(original)) {
      return new GraphQLError(original.message, { ...where, extensions: original.extensions ?? {} });
    }
    const errorId = randomUUID();
    log.error({ err: original, errorId, path: error.path }, 'a GraphQL request failed unexpectedly');
    const message = development
      ? `${original.message} (error id ${errorId})`
      : `An unexpected error occurred; the server logged it with id ${errorId}`;
    return new GraphQLError(message, { ...where, extensions: { code: 'LOCO_INTERNAL', errorId } });
  };
}
