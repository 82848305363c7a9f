import type { Logger } from '../log.js';

/**
 * What a project's server function sees (docs/functions.md). A function module exports a
 * Fetch-API handler as its default export — `export default async (req, ctx) => Response` — or
 * an object with a `fetch` method, and optionally `config`. A function imports these types from
 * this file (`loconomy/src/functions/types.ts` when Loconomy is a dependency).
 */

/** A Fetch-API handler, as Supabase Edge Functions are written, with Loconomy's context. */
export type FunctionHandler = (request: Request, ctx: FunctionContext) => Response | Promise<Response>;

/** A function's own limits and opt-ins, exported as `export const config = { … }`. */
export interface FunctionConfig {
  /** How long the function may take to return its Response (ms); default LOCONOMY_FUNCTIONS_TIMEOUT_MS. */
  readonly timeoutMs?: number;
  /** Largest request body (bytes); default LOCONOMY_FUNCTIONS_BODY_LIMIT. */
  readonly bodyLimit?: number;
  /**
   * true: ctx.serviceDb runs SQL as service_role, which bypasses RLS. Off by default, so a
   * function reads and writes only what its caller may unless it says otherwise here.
   */
  readonly serviceRole?: boolean;
}

/** Who called, verified as the REST API verifies it (anon key, user JWT, Clerk token, API key). */
export interface FunctionCaller {
  /**
   * The verified subject (`sub`: the Clerk user id, users.clerk_id), as a Supabase function reads
   * the user's id from the JWT; null without one (the anon key, service_role). SQL run through
   * ctx.db finds the account itself (the policies' app.current_user_id()).
   */
  readonly id: string | null;
  /** anon (LOCONOMY_DB_ANON_ROLE), authenticated or service_role. */
  readonly role: string;
  /** The verified JWT claims (sub is the Clerk user id). */
  readonly claims: Readonly<Record<string, unknown>>;
}

export interface FunctionQueryResult<T> {
  readonly rows: T[];
  readonly rowCount: number;
}

/** A statement: SQL text with $1…$n and its values, or a fragment of the `sql` tag (ctx.sql). */
export interface FunctionStatement {
  readonly text: string;
  readonly values: readonly unknown[];
}

/** Runs SQL as one database role with the caller's claims: RLS applies as it does over REST. */
export interface FunctionDatabase {
  /** One statement in a transaction of its own. Values are always parameters. */
  query<T = Record<string, unknown>>(
    statement: string | FunctionStatement,
    values?: readonly unknown[],
  ): Promise<FunctionQueryResult<T>>;
  /** Several statements in one transaction: committed when fn resolves, rolled back when it throws. */
  transaction<T>(fn: (tx: FunctionTransaction) => Promise<T>): Promise<T>;
}

export interface FunctionTransaction {
  query<T = Record<string, unknown>>(
    statement: string | FunctionStatement,
    values?: readonly unknown[],
  ): Promise<FunctionQueryResult<T>>;
}

export interface FunctionContext {
  /** The function's name (the first path segment after /functions/v1/). */
  readonly name: string;
  readonly caller: FunctionCaller;
  /** SQL as the caller (their role, their claims): RLS decides what it sees. */
  readonly db: FunctionDatabase;
  /** SQL as service_role; only when the module exports `config.serviceRole = true`. */
  readonly serviceDb: FunctionDatabase | undefined;
  /** The tagged template that turns `${values}` into parameters: ctx.db.query(ctx.sql`… ${id}`). */
  readonly sql: (strings: TemplateStringsArray, ...values: unknown[]) => FunctionStatement;
  /** The server's environment (process.env), as Deno.env is an Edge Function's. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The limits this call runs under and whether the server runs in production. */
  readonly settings: { readonly timeoutMs: number; readonly bodyLimit: number; readonly production: boolean };
  /** The request's logger (its lines carry the request id and the function name). */
  readonly log: Logger;
}
