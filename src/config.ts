import { isIP } from 'node:net';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
import { LoconomyError } from './errors.js';

/**
 * Every setting Loconomy reads, from the environment only. This table is the single source:
 * `docs/env.md` lists the same names, types and defaults and a test keeps the two in step.
 * The REST knobs mirror PostgREST's own names with a LOCONOMY_ prefix so a PostgREST
 * configuration carries over.
 */
interface Setting {
  /** The type as docs/env.md shows it. */
  readonly type: string;
  /** The default as docs/env.md shows it; undefined means "unset". */
  readonly default?: string;
  readonly description: string;
  /** Validates the raw string (after the default is applied); absent values are undefined. */
  readonly schema: z.ZodType;
}

const port = z.coerce
  .number({ error: 'must be an integer between 1 and 65535' })
  .int('must be an integer between 1 and 65535')
  .min(1, 'must be an integer between 1 and 65535')
  .max(65535, 'must be an integer between 1 and 65535');

const nonEmpty = z.string().trim().min(1, 'must not be empty');

const bool = z
  .string()
  .trim()
  .toLowerCase()
  .pipe(z.enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'], { error: 'must be true or false' }))
  .transform((v) => ['true', '1', 'yes', 'on'].includes(v));

const postgresUrl = z.string().refine(
  (v) => {
    try {
      const url = new URL(v);
      return (url.protocol === 'postgres:' || url.protocol === 'postgresql:') && url.hostname !== '';
    } catch {
      return false;
    }
  },
  { error: 'is not a valid postgres:// URL' },
);

const httpUrl = z.string().refine(
  (v) => {
    try {
      const url = new URL(v);
      return url.protocol === 'https:' || url.protocol === 'http:';
    } catch {
      return false;
    }
  },
  { error: 'is not a valid http(s) URL' },
);

/** A comma-separated list of names, e.g. "public, extensions". */
const nameList = z
  .string()
  .transform((v) =>
    v
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== ''),
  )
  .pipe(z.array(z.string()).min(1, 'must name at least one schema'));

/**
 * Which proxies may set X-Forwarded-For, as Fastify's trustProxy takes it: false (none: the
 * client is the socket peer), true (any: the client is the first address of the header), or a
 * comma-separated list of proxy addresses and CIDR ranges (the client is the first address
 * before a trusted one). Fastify no longer honours hop counts (they cannot check the peer).
 */
const trustProxy = z
  .string()
  .trim()
  .transform((v, ctx): boolean | string[] => {
    const word = v.toLowerCase();
    if (['true', '1', 'yes', 'on'].includes(word)) return true;
    if (['false', '0', 'no', 'off'].includes(word)) return false;
    const list = v
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
    const valid = (entry: string) => {
      const [address, bits, extra] = entry.split('/');
      if (extra !== undefined || address === undefined || isIP(address) === 0) return false;
      if (bits === undefined) return true;
      return /^[0-9]{1,3}$/.test(bits) && Number(bits) <= (isIP(address) === 4 ? 32 : 128);
    };
    if (list.length === 0 || !list.every(valid)) {
      ctx.addIssue({
        code: 'custom',
        message: 'must be true, false or a comma-separated list of IP addresses / CIDR ranges',
      });
      return z.NEVER;
    }
    return list;
  });

/** A whole number within [min, max], with the range in the message. */
function intIn(min: number, max: number) {
  const message = `must be an integer between ${min} and ${max}`;
  return z.coerce.number({ error: message }).int(message).min(min, message).max(max, message);
}

