import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { DEFAULT_DEMO_LISTINGS, isoDate, nonEmpty, port, positiveInteger } from './commands/options.js';
import { isLoconomyError, oneLine } from './errors.js';

/**
 * The `loconomy` command. Parsing only: each command's work lives in src/commands/. Every
 * failure a user can cause ends as one line on stderr, `loconomy: <what is wrong> — <what to
 * do>`, and exit code 1; never a stack trace (LOG_LEVEL=debug adds one for unexpected errors).
 */

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

function program(): Command {
  const cli = new Command('loconomy')
    .description('Open-source backend for hyperlocal services marketplaces.')
    .version(pkg.version, '-v, --version')
    .exitOverride()
    .configureOutput({ outputError: () => {} }) // main() prints errors, as one line
    .showSuggestionAfterError(true);

  cli
    .command('serve')
    .description('start the HTTP API (migrates and seeds the database first, unless --no-migrate)')
    .option('--port <n>', 'port to listen on (default: PORT or 54321)', port('--port'))
    .option('--host <host>', 'address to bind (default: HOST or 127.0.0.1)', nonEmpty('--host'))
    .option('--demo', 'generate the demo data set first, unless the database has it')
    .option(
      '--listings <n>',
      `listings in the demo data set (default: ${DEFAULT_DEMO_LISTINGS}; needs --demo)`,
      positiveInteger('--listings'),
    )
    .option('--no-jobs', 'do not run background jobs in this process (default: LOCONOMY_SERVE_JOBS, true)')
    .option(
      '--no-migrate',
      'do not migrate or seed; refuse to start if migrations are pending (default: LOCONOMY_SERVE_MIGRATE, true)',
    )
    .action(async (options) => {
      needsDemo(options);
      const { serve } = await import('./commands/serve.js');
      await serve(options);
    });

  cli
    .command('worker')
    .description(
      'run the background jobs and the schedule without the HTTP API (pair with `serve --no-jobs` to scale them apart)',
    )
    .option(
      '--concurrency <n>',
      'jobs run at once (default: LOCONOMY_JOBS_CONCURRENCY or 2)',
      positiveInteger('--concurrency'),
    )
    .action(async (options) => {
      const { worker } = await import('./commands/worker.js');
      await worker(options);
    });

  cli
    .command('migrate')
    .description('apply pending database migrations')
    .action(async () => {
      const { migrate } = await import('./commands/migrate.js');
      await migrate();
    });

  cli
    .command('seed')
    .description('(re)load reference data; with --demo also a generated demo marketplace')
    .option('--demo', 'also generate the demo data set, unless the database has it')
    .option(
      '--listings <n>',
      `listings in the demo data set (default: ${DEFAULT_DEMO_LISTINGS}; needs --demo)`,
      positiveInteger('--listings'),
    )
    .action(async (options) => {
      needsDemo(options);
      const { seed } = await import('./commands/seed.js');
      await seed(options);
    });

  cli
    .command('keys')
    .description('print the anon and service_role API keys (JWTs signed with the project secret) as JSON')
    .option('--opaque', 'print the opaque keys instead: {"publishable": "sb_publishable_…", "secret": "sb_secret_…"}')
    .action(async (options) => {
      const { keys } = await import('./commands/keys.js');
      await keys(options);
    });

  cli
    .command('token')
    .description('print a signed user JWT')
    .requiredOption('--sub <clerk_user_id>', "the user's identity-provider id (users.clerk_id)", nonEmpty('--sub'))
    .option('--role <role>', 'database role claim', nonEmpty('--role'), 'authenticated')
    .addOption(new Option('--ttl <seconds>', 'lifetime in seconds').argParser(positiveInteger('--ttl')).default(3600))
    .action(async (options) => {
      const { token } = await import('./commands/keys.js');
      await token(options);
    });

  cli
    .command('db')
    .description('serve the embedded database over the PostgreSQL wire protocol (for psql and other clients)')
    .option('--port <n>', 'port to listen on', port('--port'), 54322)
    .option('--host <host>', 'address to bind', nonEmpty('--host'), '127.0.0.1')
    .option(
      '--max-connections <n>',
      'concurrent client connections (they share one session)',
      positiveInteger('--max-connections'),
      1,
    )
    .action(async (options) => {
      const { db } = await import('./commands/db.js');
      await db(options);
    });

  const gen = cli.command('gen').description('generate code from the database schema');
  gen
    .command('types')
    .description(
      'print the TypeScript `Database` type of the exposed schemas, as `supabase gen types typescript` does (for createClient<Database>)',
    )
    .option('--schema <name...>', 'schemas to include (default: LOCONOMY_DB_SCHEMAS, else public)')
    .option('--output <file>', 'write the types to this file instead of stdout', nonEmpty('--output'))
    .action(async (options) => {
      const { genTypes } = await import('./commands/gen.js');
      await genTypes(options);
    });
  gen
    .command('graphql')
    .description('print the GraphQL schema (SDL) that /graphql/v1 serves, as schema.graphql holds it')
    .option('--output <file>', 'write the schema to this file instead of stdout', nonEmpty('--output'))
    .action(async (options) => {
      const { genGraphql } = await import('./commands/gen.js');
      await genGraphql(options);
    });

  const stripe = cli.command('stripe').description('Stripe payments (docs/payments.md)');
  stripe
    .command('reconcile')
    .description(
      "compare Loconomy's Stripe mirrors (payout accounts, payments, refunds, disputes, payouts, saved cards, plans, subscriptions, invoices) with Stripe and report each difference (exit 1 if any is left)",
    )
    .option('--apply', "take Stripe's state where it settles a difference (forward moves only)")
    .option(
      '--since <date>',
      'compare what changed since this date (ISO 8601; default 30 days ago) and everything still open',
      isoDate('--since'),
    )
    .action(async (options) => {
      const { stripeReconcile } = await import('./commands/stripe.js');
      await stripeReconcile(options);
    });

  return cli;
}

