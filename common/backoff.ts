/** Retry and reconnection delays: exponential growth, a cap, and optional jitter. */

export type BackoffOptions = {
  /** First delay (default 500 ms). */
  initialMs?: number;
  /** Largest delay (default 30 s). */
  maxMs?: number;
  /** Growth per failed attempt (default 2). */
  factor?: number;
  /**
   * "equal" (default): half the delay fixed, half random, so that many clients
   * cut off together do not come back together. "none": the exact delay.
   */
  jitter?: 'equal' | 'none';
};

/** Delay before retry `attempt` (0-based): initial × factor^attempt, at most max, jittered. */
export function backoffDelay(attempt: number, opts: BackoffOptions = {}, random: () => number = Math.random): number {
  const initial = opts.initialMs ?? 500;
  const max = opts.maxMs ?? 30_000;
  const factor = opts.factor ?? 2;
  const base = Math.min(max, initial * factor ** Math.min(attempt, 64));
  if (opts.jitter === 'none') return base;
  return Math.round(base / 2 + (random() * base) / 2);
}