export const SETTINGS = {
  PORT: { type: 'integer', default: '54321', description: 'TCP port of the HTTP API.', schema: port },
  HOST: { type: 'string', default: '127.0.0.1', description: 'Address the HTTP API binds to.', schema: nonEmpty },
  DATABASE_URL: {
    type: 'postgres URL',
    description: 'Use this PostgreSQL server (13+ with PostGIS) instead of the embedded database, for every command.',
    schema: postgresUrl,
  },
  LOCONOMY_DATA_DIR: {
    type: 'path',
    default: './.loconomy',
    description: 'Where the embedded database (pgdata/) and the generated JWT secret live.',
    schema: nonEmpty,
  },
  LOCONOMY_CACHE_DIR: {
    type: 'path',
    description:
      'Where the prepared embedded database (initialised, migrated, seeded once per machine and schema) is kept, so a new data directory starts as a copy of it. Default: $XDG_CACHE_HOME/loconomy, else ~/.cache/loconomy.',
    schema: nonEmpty,
  },
  LOCONOMY_JWT_SECRET: {
    type: 'string (32+ characters)',
    description:
      'HS256 secret for project JWTs (anon/service_role keys, user tokens). Generated and kept in <data dir>/jwt-secret for the embedded database when unset; required with DATABASE_URL.',
    schema: z.string().min(32, 'must be at least 32 characters long'),
  },
  CLERK_JWKS_URL: {
    type: 'URL',
    description: "Clerk's JWKS endpoint, to verify Clerk session tokens (RS256).",
    schema: httpUrl,
  },
  CLERK_JWT_KEY: {
    type: 'PEM',
    description: "Clerk's JWT public key (PEM), to verify Clerk session tokens without fetching JWKS.",
    schema: nonEmpty,
  },
  CLERK_WEBHOOK_SECRET: {
    type: 'string',
    description:
      'Signing secret (whsec_…) of the Clerk webhook endpoint POST /webhooks/clerk (Clerk dashboard → Webhooks → the endpoint → Signing Secret). Unset: that route answers 503, and Clerk keeps retrying.',
    schema: nonEmpty,
  },
  LOCONOMY_CLERK_TRUSTED_METADATA: {
    type: 'comma-separated list of role, tenant_id',
    description:
      "Which keys of a Clerk user's public_metadata (and, for tenant_id, which session token claims) Loconomy believes: role sets users.role (guest, customer, provider or admin; never super_admin) when Clerk's value changes, tenant_id picks the tenant of a new account. Unset: none, so roles change only in Loconomy and new accounts join the default tenant.",
    schema: z
      .string()
      .transform((v) =>
        v
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== ''),
      )
      .pipe(z.array(z.enum(['role', 'tenant_id'], { error: 'may name only role and tenant_id' }))),
  },
  LOCONOMY_CLERK_ORGANIZATION_TENANTS: {
    type: 'boolean',
    default: 'false',
    description:
      "Clerk organisations as tenants: organization.created/updated keep a tenant per organisation (deleted: deactivated), organizationMembership.created places a person's new account in that tenant (an existing account never moves) and org:admin grants the admin role's permissions there; a session token's active organisation (org_id) picks the tenant of a just-in-time account. Off: those events are recorded and ignored.",
    schema: bool,
  },
  CLERK_SECRET_KEY: {
    type: 'string (sk_live_… or sk_test_…)',
    description:
      "Clerk Backend API secret key (Clerk dashboard → API keys). Set on the processes that run jobs: role, status and verification changes made in Loconomy are then written to the user's Clerk public_metadata. Unset: nothing is pushed to Clerk (the push jobs end without calling it).",
    schema: z
      .string()
      .trim()
      .regex(/^sk_(live|test)_\S+$/, 'must be a Clerk secret key (sk_live_… or sk_test_…)'),
  },
  LOCONOMY_CLERK_API_URL: {
    type: 'URL',
    default: 'https://api.clerk.com',
    description:
      "Base URL of Clerk's Backend API (the client adds /v1). Change it only to point at a test double or a proxy.",
    schema: httpUrl,
  },
  STRIPE_SECRET_KEY: {
    type: 'string',
    description:
      'Stripe API secret key (sk_test_… or sk_live_…, or a restricted rk_… key) for marketplaces in stripe payment mode. Unset: the Stripe functions and POST /webhooks/stripe answer 503; offline marketplaces need nothing. See docs/payments.md.',
    schema: z
      .string()
      .trim()
      .regex(/^(sk|rk)_(test|live)_[A-Za-z0-9_]+$/, 'must be a Stripe secret key (sk_test_…, sk_live_…, rk_…)'),
  },
  STRIPE_WEBHOOK_SECRET: {
    type: 'comma-separated list',
    description:
      'Signing secrets (whsec_…) of the Stripe webhook endpoints that call POST /webhooks/stripe: the platform endpoint and the Connect endpoint have one each; any of them verifies an event. Unset: that route answers 503 and Stripe keeps retrying.',
    schema: z
      .string()
      .transform((v) =>
        v
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== ''),
      )
      .pipe(
        z
          .array(z.string().regex(/^whsec_[A-Za-z0-9+/=_-]+$/, 'must list webhook signing secrets (whsec_…)'))
          .min(1, 'must list at least one signing secret (whsec_…)'),
      ),
  },
  LOCONOMY_STRIPE_API_URL: {
    type: 'URL',
    description:
      "Where the Stripe SDK sends API requests instead of https://api.stripe.com (its host, port and protocol): a local double in tests, or a proxy. Unset: Stripe's API.",
    schema: httpUrl,
  },
  LOCONOMY_STRIPE_RETURN_ORIGINS: {
    type: 'comma-separated list of origins',
    description:
      'Front-end origins (https://app.example.com) that stripe-connect-onboarding accepts as return_url and refresh_url. Unset: any https URL, and http://localhost or 127.0.0.1 for development.',
    schema: z
      .string()
      .transform((v) =>
        v
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== ''),
      )
      .pipe(
        z
          .array(
            z.string().refine((v) => {
              try {
                const url = new URL(v);
                return (url.protocol === 'https:' || url.protocol === 'http:') && url.origin === v.replace(/\/$/, '');
              } catch {
                return false;
              }
            }, 'must list origins such as https://app.example.com (scheme, host and port only)'),
          )
          .min(1, 'must list at least one origin'),
      ),
  },
  LOCONOMY_DB_SCHEMAS: {
    type: 'comma-separated list',
    default: 'public',
    description: 'Schemas exposed by the REST and GraphQL APIs (PostgREST db-schemas); the first is the default.',
    schema: nameList,
  },
  LOCONOMY_DB_ANON_ROLE: {
    type: 'string',
    default: 'anon',
    description: 'Database role for requests without a user token (PostgREST db-anon-role).',
    schema: nonEmpty,
  },
  LOCONOMY_DB_EXTRA_SEARCH_PATH: {
    type: 'comma-separated list',
    default: 'public, extensions',
    description: 'search_path set for every request (PostgREST db-extra-search-path).',
    schema: nameList,
  },
  LOCONOMY_DB_MAX_ROWS: {
    type: 'positive integer',
    description: 'Upper bound on rows a REST read returns (PostgREST db-max-rows); unlimited when unset.',
    schema: z.coerce
      .number({ error: 'must be a positive integer' })
      .int('must be a positive integer')
      .positive('must be a positive integer'),
  },
  LOCONOMY_DB_POOL: {
    type: 'positive integer',
    default: '10',
    description:
      'Connections each server process keeps to PostgreSQL (PostgREST db-pool); unused with the embedded database.',
    schema: z.coerce
      .number({ error: 'must be an integer between 1 and 1000' })
      .int('must be an integer between 1 and 1000')
      .min(1, 'must be an integer between 1 and 1000')
      .max(1000, 'must be an integer between 1 and 1000'),
  },
  LOCONOMY_DB_PREPARED_STATEMENTS: {
    type: 'boolean',
    default: 'true',
    description:
      'Run REST statements as named prepared statements, planned once per connection (PostgREST db-prepared-statements); set false behind PgBouncer in transaction mode. Unused with the embedded database.',
    schema: bool,
  },
  LOCONOMY_DB_PLAN_ENABLED: {
    type: 'boolean',
    default: 'false',
    description: 'Allow `Accept: application/vnd.pgrst.plan` to return the query plan (PostgREST db-plan-enabled).',
    schema: bool,
  },
  LOCONOMY_DB_TX_END: {
    type: 'commit | commit-allow-override | rollback | rollback-allow-override',
    default: 'commit',
    description: 'How REST transactions end (PostgREST db-tx-end).',
    schema: z.enum(['commit', 'commit-allow-override', 'rollback', 'rollback-allow-override'], {
      error: 'must be one of commit, commit-allow-override, rollback, rollback-allow-override',
    }),
  },
  LOCONOMY_DB_AGGREGATES_ENABLED: {
    type: 'boolean',
    default: 'false',
    description: 'Allow aggregate functions in REST select (PostgREST db-aggregates-enabled).',
    schema: bool,
  },
  LOCONOMY_TRUST_PROXY: {
    type: 'boolean | address list',
    default: 'false',
    description:
      "Which proxies in front of the server may set X-Forwarded-For: false (the client IP is the socket peer), true (any: the first address of the header), or the proxies' addresses/CIDR ranges. The client IP reaches SQL as app.client_ip() (events, sessions, audit trail, listing views).",
    schema: trustProxy,
  },
  LOCONOMY_REALTIME_IDLE_TIMEOUT_MS: {
    type: 'integer (ms)',
    default: '60000',
    description:
      'A realtime WebSocket that sends nothing (not even a heartbeat) for this long is closed, as Phoenix does after 60 s; supabase-js sends a heartbeat every 25 s.',
    schema: intIn(100, 3_600_000),
  },
  LOCONOMY_REALTIME_MAX_CHANNELS: {
    type: 'positive integer',
    default: '100',
    description:
      'Channels one realtime connection may have joined at once; one more is refused with `ChannelRateLimitReached: Too many channels`.',
    schema: intIn(1, 100_000),
  },
  LOCONOMY_REALTIME_MAX_JOINS_PER_SECOND: {
    type: 'positive integer',
    default: '100',
    description:
      'Channel joins one realtime connection may make per second; one more is refused with `ClientJoinRateLimitReached: Too many joins per second` and the connection is closed.',
    schema: intIn(1, 100_000),
  },
  LOCONOMY_REALTIME_MAX_EVENTS_PER_SECOND: {
    type: 'positive integer',
    default: '100',
    description:
      'Broadcast, presence and access_token messages one realtime connection may send per second; one more closes the channel it was sent on with the system message `Too many messages per second`.',
    schema: intIn(1, 1_000_000),
  },
  LOCONOMY_REALTIME_MAX_PAYLOAD_KB: {
    type: 'positive integer',
    default: '3000',
    description:
      'Largest broadcast payload or presence state (KiB), over the WebSocket and POST /realtime/v1/api/broadcast; larger ones are refused (an error reply; HTTP 413).',
    schema: intIn(1, 100_000),
  },
  LOCONOMY_REALTIME_PRESENCE_INTERVAL_MS: {
    type: 'integer (ms)',
    default: '2000',
    description:
      "With PostgreSQL, how often a serve process tells the others it is alive (a NOTIFY). Silent for 3 intervals, it is taken for dead and its clients' presences leave the others: at most 4 × this (8 s) after it stops without a goodbye (killed, cut off). Unused with PGlite.",
    schema: intIn(50, 600_000),
  },
  LOCONOMY_SERVE_JOBS: {
    type: 'boolean',
    default: 'true',
    description:
      '`serve` also runs the background jobs and the schedule (docs/jobs.md); set false (or `serve --no-jobs`) when separate `loconomy worker` processes run them, so web and worker processes scale apart.',
    schema: bool,
  },
  LOCONOMY_SERVE_MIGRATE: {
    type: 'boolean',
    default: 'true',
    description:
      '`serve` (and `worker`) apply pending migrations and reference seeds before serving. Set false (or `serve --no-migrate`) where migrations are a separate release step (`loconomy migrate`, then `loconomy seed`): the server then changes no schema and refuses to start, in one line, on a database whose migrations are behind.',
    schema: bool,
  },
  LOCONOMY_JOBS_CONCURRENCY: {
    type: 'positive integer',
    default: '2',
    description: 'Jobs one process (`serve` or `worker`) runs at once.',
    schema: intIn(1, 100),
  },
  LOCONOMY_JOBS_POLL_INTERVAL_MS: {
    type: 'integer (ms)',
    default: '2000',
    description:
      'How often an idle worker looks for jobs whose time has come (retries after their back-off, jobs added with a later run_at); a new job wakes the workers at once.',
    schema: intIn(50, 600_000),
  },
  LOCONOMY_JOBS_RECOVER_AFTER_MS: {
    type: 'integer (ms)',
    default: '30000',
    description:
      'On PostgreSQL, a job held this long by a worker whose process has gone (killed, crashed, lost its connection) is released for a retry; checked this often. On the embedded database every such job is released at start.',
    schema: intIn(1000, 86_400_000),
  },
  LOCONOMY_WEBHOOKS_TIMEOUT_MS: {
    type: 'integer (ms)',
    default: '10000',
    description:
      'How long one webhook delivery may take (connecting, sending, the response) before it counts as a failure and is retried.',
    schema: intIn(100, 120_000),
  },
  LOCONOMY_WEBHOOKS_RETRY_BASE_MS: {
    type: 'integer (ms)',
    default: '5000',
    description:
      "Back-off before a failed webhook delivery's first retry; each next one waits 4 times longer (5 s, 20 s, 80 s, 5 min, 21 min, 85 min, 5.7 h, then the cap), up to the endpoint's max_retries (default 8).",
    schema: intIn(1, 3_600_000),
  },
  LOCONOMY_WEBHOOKS_RETRY_MAX_MS: {
    type: 'integer (ms)',
    default: '36000000',
    description: 'The longest wait between two attempts of a webhook delivery (default 10 hours).',
    schema: intIn(1, 604_800_000),
  },
  LOCONOMY_WEBHOOKS_DISABLE_AFTER_FAILURES: {
    type: 'positive integer',
    default: '15',
    description:
      'A webhook endpoint is disabled (its owner notified) after this many failed attempts in a row, if they also span LOCONOMY_WEBHOOKS_DISABLE_AFTER_HOURS.',
    schema: intIn(1, 10_000),
  },
  LOCONOMY_WEBHOOKS_DISABLE_AFTER_HOURS: {
    type: 'number (hours)',
    default: '24',
    description:
      'How long an unbroken run of failures must last before the endpoint is disabled (with LOCONOMY_WEBHOOKS_DISABLE_AFTER_FAILURES); 0 disables on the count alone.',
    schema: z.coerce.number({ error: 'must be a number of hours between 0 and 720' }).min(0).max(720),
  },
  LOCONOMY_WEBHOOKS_ROTATION_GRACE_HOURS: {
    type: 'number (hours)',
    default: '24',
    description:
      'After a webhook secret is rotated, deliveries carry a signature with the old secret too for this long, so receivers can switch without losing events; 0 signs with the new one only.',
    schema: z.coerce.number({ error: 'must be a number of hours between 0 and 720' }).min(0).max(720),
  },
  LOCONOMY_WEBHOOKS_ALLOW_PRIVATE: {
    type: 'boolean',
    default: 'false',
    description:
      'Let webhook deliveries reach private, loopback, link-local and other non-public addresses (refused by default, also after DNS resolution). For tests and closed networks only.',
    schema: bool,
  },
  LOCONOMY_GRAPHQL_MAX_DEPTH: {
    type: 'positive integer',
    default: '10',
    description:
      'How deeply a GraphQL operation may nest fields (`listings { nodes { provider { displayName } } }` is 4 deep; fragments count where they are spread). Deeper operations are refused before they run (docs/graphql.md).',
    schema: intIn(1, 1000),
  },
  LOCONOMY_GRAPHQL_MAX_ALIASES: {
    type: 'integer',
    default: '15',
    description:
      'How many aliases (`a: listing(id: …)`) one GraphQL operation may use; more are refused before it runs.',
    schema: intIn(0, 100_000),
  },
  LOCONOMY_GRAPHQL_MAX_FIELDS: {
    type: 'positive integer',
    default: '500',
    description:
      "How many fields one GraphQL operation may select, counting a fragment's fields each time it is spread: the width and cost of the answer. More are refused before it runs.",
    schema: intIn(1, 1_000_000),
  },
  LOCONOMY_GRAPHQL_MAX_DIRECTIVES: {
    type: 'integer',
    default: '50',
    description:
      'How many directives (`@include`, `@skip`) one GraphQL operation may use; more are refused before it runs.',
    schema: intIn(0, 100_000),
  },
  LOCONOMY_GRAPHQL_INTROSPECTION: {
    type: 'boolean',
    description:
      'Whether GraphQL introspection (`__schema`, `__type`) is answered. Unset: on, except with NODE_ENV=production. Off, an introspection query is refused; schema.graphql has the schema.',
    schema: bool,
  },
  LOCONOMY_GRAPHQL_PERSISTED_OPERATIONS: {
    type: 'path',
    description:
      'A JSON file `{"<sha256 of the document, hex>": "<GraphQL document>"}`. Set, /graphql/v1 runs only these operations, named by `extensions.persistedQuery.sha256Hash` (Apollo) or `documentId` (`sha256:<hex>`), and refuses any other (docs/graphql.md).',
    schema: nonEmpty,
  },
  LOCONOMY_FUNCTIONS_DIR: {
    type: 'path',
    default: './functions',
    description:
      "The project's server functions (docs/functions.md): `<name>/index.ts` or `<name>.ts` each serve /functions/v1/<name>. Relative to the working directory; a missing folder means no project functions.",
    schema: nonEmpty,
  },
  LOCONOMY_FUNCTIONS_TIMEOUT_MS: {
    type: 'integer (ms)',
    default: '60000',
    description:
      "How long a server function may take to answer (its Response, not the streaming of its body) before the request is answered 504 and the function's request.signal is aborted; a function's `config.timeoutMs` overrides it.",
    schema: intIn(1, 3_600_000),
  },
  LOCONOMY_FUNCTIONS_BODY_LIMIT: {
    type: 'integer (bytes)',
    default: '1048576',
    description:
      "Largest request body a server function receives; a larger one is answered 413 before the function runs. A function's `config.bodyLimit` overrides it.",
    schema: intIn(0, 1_073_741_824),
  },
  LOCONOMY_STORAGE_BACKEND: {
    type: 'local | s3',
    default: 'local',
    description:
      'Where /storage/v1 keeps the bytes of stored objects: local (files under <data dir>/storage) or s3 (any S3-compatible store, LOCONOMY_STORAGE_S3_*). Object metadata is always in the database (docs/storage.md).',
    schema: z.enum(['local', 's3'], { error: 'must be local or s3' }),
  },
  LOCONOMY_STORAGE_MAX_FILE_SIZE: {
    type: 'positive integer (bytes)',
    default: '52428800',
    description:
      "Largest object any upload may store (50 MiB by default), whatever a bucket's own file_size_limit says; larger uploads are refused with 413 and nothing is kept.",
    schema: intIn(1, 1_099_511_627_776),
  },
  LOCONOMY_STORAGE_S3_BUCKET: {
    type: 'string',
    description:
      'With LOCONOMY_STORAGE_BACKEND=s3: the S3 bucket that holds every stored object (Loconomy buckets are rows, not S3 buckets). Required then.',
    schema: z
      .string()
      .trim()
      .regex(
        /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/,
        'must be an S3 bucket name (3-63 lower-case letters, digits, . and -)',
      ),
  },
  LOCONOMY_STORAGE_S3_REGION: {
    type: 'string',
    default: 'us-east-1',
    description: 'The S3 region (any value for stores that ignore it, such as MinIO).',
    schema: nonEmpty,
  },
  LOCONOMY_STORAGE_S3_ENDPOINT: {
    type: 'URL',
    description:
      "An S3-compatible store's endpoint (MinIO, R2, Ceph…: https://s3.example.com). Unset: AWS S3 for the region.",
    schema: httpUrl,
  },
  LOCONOMY_STORAGE_S3_ACCESS_KEY_ID: {
    type: 'string',
    description:
      "Access key id for S3. Unset (with the secret unset too): the AWS SDK's default credential chain (environment, profile, instance role).",
    schema: nonEmpty,
  },
  LOCONOMY_STORAGE_S3_SECRET_ACCESS_KEY: {
    type: 'string',
    description: 'Secret access key for S3, with LOCONOMY_STORAGE_S3_ACCESS_KEY_ID.',
    schema: nonEmpty,
  },
  LOCONOMY_STORAGE_S3_FORCE_PATH_STYLE: {
    type: 'boolean',
    default: 'false',
    description:
      'Address the bucket in the path (https://host/bucket/key) instead of the host name; most S3-compatible stores (MinIO, s3rver) need true.',
    schema: bool,
  },
  NODE_ENV: {
    type: 'development | production | test',
    default: 'development',
    description:
      'production: the GraphQL API serves no Ruru (GraphiQL) page and no detail of unexpected errors, and `serve` builds the GraphQL schema at start instead of on the first GraphQL request (docs/graphql.md). Anything else: development tools on.',
    schema: z.enum(['development', 'production', 'test'], { error: 'must be development, production or test' }),
  },
  LOG_LEVEL: {
    type: 'fatal | error | warn | info | debug | trace | silent',
    default: 'info',
    description: 'Least severe log level written.',
    schema: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
      error: 'must be one of fatal, error, warn, info, debug, trace, silent',
    }),
  },
  LOG_FORMAT: {
    type: 'auto | pretty | json',
    default: 'auto',
    description:
      'How logs look on stdout: json (one JSON object per line), pretty (short lines for people, with a start-up summary), or auto (pretty when stdout is a terminal, else json).',
    schema: z.enum(['auto', 'pretty', 'json'], { error: 'must be one of auto, pretty, json' }),
  },
} as const satisfies Record<string, Setting>;

