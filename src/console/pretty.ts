import { createRequire } from 'node:module';
import type { Writable } from 'node:stream';
import type { LogFormat } from '../config.js';
import { watchSteps } from '../log.js';

/** auto: people read a terminal, programs read everything else. */
export function resolveLogFormat(format: LogFormat, stream: NodeJS.WriteStream = process.stdout): 'pretty' | 'json' {
  if (format !== 'auto') return format;
  return stream.isTTY ? 'pretty' : 'json';
}

/** Seconds for people: "850 ms", "4.2 s". */
export function duration(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/**
 * pino-pretty, synchronous (no worker thread, so nothing is lost on exit), one line per entry
 * with the message only (the JSON format keeps every field): a finished step reads
 * "✓ migrate (120 ms)", a request "GET /rest/v1/listings → 200 (12 ms)", an error adds its
 * message.
 */
export function prettyStream(destination: NodeJS.WritableStream = process.stdout): Writable {
  // Loaded only here: JSON logging (every non-terminal start) should not pay its ~30 ms import.
  const { PinoPretty } = createRequire(import.meta.url)('pino-pretty') as typeof import('pino-pretty');
  return PinoPretty({
    destination,
    sync: true,
    colorize: 'isTTY' in destination ? Boolean(destination.isTTY) : false,
    singleLine: true,
    translateTime: 'HH:MM:ss',
    // Only what people need on a line; LOG_FORMAT=json keeps every field.
    ignore: 'pid,hostname,service,step,ms,url,database,schema_version,signal,reqId,req,res,responseTime',
    messageFormat: (log, messageKey) => {
      const message = String(log[messageKey] ?? '');
      if (typeof log.step === 'string' && typeof log.ms === 'number' && message === `${log.step} done`) {
        return `✓ ${log.step} (${duration(log.ms)})`;
      }
      const err = log.err as { message?: string } | undefined;
      return err?.message ? `${message} — ${err.message}` : message;
    },
  });
}

/**
 * Steps that are still running after a second get a line saying so, so a long first start
 * (building the prepared database, generating demo data) never looks stuck. Returns the
 * function that stops watching.
 */
export function announceLongSteps(write: (line: string) => void, afterMs = 1000): () => void {
  const timers = new Map<string, NodeJS.Timeout>();
  const unwatch = watchSteps((event) => {
    if (event.phase === 'start') {
      const timer = setTimeout(() => write(`… ${event.name}`), afterMs);
      timer.unref();
      timers.set(event.name, timer);
    } else {
      clearTimeout(timers.get(event.name));
      timers.delete(event.name);
    }
  });
  return () => {
    unwatch();
    for (const timer of timers.values()) clearTimeout(timer);
  };
}
