import { performance } from 'node:perf_hooks';
import { type Config, loadConfig } from '../config.js';
import { prettyStream, resolveLogFormat } from '../console/pretty.js';
import type { Database, Queryable } from '../db/database.js';
import { readMigrations, readState, schemaVersion, verify } from '../db/migrator.js';
import { openDatabase } from '../db/open.js';
import { LoconomyError } from '../errors.js';
import { createLogger, type Logger, round, step } from '../log.js';

/** What every command starts from: validated settings and the process logger. */
export interface CommandContext {
  readonly config: Config;
  readonly log: Logger;
  /** Whether stdout is read by people (LOG_FORMAT; src/console/pretty.ts) or by programs. */
  readonly format: 'pretty' | 'json';
}

export function commandContext(): CommandContext {
  const config = loadConfig();
  const format = resolveLogFormat(config.logFormat);
  const log = createLogger(config.logLevel, format === 'pretty' ? prettyStream() : undefined);
  // performance.now() counts from process start: Node's boot, tsx and every module import.
  log.info({ step: 'load code', ms: round(performance.now()) }, 'load code done');
  return { config, log, format };
}

/** Opens the configured database for fn and closes it afterwards, whatever happens. */
export async function withDatabase<T>(
  ctx: Pick<CommandContext, 'config' | 'log'>,
  fn: (db: Database) => Promise<T>,
): Promise<T> {
  const db = await step(ctx.log, 'open database', () => openDatabase(ctx.config, ctx.log));
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

/**
 * Refuses a database whose schema is not the one this Loconomy's migrations make, for commands
 * that read it without migrating; `why` ends the advice ("run `loconomy migrate` first, <why>").
 */
export async function requireMigrated(db: Queryable, why: string): Promise<void> {
  const files = await readMigrations();
  const state = await readState(db);
  verify(files, state);
  const pending = files.filter((f) => !state?.migrations.has(f.version));
  if (pending.length === 0) return;
  const at = state ? `schema version ${schemaVersion(state) ?? 'none'}` : 'never migrated';
  throw new LoconomyError(
    'LOCO_CLI_USAGE',
    `the database has ${pending.length} pending migration${pending.length === 1 ? '' : 's'} (${at}, latest ${
      files.at(-1)?.version
    })`,
    `run \`loconomy migrate\` first, ${why}`,
  );
}