export type SettingName = keyof typeof SETTINGS;
export type TxEnd = 'commit' | 'commit-allow-override' | 'rollback' | 'rollback-allow-override';
export type ClerkTrustedKey = 'role' | 'tenant_id';
/** What the Clerk sync functions are told (their `trusted` argument): trusted keys and `organizations`. */
export type ClerkSyncFlag = ClerkTrustedKey | 'organizations';
export type LogFormat = 'auto' | 'pretty' | 'json';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface RealtimeLimits {
  readonly idleTimeoutMs: number;
  readonly maxChannels: number;
  readonly maxJoinsPerSecond: number;
  readonly maxEventsPerSecond: number;
  readonly maxPayloadBytes: number;
  /** How often a process announces itself to the others (presence across processes). */
  readonly presenceIntervalMs: number;
}

export interface WebhookSettings {
  readonly timeoutMs: number;
  readonly retryBaseMs: number;
  readonly retryMaxMs: number;
  readonly disableAfterFailures: number;
  readonly disableAfterHours: number;
  readonly rotationGraceHours: number;
  readonly allowPrivate: boolean;
}

export interface StripeSettings {
  readonly secretKey: string | undefined;
  /** Signing secrets of the webhook endpoints (platform and Connect); empty when unset. */
  readonly webhookSecrets: readonly string[];
  /** LOCONOMY_STRIPE_API_URL: the SDK's host, port and protocol come from it. */
  readonly apiUrl: string | undefined;
  /** Origins accepted in onboarding return URLs; undefined: any https, or localhost over http. */
  readonly returnOrigins: readonly string[] | undefined;
}

