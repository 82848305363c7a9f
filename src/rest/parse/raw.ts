/**
 * A body that is not JSON: PostgREST passes `text/plain`, `text/xml` and
 * `application/octet-stream` bodies whole to a function with a single unnamed parameter of
 * type text, xml or bytea (POST /rpc/fn). Nothing else takes one.
 */
export class RawBody {
  constructor(
    /** The parameter type this content type goes to. */
    readonly type: 'text' | 'xml' | 'bytea',
    readonly value: string | Buffer,
  ) {}
}

/** Content types PostgREST passes raw, and the parameter type each goes to. */
export const RAW_TYPES: Readonly<Record<string, RawBody['type']>> = {
  'text/plain': 'text',
  'text/xml': 'xml',
  'application/octet-stream': 'bytea',
};
