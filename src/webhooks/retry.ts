/** Milliseconds before retry number `attempt` (1 = after the first failure): base × 4^(attempt−1), capped. */
export function retryDelayMs(attempt: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 4 ** Math.max(0, attempt - 1));
}