export interface StorageSettings {
  readonly backend: 'local' | 's3';
  /** Absolute: where the local backend keeps the bytes (<data dir>/storage). */
  readonly dir: string;
  readonly maxFileSize: number;
  readonly s3: {
    readonly bucket: string | undefined;
    readonly region: string;
    readonly endpoint: string | undefined;
    readonly accessKeyId: string | undefined;
    readonly secretAccessKey: string | undefined;
    readonly forcePathStyle: boolean;
  };
}

export interface GraphqlSettings {
  readonly maxDepth: number;
  readonly maxAliases: number;
  readonly maxFields: number;
  readonly maxDirectives: number;
  readonly introspection: boolean;
  /** Absolute path of the persisted operations file; undefined: any operation runs. */
  readonly persistedOperations: string | undefined;
}

export interface FunctionsSettings {
  /** Absolute path of the functions folder (it may not exist). */
  readonly dir: string;
  readonly timeoutMs: number;
  readonly bodyLimit: number;
  /** Not production: functions are reloaded when their files change. */
  readonly watch: boolean;
}

export interface Config {
  readonly port: number;
  readonly host: string;
  /** Set: PostgreSQL; unset: embedded PGlite under dataDir. */
  readonly databaseUrl: string | undefined;
  /** Absolute. */
  readonly dataDir: string;
  /** Absolute: where the prepared embedded database is kept (src/db/template.ts). */
  readonly cacheDir: string;
  /** As configured; see src/auth/secret.ts for the generated one. */
  readonly jwtSecret: string | undefined;
  readonly clerk: {
    readonly jwksUrl: string | undefined;
    readonly jwtKey: string | undefined;
    readonly webhookSecret: string | undefined;
    /** public_metadata keys (and token claims) trusted: LOCONOMY_CLERK_TRUSTED_METADATA. */
    readonly trustedMetadata: readonly ClerkTrustedKey[];
    /** LOCONOMY_CLERK_ORGANIZATION_TENANTS: Clerk organisations map to tenants. */
    readonly organizationTenants: boolean;
    /** CLERK_SECRET_KEY: unset, nothing is pushed to Clerk. */
    readonly secretKey: string | undefined;
    /** LOCONOMY_CLERK_API_URL. */
    readonly apiUrl: string;
  };
  /** Stripe (src/integrations/stripe/, docs/payments.md). */
  readonly stripe: StripeSettings;
  readonly db: {
    readonly schemas: readonly string[];
    readonly anonRole: string;
    readonly extraSearchPath: readonly string[];
    readonly maxRows: number | undefined;
    readonly pool: number;
    readonly preparedStatements: boolean;
    readonly planEnabled: boolean;
    readonly txEnd: TxEnd;
    readonly aggregatesEnabled: boolean;
  };
  /** Fastify's trustProxy: which proxies' X-Forwarded-For decides the client IP. */
  readonly trustProxy: boolean | readonly string[];
  /** Realtime (src/realtime/): per-connection limits and the idle timeout. */
  readonly realtime: RealtimeLimits;
  /** Whether `serve` and `worker` migrate and seed on start (false: only check). */
  readonly migrateOnStart: boolean;
  /** Background jobs (src/jobs/). */
  readonly jobs: {
    readonly inServe: boolean;
    readonly concurrency: number;
    readonly pollIntervalMs: number;
    readonly recoverAfterMs: number;
  };
  /** Outbound webhooks (src/webhooks/, docs/webhooks.md). */
  readonly webhooks: WebhookSettings;
  /** GraphQL (src/graphql/, docs/graphql.md): limits, introspection, persisted operations. */
  readonly graphql: GraphqlSettings;
  /** The project's server functions (src/functions/, docs/functions.md). */
  readonly functions: FunctionsSettings;
  /** Storage (src/storage/, docs/storage.md). */
  readonly storage: StorageSettings;
  /** NODE_ENV=production: development tools and error details off (GraphQL). */
  readonly production: boolean;
  readonly logLevel: LogLevel;
  readonly logFormat: LogFormat;
}

