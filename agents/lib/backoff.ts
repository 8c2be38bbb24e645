/** Reconnection and retry delays. */

export type BackoffOptions = {
  /** First delay (default 500 ms). */
  initialMs?: number;
  /** Largest delay (default 30 s). */
  maxMs?: number;
  /** Growth per failed attempt (default 2). */
  factor?: number;
};

/** Delay before reconnection attempt `attempt` (0-based): exponential, capped, with "equal jitter" (½ fixed, ½ random). */
export function backoffDelay(attempt: number, opts: BackoffOptions = {}, random: () => number = Math.random): number {
  const initial = opts.initialMs ?? 500;
  const max = opts.maxMs ?? 30_000;
  const factor = opts.factor ?? 2;
  const base = Math.min(max, initial * factor ** Math.min(attempt, 64));
  return Math.round(base / 2 + (random() * base) / 2);
}
