/**
 * A full disk under a gateway's state (seen-store, VTP spool, dead-letter
 * directory): the write that failed is tried again until space returns, and
 * meanwhile nothing is acknowledged upstream (no Kafka offset committed, no VTP
 * ack, no follower cursor moved). The gateway keeps running; the operator reads
 * one error per episode (again every 10 minutes while it lasts) and one line when
 * it is over, never one line per message or per retry.
 */
import { isStorageFull } from '../../../common/storage-full.ts';
import type { Logger } from '../../lib/log.ts';

/** How often a write that found the disk full is tried again (default). */
export const DISK_RETRY_MS = 1000;

/**
 * One per gateway process: whether an episode of a full disk is on, which state
 * writes are waiting (`what`: "the seen-store", "a dead letter", ...), and what
 * was said. The episode starts with the first write that finds the disk full and
 * ends when every write that did has gone through.
 */
export class DiskFullWatch {
  private since?: number;
  private warnedAt = -Infinity;
  private retries = 0;
  private readonly waiting = new Set<string>();

  constructor(
    private readonly log?: Logger,
    readonly retryMs = DISK_RETRY_MS,
    private readonly repeatMs = 600_000,
  ) {}

  /** Whether some state write is waiting for disk space. */
  get full(): boolean {
    return this.since !== undefined;
  }

  /** A state write (`what`) failed for a full disk: an error in the log once per episode (and every 10 minutes). */
  failed(err: unknown, what: string): void {
    const now = Date.now();
    this.since ??= now;
    this.waiting.add(what);
    this.retries++;
    if (now - this.warnedAt < this.repeatMs) return;
    this.warnedAt = now;
    this.log?.error(
      { what, err: (err as Error).message, fullForMs: now - this.since },
      `disk full: ${what} cannot be written; nothing is acknowledged upstream until it is (retrying every ${this.retryMs} ms)`,
    );
  }

  /** A state write (`what`) went through: when nothing else waits, the episode is over. */
  ok(what: string): void {
    if (this.since === undefined) return;
    this.waiting.delete(what);
    if (this.waiting.size) return;
    this.log?.warn({ fullForMs: Date.now() - this.since, retries: this.retries }, 'disk space is back: the gateway state is written again and the stream resumes');
    this.since = undefined;
    this.warnedAt = -Infinity;
    this.retries = 0;
  }
}

/** Thrown by untilWritten() when the signal stopped it first: the write was not made. */
export class WriteAbandoned extends Error {
  override name = 'WriteAbandoned';
}

function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new WriteAbandoned('stopped'));
    const onAbort = () => {
      clearTimeout(t);
      reject(new WriteAbandoned('stopped'));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Make a state write, waiting out a full disk: tried again every `watch.retryMs`
 * for as long as the disk is full (other errors are thrown at once); throws
 * WriteAbandoned when `signal` stops it first. `also` says which other failures
 * are waited out the same way (a dead-letter node whose broker is away).
 */
export async function untilWritten<T>(
  write: () => T | Promise<T>,
  o: { watch: DiskFullWatch; what: string; signal?: AbortSignal; also?: (err: unknown) => boolean },
): Promise<T> {
  for (;;) {
    try {
      const r = await write();
      o.watch.ok(o.what);
      return r;
    } catch (e) {
      if (isStorageFull(e)) o.watch.failed(e, o.what);
      else if (!o.also?.(e)) throw e;
      await pause(o.watch.retryMs, o.signal);
    }
  }
}
