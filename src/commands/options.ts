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

/** Demo size when --demo is given without --listings. */
export const DEFAULT_DEMO_LISTINGS = 10_000;
