import { performance } from 'node:perf_hooks';
import { type Logger, pino } from 'pino';

export type { Logger };

/**
 * One JSON logger for the process, on stdout. stderr is kept for the CLI's one-line errors,
 * so a failing command prints exactly one line there.
 */
export function createLogger(level: string): Logger {
  return pino({ level, base: { service: 'loconomy' } });
}

/** A logger that drops everything: for commands whose stdout is their output (keys, token). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/**
 * Runs one named step and logs its duration, so "why is start slow" is answered by the log
 * (STYLE.md 11). Failures are logged with the time they took and rethrown unchanged.
 */
export async function step<T>(log: Logger, name: string, fn: () => Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    const result = await fn();
    log.info({ step: name, ms: round(performance.now() - started) }, `${name} done`);
    return result;
  } catch (error) {
    log.debug({ step: name, ms: round(performance.now() - started) }, `${name} failed`);
    throw error;
  }
}

export function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
