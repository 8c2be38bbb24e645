/** common/xmpp/reconnect.ts: one retry at a time, growing delays, reset once online. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Reconnector } from '../common/xmpp/reconnect.ts';

describe('Reconnector', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('schedules one retry at a time, with growing delays, reset by success', () => {
    let tries = 0;
    const r = new Reconnector(() => tries++, { initialMs: 100, maxMs: 1000, jitter: 'none' });
    expect(r.schedule()).toBe(100);
    expect(r.schedule()).toBeUndefined(); // one already waits
    expect(r.scheduled).toBe(true);
    vi.advanceTimersByTime(99);
    expect(tries).toBe(0);
    vi.advanceTimersByTime(1);
    expect(tries).toBe(1);
    expect(r.scheduled).toBe(false);
    expect(r.schedule()).toBe(200);
    vi.advanceTimersByTime(200);
    expect(r.schedule()).toBe(400);
    expect(r.attempts).toBe(3);
    r.cancel();
    vi.advanceTimersByTime(10_000);
    expect(tries).toBe(2);
    r.succeeded();
    expect(r.schedule()).toBe(100);
  });
});