class UsageError extends Error {}

function needsDemo(options: { demo?: boolean; listings?: number }): void {
  if (options.listings !== undefined && !options.demo) throw new UsageError('--listings needs --demo');
}

/** Runs the CLI; resolves to the exit code, or undefined while a server keeps running. */
export async function main(argv: readonly string[]): Promise<number | undefined> {
  const args = argv.slice(2);
  const cli = program();
  const given = args.find((a) => !a.startsWith('-'));
  const command = cli.commands.find((c) => c.name() === given)?.name();
  const help = command ? `run \`loconomy ${command} --help\`` : 'run `loconomy --help` to see the commands';
  if (args.length === 0) {
    return fail('no command given', 'run `loconomy --help` to see the commands');
  }
  try {
    await cli.parseAsync(argv);
    const long = command === 'serve' || command === 'db' || command === 'worker';
    return long ? undefined : 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (['commander.helpDisplayed', 'commander.version', 'commander.help'].includes(error.code)) return 0;
      return fail(commanderMessage(error), help);
    }
    if (error instanceof UsageError) return fail(error.message, help);
    if (isLoconomyError(error)) return fail(error.what, error.todo);
    if (process.env.LOG_LEVEL === 'debug' || process.env.LOG_LEVEL === 'trace') console.error(error);
    return fail(`unexpected error: ${oneLine(error)}`, 'rerun with LOG_LEVEL=debug for details, and please report it');
  }
}

/** Commander's "error: option '--x <n>' argument 'y' is invalid. <ours>" becomes "<ours>". */
function commanderMessage(error: CommanderError): string {
  const message = oneLine(error.message).replace(/^error:\s*/, '');
  const invalid = /is invalid\. (.*)$/.exec(message);
  return (invalid?.[1] ?? message).replace(/\.$/, '');
}

function fail(what: string, todo: string): number {
  process.stderr.write(`loconomy: ${what} — ${todo}\n`);
  return 1;
}
