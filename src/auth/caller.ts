import type { IncomingHttpHeaders } from 'node:http';

/**
 * Who a request is from, as the database will see it: the role to `set local role` to and the
 * claims for `request.jwt.claims`. Resolved from the `apikey` and `Authorization` headers by
 * src/auth/authenticate.ts; the REST, GraphQL and realtime layers all start from it.
 */
export interface Caller {
  /** anon (LOCONOMY_DB_ANON_ROLE), authenticated or service_role. */
  readonly role: string;
  /** The verified JWT claims (for an API key: its owner's, plus api_key_id). */
  readonly claims: Readonly<Record<string, unknown>>;
  /** Set when the request came with a Loconomy API key (lk_…). */
  readonly apiKey?: {
    readonly id: string;
    readonly prefix: string;
    readonly scopes: readonly string[];
  };
  /** RateLimit-* headers to send with the response (API keys only). */
  readonly responseHeaders?: Readonly<Record<string, string>>;
}

/** What a request needs of an API key's scopes: `resource:read` or `resource:write`. */
export interface ScopeNeed {
  /** A table, view or function name, as in the URL. */
  readonly resource: string;
  readonly action: 'read' | 'write';
}

export interface Authenticator {
  /** Verifies the credentials in the headers; throws an ApiError (401/403/429/503) when they fail. */
  authenticate(headers: IncomingHttpHeaders): Promise<Caller>;
}
