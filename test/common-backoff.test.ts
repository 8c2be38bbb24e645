/** common/backoff.ts: one delay rule for reconnections (jittered) and retries (exact). */
import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../common/backoff.ts';

describe('backoffDelay', () => {
  it('grows exponentially to the cap with jitter in [½, 1] of the step', () => {
    const o = { initialMs: 100, maxMs: 5000 };
    expect([0, 1, 2, 3].map((a) => backoffDelay(a, o, () => 1))).toEqual([100, 200, 400, 800]);
    expect([0, 1, 2, 3].map((a) => backoffDelay(a, o, () => 0))).toEqual([50, 100, 200, 400]);
    expect(backoffDelay(20, o, () => 1)).toBe(5000);
    expect(backoffDelay(1000, o, () => 0.5)).toBe(3750);
    const samples = Array.from({ length: 200 }, () => backoffDelay(3, o));
    expect(Math.min(...samples)).toBeGreaterThanOrEqual(400);
    expect(Math.max(...samples)).toBeLessThanOrEqual(800);
    expect(new Set(samples).size).toBeGreaterThan(20);
  });

  it('gives the exact delay without jitter, with any growth factor', () => {
    const o = { initialMs: 500, maxMs: 3000, factor: 3, jitter: 'none' as const };
    expect([0, 1, 2, 3].map((a) => backoffDelay(a, o, () => 0))).toEqual([500, 1500, 3000, 3000]);
  });

  it('defaults: 500 ms doubling to 30 s', () => {
    expect(backoffDelay(0, {}, () => 1)).toBe(500);
    expect(backoffDelay(6, {}, () => 1)).toBe(30_000);
  });
});