/** Reads and validates every setting; the first invalid one is reported as a LoconomyError. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Config {
  const values = {} as Record<SettingName, unknown>;
  for (const name of Object.keys(SETTINGS) as SettingName[]) {
    const setting: Setting = SETTINGS[name];
    const given = env[name];
    // An empty variable counts as unset, as shells make `FOO= cmd` easy to write by accident.
    const raw = given === undefined || given === '' ? setting.default : given;
    if (raw === undefined) {
      values[name] = undefined;
      continue;
    }
    const parsed = setting.schema.safeParse(raw);
    if (!parsed.success) {
      const problem = parsed.error.issues[0]?.message ?? 'is invalid';
      throw new LoconomyError(
        'LOCO_CONFIG_INVALID',
        `${name} ${problem} (got ${JSON.stringify(redact(name, raw))})`,
        hintFor(name),
      );
    }
    values[name] = parsed.data;
  }
  const v = values as {
    [K in SettingName]: z.output<(typeof SETTINGS)[K]['schema']> | undefined;
  };
  return {
    port: v.PORT as number,
    host: v.HOST as string,
    databaseUrl: v.DATABASE_URL,
    dataDir: resolve(cwd, v.LOCONOMY_DATA_DIR as string),
    cacheDir: resolve(cwd, v.LOCONOMY_CACHE_DIR ?? defaultCacheDir(env)),
    jwtSecret: v.LOCONOMY_JWT_SECRET,
    clerk: {
      jwksUrl: v.CLERK_JWKS_URL,
      jwtKey: v.CLERK_JWT_KEY,
      webhookSecret: v.CLERK_WEBHOOK_SECRET,
      trustedMetadata: [...new Set(v.LOCONOMY_CLERK_TRUSTED_METADATA ?? [])],
      organizationTenants: v.LOCONOMY_CLERK_ORGANIZATION_TENANTS as boolean,
      secretKey: v.CLERK_SECRET_KEY,
      apiUrl: v.LOCONOMY_CLERK_API_URL as string,
    },
    stripe: {
      secretKey: v.STRIPE_SECRET_KEY,
      webhookSecrets: v.STRIPE_WEBHOOK_SECRET ?? [],
      apiUrl: v.LOCONOMY_STRIPE_API_URL,
      returnOrigins: v.LOCONOMY_STRIPE_RETURN_ORIGINS?.map((origin) => new URL(origin).origin),
    },
    db: {
      schemas: v.LOCONOMY_DB_SCHEMAS as string[],
      anonRole: v.LOCONOMY_DB_ANON_ROLE as string,
      extraSearchPath: v.LOCONOMY_DB_EXTRA_SEARCH_PATH as string[],
      maxRows: v.LOCONOMY_DB_MAX_ROWS,
      pool: v.LOCONOMY_DB_POOL as number,
      preparedStatements: v.LOCONOMY_DB_PREPARED_STATEMENTS as boolean,
      planEnabled: v.LOCONOMY_DB_PLAN_ENABLED as boolean,
      txEnd: v.LOCONOMY_DB_TX_END as TxEnd,
      aggregatesEnabled: v.LOCONOMY_DB_AGGREGATES_ENABLED as boolean,
    },
    trustProxy: v.LOCONOMY_TRUST_PROXY as boolean | string[],
    realtime: {
      idleTimeoutMs: v.LOCONOMY_REALTIME_IDLE_TIMEOUT_MS as number,
      maxChannels: v.LOCONOMY_REALTIME_MAX_CHANNELS as number,
      maxJoinsPerSecond: v.LOCONOMY_REALTIME_MAX_JOINS_PER_SECOND as number,
      maxEventsPerSecond: v.LOCONOMY_REALTIME_MAX_EVENTS_PER_SECOND as number,
      maxPayloadBytes: (v.LOCONOMY_REALTIME_MAX_PAYLOAD_KB as number) * 1024,
      presenceIntervalMs: v.LOCONOMY_REALTIME_PRESENCE_INTERVAL_MS as number,
    },
    migrateOnStart: v.LOCONOMY_SERVE_MIGRATE as boolean,
    jobs: {
      inServe: v.LOCONOMY_SERVE_JOBS as boolean,
      concurrency: v.LOCONOMY_JOBS_CONCURRENCY as number,
      pollIntervalMs: v.LOCONOMY_JOBS_POLL_INTERVAL_MS as number,
      recoverAfterMs: v.LOCONOMY_JOBS_RECOVER_AFTER_MS as number,
    },
    webhooks: {
      timeoutMs: v.LOCONOMY_WEBHOOKS_TIMEOUT_MS as number,
      retryBaseMs: v.LOCONOMY_WEBHOOKS_RETRY_BASE_MS as number,
      retryMaxMs: v.LOCONOMY_WEBHOOKS_RETRY_MAX_MS as number,
      disableAfterFailures: v.LOCONOMY_WEBHOOKS_DISABLE_AFTER_FAILURES as number,
      disableAfterHours: v.LOCONOMY_WEBHOOKS_DISABLE_AFTER_HOURS as number,
      rotationGraceHours: v.LOCONOMY_WEBHOOKS_ROTATION_GRACE_HOURS as number,
      allowPrivate: v.LOCONOMY_WEBHOOKS_ALLOW_PRIVATE as boolean,
    },
    graphql: {
      maxDepth: v.LOCONOMY_GRAPHQL_MAX_DEPTH as number,
      maxAliases: v.LOCONOMY_GRAPHQL_MAX_ALIASES as number,
      maxFields: v.LOCONOMY_GRAPHQL_MAX_FIELDS as number,
      maxDirectives: v.LOCONOMY_GRAPHQL_MAX_DIRECTIVES as number,
      introspection: v.LOCONOMY_GRAPHQL_INTROSPECTION ?? v.NODE_ENV !== 'production',
      persistedOperations:
        v.LOCONOMY_GRAPHQL_PERSISTED_OPERATIONS === undefined
          ? undefined
          : resolve(cwd, v.LOCONOMY_GRAPHQL_PERSISTED_OPERATIONS),
    },
    functions: {
      dir: resolve(cwd, v.LOCONOMY_FUNCTIONS_DIR as string),
      timeoutMs: v.LOCONOMY_FUNCTIONS_TIMEOUT_MS as number,
      bodyLimit: v.LOCONOMY_FUNCTIONS_BODY_LIMIT as number,
      watch: v.NODE_ENV !== 'production',
    },
    storage: {
      backend: v.LOCONOMY_STORAGE_BACKEND as 'local' | 's3',
      dir: join(resolve(cwd, v.LOCONOMY_DATA_DIR as string), 'storage'),
      maxFileSize: v.LOCONOMY_STORAGE_MAX_FILE_SIZE as number,
      s3: {
        bucket: v.LOCONOMY_STORAGE_S3_BUCKET,
        region: v.LOCONOMY_STORAGE_S3_REGION as string,
        endpoint: v.LOCONOMY_STORAGE_S3_ENDPOINT,
        accessKeyId: v.LOCONOMY_STORAGE_S3_ACCESS_KEY_ID,
        secretAccessKey: v.LOCONOMY_STORAGE_S3_SECRET_ACCESS_KEY,
        forcePathStyle: v.LOCONOMY_STORAGE_S3_FORCE_PATH_STYLE as boolean,
      },
    },
    production: v.NODE_ENV === 'production',
    logLevel: v.LOG_LEVEL as LogLevel,
    logFormat: v.LOG_FORMAT as LogFormat,
  };
}

/** The per-user cache directory, as the XDG base directory specification places it. */
function defaultCacheDir(env: NodeJS.ProcessEnv): string {
  const xdg = env.XDG_CACHE_HOME;
  return join(xdg && isAbsolute(xdg) ? xdg : join(homedir(), '.cache'), 'loconomy');
}

/** Secrets never appear in error output, and neither does a password inside a URL. */
function redact(name: SettingName, raw: string): string {
  if (/SECRET|KEY/.test(name)) return '<redacted>';
  if (name === 'DATABASE_URL') return raw.replace(/(\/\/[^:/@]*:)[^@]*@/, '$1***@');
  return raw;
}

function hintFor(name: SettingName): string {
  switch (name) {
    case 'DATABASE_URL':
      return 'set it like postgres://user:password@host:5432/dbname, or unset it to use the embedded database';
    case 'LOCONOMY_JWT_SECRET':
      return 'use a random string, e.g. the output of `openssl rand -base64 48`';
    default:
      return `fix the environment variable ${name} (see docs/env.md)`;
  }
}
