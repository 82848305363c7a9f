/**
 * Errors a user can act on. Every one carries what is wrong and what to do about it, so the
 * CLI can print the single line `loconomy: <what is wrong> — <what to do>` and the HTTP
 * layer can map it to a status without a stack trace. The REST layer's PostgREST error
 * table (PGRST… codes) joins this file when it lands; codes here follow LOCO_<AREA>_<WHAT>.
 */
export type ErrorCode =
  | 'LOCO_CLI_USAGE'
  | 'LOCO_CONFIG_INVALID'
  | 'LOCO_DATA_DIR_UNUSABLE'
  | 'LOCO_DATA_DIR_LOCKED'
  | 'LOCO_DB_UNREACHABLE'
  | 'LOCO_DB_NO_POSTGIS'
  | 'LOCO_DB_OPEN_FAILED'
  | 'LOCO_TEMPLATE_BUILD_FAILED'
  | 'LOCO_MIGRATION_INVALID'
  | 'LOCO_MIGRATION_CHANGED'
  | 'LOCO_MIGRATION_NEWER'
  | 'LOCO_MIGRATION_FAILED'
  | 'LOCO_MIGRATION_PENDING'
  | 'LOCO_SEED_FAILED'
  | 'LOCO_DEMO_NO_REFERENCE_DATA'
  | 'LOCO_NOT_IMPLEMENTED'
  | 'LOCO_SERVER_LISTEN'
  | 'LOCO_STRIPE_NO_KEY'
  | 'LOCO_STRIPE_DRIFT'
  | 'LOCO_FUNCTIONS_INVALID';

export class LoconomyError extends Error {
  readonly code: ErrorCode;
  readonly what: string;
  readonly todo: string;

  constructor(code: ErrorCode, what: string, todo: string, options?: { cause?: unknown }) {
    super(`${what} — ${todo}`, options);
    this.name = 'LoconomyError';
    this.code = code;
    this.what = what;
    this.todo = todo;
  }
}

export function isLoconomyError(error: unknown): error is LoconomyError {
  return error instanceof LoconomyError;
}

/** The message of anything thrown, on one line (PostgreSQL messages can span several). */
export function oneLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/\s*\n\s*/g, ' ').trim();
}

/**
 * The HTTP API's errors, shaped as PostgREST shapes them: `{code, message, details, hint}`.
 * PostgREST's own PGRST… numbers where PostgREST has the error; PostgreSQL's SQLSTATE for
 * errors raised by the database (src/rest/errors.ts maps them to a status); LOCO_… for ours.
 * docs/errors.md lists this table and a test keeps the two in step.
 */
