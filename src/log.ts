import { performance } from 'node:perf_hooks';
import { type Logger, pino } from 'pino';

export type { Logger };

/**
 * One logger for the process, on stdout: JSON lines, or what `destination` makes of them (the
 * console for people, src/console/pretty.ts). stderr is kept for the CLI's one-line errors, so
 * a failing command prints exactly one line there.
 */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  const options = { level, base: { service: 'loconomy' } };
  return destination ? pino(options, destination) : pino(options);
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
  for (const watcher of watchers) watcher({ name, phase: 'start' });
  try {
    const result = await fn();
    const ms = round(performance.now() - started);
    log.info({ step: name, ms }, `${name} done`);
    for (const watcher of watchers) watcher({ name, phase: 'done', ms });
    return result;
  } catch (error) {
    const ms = round(performance.now() - started);
    log.debug({ step: name, ms }, `${name} failed`);
    for (const watcher of watchers) watcher({ name, phase: 'failed', ms });
    throw error;
  }
}

export interface StepEvent {
  readonly name: string;
  readonly phase: 'start' | 'done' | 'failed';
  readonly ms?: number;
}

const watchers = new Set<(event: StepEvent) => void>();

/**
 * Calls watcher as steps start and end, so that /health can say what a starting server is
 * doing and the console can show it. Returns the function that stops watching.
 */
export function watchSteps(watcher: (event: StepEvent) => void): () => void {
  watchers.add(watcher);
  return () => watchers.delete(watcher);
}

export function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
