/**
 * Durable release jobs: one row per (source item, level node) that still has to be
 * derived and published. Embargoes and crash safety are the same mechanism: a job
 * is written (synchronously, before the publisher's IQ is answered) when an item
 * reaches a source node, and deleted only after its level item was published. A
 * job due while the broker was down runs when it starts again. Publishing a level
 * item reuses the source item id, so running a job twice replaces, never doubles.
 *
 * The table lives in the broker's SQLite database, next to the store's tables.
 */
import type Database from 'better-sqlite3';

export type ReleaseJob = {
  source: string;
  itemId: string;
  target: string;
  /** Publication time of the source item, ms since epoch. */
  published: number;
  /** When the level may receive it, ms since epoch. */
  dueAt: number;
  /** The source payload as published (serialized XML). */
  payload: string;
  publisher: string;
};

type Row = { source: string; item_id: string; target: string; published: number; due_at: number; payload: string; publisher: string };

const toJob = (r: Row): ReleaseJob => ({
  source: r.source,
  itemId: r.item_id,
  target: r.target,
  published: r.published,
  dueAt: r.due_at,
  payload: r.payload,
  publisher: r.publisher,
});

export class ReleaseQueue {
  private readonly q;

  constructor(private readonly db: Database.Database) {
    db.exec(`
      CREATE TABLE IF NOT EXISTS policy_releases (
        source TEXT NOT NULL, item_id TEXT NOT NULL, target TEXT NOT NULL,
        published INTEGER NOT NULL, due_at INTEGER NOT NULL,
        payload TEXT NOT NULL, publisher TEXT NOT NULL,
        PRIMARY KEY (source, item_id, target));
      CREATE INDEX IF NOT EXISTS policy_releases_due ON policy_releases(due_at);
    `);
    this.q = {
      put: db.prepare(
        `INSERT INTO policy_releases (source, item_id, target, published, due_at, payload, publisher) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(source, item_id, target) DO UPDATE SET published = excluded.published, due_at = excluded.due_at,
           payload = excluded.payload, publisher = excluded.publisher`,
      ),
      due: db.prepare('SELECT * FROM policy_releases WHERE due_at <= ? ORDER BY due_at, published LIMIT ?'),
      next: db.prepare('SELECT min(due_at) FROM policy_releases').pluck(),
      size: db.prepare('SELECT count(*) FROM policy_releases').pluck(),
      del: db.prepare('DELETE FROM policy_releases WHERE source = ? AND item_id = ? AND target = ?'),
      delItem: db.prepare('DELETE FROM policy_releases WHERE source = ? AND item_id = ?'),
      delSource: db.prepare('DELETE FROM policy_releases WHERE source = ?'),
      pairs: db.prepare('SELECT DISTINCT source, target FROM policy_releases'),
      delPair: db.prepare('DELETE FROM policy_releases WHERE source = ? AND target = ?'),
      reschedule: db.prepare('UPDATE policy_releases SET due_at = published + ? WHERE source = ? AND target = ?'),
      all: db.prepare('SELECT * FROM policy_releases ORDER BY due_at'),
    };
  }

  /** Add jobs in one transaction (a re-published item id replaces its pending jobs). */
  add(jobs: ReleaseJob[]): void {
    this.db.transaction(() => {
      for (const j of jobs) this.q.put.run(j.source, j.itemId, j.target, j.published, j.dueAt, j.payload, j.publisher);
    })();
  }

  due(now: number, limit = 500): ReleaseJob[] {
    return (this.q.due.all(now, limit) as Row[]).map(toJob);
  }

  /** Jobs waiting (due or not). */
  size(): number {
    return this.q.size.get() as number;
  }

  nextDue(): number | undefined {
    return (this.q.next.get() as number | null) ?? undefined;
  }

  done(j: Pick<ReleaseJob, 'source' | 'itemId' | 'target'>): void {
    this.q.del.run(j.source, j.itemId, j.target);
  }

  /** Cancel the pending releases of items retracted from a source node. Returns how many. */
  cancelItems(source: string, itemIds: string[]): number {
    return this.db.transaction(() => itemIds.reduce((n, id) => n + this.q.delItem.run(source, id).changes, 0))();
  }

  cancelSource(source: string): number {
    return this.q.delSource.run(source).changes;
  }

  /**
   * Align pending jobs with a new policy: an embargo that changed moves the due
   * time (still counted from publication); a (source, level) pair the policy no
   * longer has is cancelled. Returns the cancelled pairs.
   */
  realign(embargoMs: Map<string, number>, key: (source: string, target: string) => string): { source: string; target: string; cancelled: number }[] {
    const out: { source: string; target: string; cancelled: number }[] = [];
    this.db.transaction(() => {
      for (const { source, target } of this.q.pairs.all() as { source: string; target: string }[]) {
        const ms = embargoMs.get(key(source, target));
        if (ms === undefined) out.push({ source, target, cancelled: this.q.delPair.run(source, target).changes });
        else this.q.reschedule.run(ms, source, target);
      }
    })();
    return out;
  }

  all(): ReleaseJob[] {
    return (this.q.all.all() as Row[]).map(toJob);
  }
}

/** Runs due jobs, then sleeps until the next one is due. */
export class ReleaseScheduler {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private again = false;
  private stopped = false;

  constructor(
    private readonly queue: ReleaseQueue,
    private readonly release: (job: ReleaseJob) => void,
    private readonly onError: (err: unknown, job: ReleaseJob) => void,
    private readonly now: () => number = Date.now,
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
          const jobs = this.queue.due(this.now());
          if (jobs.length === 0) break;
          for (const j of jobs) {
            try {
              this.release(j);
            } catch (err) {
              // Not retried: a release fails for reasons that do not pass (the failure is logged).
              this.onError(err, j);
            }
            this.queue.done(j);
          }
        }
      } while (this.again);
    } finally {
      this.running = false;
    }
    this.arm();
  }

  private arm(): void {
    clearTimeout(this.timer);
    const next = this.queue.nextDue();
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