export const API_ERRORS = {
  // Connection (PGRST0xx): the database cannot be reached, or went away during the request.
  PGRST000: { status: 503, message: 'The database cannot be reached' },
  PGRST001: { status: 503, message: 'The database connection was lost during the request' },
  // Request (PGRST1xx): the URL, headers or body are out of grammar.
  PGRST100: { status: 400, message: 'Could not parse the request' },
  PGRST101: { status: 405, message: 'Only GET, HEAD and POST are allowed on a function' },
  PGRST102: { status: 400, message: 'The request body is not valid' },
  PGRST103: { status: 416, message: 'The requested range cannot be satisfied' },
  PGRST105: { status: 405, message: 'PUT needs a filter on every primary-key column with eq' },
  PGRST106: { status: 406, message: 'The schema is not exposed' },
  PGRST107: { status: 415, message: 'The Content-Type is not supported' },
  PGRST108: { status: 400, message: 'A filter, order or limit names a resource that is not embedded' },
  PGRST109: { status: 400, message: 'A limited update or delete needs an explicit order' },
  PGRST114: { status: 400, message: 'PUT does not take limit or offset' },
  PGRST115: { status: 400, message: 'The primary key in the body does not match the filter' },
  PGRST116: { status: 406, message: 'The result is not exactly one row' },
  PGRST117: { status: 405, message: 'The HTTP method is not supported' },
  PGRST118: { status: 400, message: 'Cannot order by a resource that is not a to-one embedding' },
  PGRST119: { status: 400, message: 'Only a to-one embedding can be spread' },
  PGRST122: { status: 400, message: 'A preference is not valid (Prefer: handling=strict)' },
  PGRST123: { status: 400, message: 'Aggregate functions are not allowed' },
  PGRST124: { status: 400, message: 'More rows would be affected than max-affected allows' },
  PGRST125: { status: 404, message: 'The path is not valid' },
  PGRST127: { status: 400, message: 'The feature is not implemented' },
  // Schema cache (PGRST2xx): the request names something the exposed schema does not have.
  PGRST200: { status: 400, message: 'No relationship was found between the resources' },
  PGRST201: { status: 300, message: 'More than one relationship was found for the embedding' },
  PGRST202: { status: 404, message: 'The function was not found' },
  PGRST203: { status: 300, message: 'More than one function matches the call' },
  PGRST204: { status: 400, message: 'A column was not found' },
  PGRST205: { status: 404, message: 'The table was not found' },
  // Credentials (PGRST3xx).
  PGRST301: { status: 401, message: 'The token could not be verified' },
  PGRST303: { status: 401, message: 'The token claims are not valid' },
  // Loconomy's own.
  LOCO_AUTH_SCOPE: { status: 403, message: 'The API key does not have the scope this request needs' },
  LOCO_AUTH_RATE_LIMITED: { status: 429, message: 'Too many requests for this API key' },
  LOCO_AUTH_UNAVAILABLE: { status: 503, message: 'The identity provider cannot be reached' },
  LOCO_BODY_TOO_LARGE: { status: 413, message: 'The request body is too large' },
  LOCO_AUTH_REQUIRED: { status: 401, message: 'This endpoint needs a user token or the service_role key' },
  LOCO_WEBHOOK_INVALID: { status: 400, message: 'The webhook could not be verified or read' },
  LOCO_WEBHOOK_UNCONFIGURED: { status: 503, message: 'This webhook is not configured on the server' },
  LOCO_FUNCTION_INVALID: { status: 400, message: 'The function request body is not valid' },
  LOCO_FUNCTION_NOT_FOUND: { status: 404, message: 'Function not found' },
  LOCO_FUNCTION_BOOT_ERROR: { status: 503, message: 'The function failed to load' },
  LOCO_FUNCTION_ERROR: { status: 500, message: 'The function failed' },
  LOCO_FUNCTION_TIMEOUT: { status: 504, message: 'The function did not answer in time' },
  LOCO_PAYMENTS_FORBIDDEN: { status: 403, message: 'Only providers can set up payouts' },
  LOCO_PAYMENTS_OFFLINE: { status: 409, message: 'This marketplace does not take payments through Stripe' },
  LOCO_PAYOUTS_NOT_ONBOARDED: { status: 409, message: 'Payout onboarding is not finished' },
  LOCO_BOOKING_NOT_FOUND: { status: 404, message: 'The booking was not found' },
  LOCO_PAYMENT_STATE: { status: 409, message: 'The booking cannot be paid in its current state' },
  LOCO_PAYMENT_METHOD_NOT_FOUND: { status: 404, message: 'The saved card was not found' },
  LOCO_PLAN_NOT_FOUND: { status: 404, message: 'The subscription plan was not found' },
  LOCO_SUBSCRIPTION_EXISTS: { status: 409, message: 'There is a live subscription already' },
  LOCO_SUBSCRIPTION_NOT_FOUND: { status: 404, message: 'There is no subscription to change' },
  LOCO_SUBSCRIPTION_STATE: { status: 409, message: 'The subscription cannot be changed in its current state' },
  LOCO_STRIPE_FAILED: { status: 502, message: 'Stripe could not complete the request' },
  LOCO_STRIPE_UNCONFIGURED: { status: 503, message: 'Stripe is not configured on this server' },
  LOCO_REALTIME_INVALID: { status: 400, message: 'The realtime request is not valid' },
  LOCO_REALTIME_PAYLOAD_TOO_LARGE: { status: 413, message: 'The broadcast payload is larger than the limit' },
  LOCO_REALTIME_FORBIDDEN: { status: 403, message: 'You do not have permissions to write to this Channel topic' },
  // Answered by src/health/starting.ts before the API exists; listed so the table is complete.
  LOCO_STARTING: { status: 503, message: 'The server is starting' },
  LOCO_INTERNAL: { status: 500, message: 'Something went wrong on the server' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ApiErrorCode = keyof typeof API_ERRORS;

/** Details are text, or (PGRST201) the list of candidate relationships, as PostgREST sends them. */
export type ApiErrorDetails = string | readonly Readonly<Record<string, string>>[] | null;

export interface ApiErrorBody {
  readonly code: string;
  readonly message: string;
  readonly details: ApiErrorDetails;
  readonly hint: string | null;
}

/**
 * An error the HTTP API answers with. `code` is a catalogue code above or, for errors raised
 * by PostgreSQL, the SQLSTATE (then `status` comes from src/rest/errors.ts).
 */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: ApiErrorDetails;
  readonly hint: string | null;
  /** Extra response headers (WWW-Authenticate, Retry-After, RateLimit-*). */
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    code: ApiErrorCode,
    options: {
      message?: string;
      details?: ApiErrorDetails;
      hint?: string | null;
      headers?: Record<string, string>;
      /** Where PostgREST answers one code with two statuses (PGRST107: 415 or 406). */
      status?: number;
    } = {},
  ) {
    super(options.message ?? API_ERRORS[code].message);
    this.name = 'ApiError';
    this.status = options.status ?? API_ERRORS[code].status;
    this.code = code;
    this.details = options.details ?? null;
    this.hint = options.hint ?? null;
    this.headers = options.headers ?? {};
  }

  /** An error from PostgreSQL, with the status its SQLSTATE maps to. */
  static fromDatabase(
    status: number,
    fields: { code: string; message: string; details?: string | null; hint?: string | null },
    headers: Record<string, string> = {},
  ): ApiError {
    const error = new ApiError('LOCO_INTERNAL', { ...fields, headers, status });
    Object.assign(error, { code: fields.code });
    return error;
  }

  toJSON(): ApiErrorBody {
    return { code: this.code, message: this.message, details: this.details, hint: this.hint };
  }
}

export function isApiError(error: unknown): error is ApiError {
  return error instanceof ApiError;
}
