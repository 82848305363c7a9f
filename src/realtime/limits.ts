/**
 * Per-connection rates, counted in fixed one-second windows (Realtime averages over a sliding
 * minute; a connection-local second is cheaper and stricter against bursts).
 */
export class RateWindow {
  private windowStart = 0;
  private count = 0;

  constructor(
    private readonly limit: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Counts one event; false when it is over the limit of the current second. */
  take(): boolean {
    const now = this.now();
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.count = 0;
    }
    this.count += 1;
    return this.count <= this.limit;
  }
}

/** The byte size of a JSON value as it travels. */
export function jsonSize(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value) ?? '', 'utf8');
}
