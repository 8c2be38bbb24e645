/**
 * Durable release jobs: one row per (source item, level node) that still has to be
 * derived and published. Embargoes and crash safety are the same mechanism: a job
 * is written (synchronously, before the publisher's IQ is answered) when an item
 * reaches a source node, and deleted only after its level item was published. A
 * job due while the broker was down runs when it starts again. Publishing a level
 * item reuses the source item id, so running a job twice replaces, never doubles.
 *
 * The jobs are kept by the Store (store/store.ts ReleaseJobStore), created by its
 * migrations next to the items.
 */
import type { ReleaseJob, ReleaseJobStore } from '../store/store.ts';
import { storageFailurePasses } from '../../common/storage-full.ts';

export type { ReleaseJob };

/** The policy's view of its release jobs, kept by the Store (its table is one of the store's migrations). */
export class ReleaseQueue {
  constructor(private readonly store: ReleaseJobStore) {}

  /** Add jobs in one transaction (a re-published item id replaces its pending jobs). */
  add(jobs: ReleaseJob[]): void {
    this.store.putReleaseJobs(jobs);
  }

  due(now: number, limit = 500): ReleaseJob[] {
    return this.store.dueReleaseJobs(now, limit);
  }

  /** Jobs waiting (due or not). */
  size(): number {
    return this.store.countReleaseJobs();
  }

  nextDue(): number | undefined {
    return this.store.nextReleaseDue();
  }

  done(j: Pick<ReleaseJob, 'source' | 'itemId' | 'target'>): void {
    this.store.deleteReleaseJob(j);
  }

  /** Cancel the pending releases of items retracted from a source node. Returns how many. */
  cancelItems(source: string, itemIds: string[]): number {
    return this.store.deleteReleaseJobsOfItems(source, itemIds);
  }

  cancelSource(source: string): number {
    return this.store.deleteReleaseJobsOfSource(source);
  }

  /**
   * Align pending jobs with a new policy: an embargo that changed moves the due
   * time (still counted from publication); a (source, level) pair the policy no
   * longer has is cancelled. Returns the cancelled pairs.
   */
  realign(embargoMs: Map<string, number>, key: (source: string, target: string) => string): { source: string; target: string; cancelled: number }[] {
    return this.store.realignReleaseJobs((source, target) => embargoMs.get(key(source, target)));
  }

  all(): ReleaseJob[] {
    return this.store.allReleaseJobs();
  }
}

/** Runs due jobs, then sleeps until the next one is due. */
export class ReleaseScheduler {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private again = false;
  private stopped = false;
  /** A release found the store full (logged once until one succeeds). */
  private waitingForSpace = false;
  /** Jobs released whose deletion found the store full (kept in memory: a restart releases them again, replacing the same item). */
  private readonly releasedNotDone = new Set<string>();

  constructor(
    private readonly queue: ReleaseQueue,
    private readonly release: (job: ReleaseJob) => void,
    /** A release failed (`job`), or the queue could not be read (no job). */
    private readonly onError: (err: unknown, job?: ReleaseJob) => void,
    private readonly now: () => number = Date.now,
    /** Wait before trying again when the store is full. */
    private readonly retryMs = 2000,
  ) {}

  /** Run whatever is due (soon, not inside the caller's stack) and re-arm the timer. */
  kick(): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.run(), 0);
    this.timer.unref();
  }

  /** Run due jobs now, then re-arm. */
  run(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    try {
      do {
        this.again = false;
        for (;;) {
          let jobs: ReleaseJob[];
          try {
            jobs = this.queue.due(this.now());
          } catch (err) {
            // Reading the queue fails too when the database server is gone: try again later.
            if (storageFailurePasses(err)) return this.retryLater(err);
            throw err;
          }
          if (jobs.length === 0) break;
          for (const j of jobs) {
            const key = `${j.source}\n${j.itemId}\n${j.target}\n${j.published}`;
            try {
              // Released already, but its deletion found the store full: only delete it now
              // (releasing again would notify the level's subscribers twice).
              if (!this.releasedNotDone.has(key)) {
                this.release(j);
                this.releasedNotDone.add(key);
              }
              this.queue.done(j);
              this.releasedNotDone.delete(key);
              this.waitingForSpace = false;
            } catch (err) {
              // A full data directory (or a database server gone) passes: the job stays queued
              // (a release replaces, never doubles) and every due job waits for the retry.
              if (storageFailurePasses(err)) return this.retryLater(err, j);
              // Not retried: a release fails for reasons that do not pass (the failure is logged).
              this.releasedNotDone.delete(key);
              this.onError(err, j);
              this.queue.done(j);
            }
          }
        }
      } while (this.again);
    } finally {
      this.running = false;
    }
    this.arm();
  }

  /** The store is full (or unreachable): keep the jobs and run again in `retryMs`. */
  private retryLater(err: unknown, job?: ReleaseJob): void {
    this.running = false;
    if (!this.waitingForSpace) this.onError(err, job);
    this.waitingForSpace = true;
    clearTimeout(this.timer);
    if (this.stopped) return;
    this.timer = setTimeout(() => this.run(), this.retryMs);
    this.timer.unref();
  }

  private arm(): void {
    clearTimeout(this.timer);
    let next: number | undefined;
    try {
      next = this.queue.nextDue();
    } catch (err) {
      if (storageFailurePasses(err)) return this.retryLater(err);
      throw err;
    }
    if (next === undefined || this.stopped) return;
    // setTimeout holds at most ~24.8 days; wake up and re-arm for longer embargoes.
    const delay = Math.min(Math.max(0, next - this.now()), 2 ** 31 - 1);
    this.timer = setTimeout(() => this.run(), delay);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}
