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
  | 'LOCO_MIGRATION_INVALID'
  | 'LOCO_MIGRATION_CHANGED'
  | 'LOCO_MIGRATION_NEWER'
  | 'LOCO_MIGRATION_FAILED'
  | 'LOCO_SEED_FAILED'
  | 'LOCO_DEMO_NO_REFERENCE_DATA'
  | 'LOCO_NOT_IMPLEMENTED'
  | 'LOCO_SERVER_LISTEN';

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
