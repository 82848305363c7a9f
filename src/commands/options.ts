import { InvalidArgumentError } from 'commander';

/**
 * Option parsers: each rejects bad input with one sentence naming the option, which the CLI
 * prints as `loconomy: <sentence> — run loconomy <command> --help`.
 */

export function positiveInteger(option: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < 1) {
      throw new InvalidArgumentError(`${option} must be a positive integer (got ${JSON.stringify(value)})`);
    }
    return n;
  };
}

export function port(option: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || n < 1 || n > 65535) {
      throw new InvalidArgumentError(
        `${option} must be a port number between 1 and 65535 (got ${JSON.stringify(value)})`,
      );
    }
    return n;
  };
}

export function nonEmpty(option: string) {
  return (value: string): string => {
    if (value.trim() === '') throw new InvalidArgumentError(`${option} must not be empty`);
    return value;
  };
}

/** A date or date-time in ISO 8601 (2026-11-01, 2026-11-01T12:00:00Z). */
export function isoDate(option: string) {
  return (value: string): Date => {
    const date = new Date(value);
    if (!/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(value.trim()) || Number.isNaN(date.getTime())) {
      throw new InvalidArgumentError(
        `${option} must be a date in ISO 8601, e.g. 2026-11-01 (got ${JSON.stringify(value)})`,
      );
    }
    return date;
  };
}

/** Demo size when --demo is given without --listings. */
export const DEFAULT_DEMO_LISTINGS = 10_000;
