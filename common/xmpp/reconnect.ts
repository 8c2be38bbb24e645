/**
 * When to try again after a connection is lost: one retry at a time, delays
 * from backoffDelay (exponential, capped, jittered), reset once online.
 * Used by the broker's component link and the agents' client alike.
 */
import { backoffDelay, type BackoffOptions } from '../backoff.ts';

export class Reconnector {
  private attempt = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly retry: () => void,
    private readonly backoff: BackoffOptions = {},
  ) {}

  /** Whether a retry is waiting. */
  get scheduled(): boolean {
    return this.timer !== undefined;
  }

  /** Failed attempts since the last success. */
  get attempts(): number {
    return this.attempt;
  }

  /** Schedule the next retry unless one is waiting; returns its delay (undefined when one was already waiting). */
  schedule(): number | undefined {
    if (this.timer) return undefined;
    const delay = backoffDelay(this.attempt++, this.backoff);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.retry();
    }, delay);
    return delay;
  }

  /** Online again: the next loss starts from the first delay. */
  succeeded(): void {
    this.attempt = 0;
  }

  cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
