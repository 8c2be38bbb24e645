/**
 * The Kafka gateway's inbound pipeline: messages → pubsub items with several
 * publish requests in flight, offsets committed for what the broker acknowledged.
 *
 * Each message, in partition order, is first judged (`judge`: loop and dedupe
 * rules, decoding): skipped, refused (`Refused`: dead letter) or to be published.
 * Messages to publish queue up; while fewer than `window` publish requests are in
 * flight the queue goes out at once, consecutive messages for one node together in
 * one request (at most `maxItems` items and about `maxBytes`): alone when traffic
 * is light (nothing waits for company), grouped when it is heavy (the VOXnet broker
 * stores a request's items in one transaction, one disk sync). A request is retried
 * until the broker acknowledges it; one the broker refuses is sent again one
 * message at a time, so that only the offending message goes to the dead letters.
 *
 * Offsets: per partition, the offset after the longest prefix of messages that are
 * acknowledged, skipped or dead-lettered is committed, one commit in flight at a
 * time (progress made meanwhile goes in the next). Nothing is committed for a
 * message before its publish was acknowledged; a crash redelivers what follows the
 * committed offset, and deterministic item ids land the repeats on the same items.
 */
import { backoffDelay } from '../../../common/backoff.ts';
import type { Logger } from '../../lib/log.ts';
import { Refused, RelayStopped, WriteAbandoned } from '../lib/index.ts';

export type InboundMessage = { topic: string; partition: number; offset: string };

/** What to do with a message: publish it (item id, payload, seen-store keys) or skip it (loop, duplicate). */
export type Judgement<M> =
  | { kind: 'skip'; reason: string }
  | { kind: 'publish'; node: string; id: string; xml: string; keys: string[]; msg: M };

export type InboundPipelineOptions<M extends InboundMessage> = {
  /** Judge a message (throw Refused for one that cannot be bridged). */
  judge(msg: M): Judgement<M>;
  /** Called after judging, in message order (events, logs). */
  onSkipped?(msg: M, reason: string): void;
  /** Publish items to a node in one request; resolves once the broker stored them. */
  publish(node: string, items: { id: string; xml: string }[]): Promise<unknown>;
  /**
   * Before a request is sent (the seen-store notes the arrivals), after it was acknowledged
   * (the dedupe marks). A failing `afterPublish` is tried again (never the publish: the items
   * are stored) until it succeeds; the messages count as done only then. Either may wait (a
   * full disk) and throw WriteAbandoned or RelayStopped when stopped meanwhile.
   */
  beforePublish(batch: Judgement<M>[]): void | Promise<void>;
  afterPublish(batch: Judgement<M>[]): void | Promise<void>;
  /** Store a dead letter durably. */
  deadLetter(msg: M, reason: string): Promise<void>;
  /** Commit `offset` (the next to read) per partition. */
  commit(offsets: { topic: string; partition: number; offset: string }[]): Promise<void>;
  /** Whether a publish error is about the items (refused for good) rather than the way there. */
  isPermanent(err: Error): boolean;
  signal: AbortSignal;
  log: Logger;
  /** Publish requests in flight (default 8). */
  window?: number;
  /** Items per request (default 64) and their payload bytes (default 192 KiB; a larger message goes alone). */
  maxItems?: number;
  maxBytes?: number;
  /** Messages judged but not yet acknowledged before `add` waits (default 4096). */
  maxPending?: number;
};

type Publishing<M> = Extract<Judgement<M>, { kind: 'publish' }>;
type Entry = { offset: bigint; done: boolean };
type PartitionTrack = { topic: string; partition: number; entries: Entry[]; head: number; acked?: bigint; committed?: bigint };

/** A wait abandoned because the gateway stops: nothing more is tried. */
function stopping(e: unknown): boolean {
  return e instanceof RelayStopped || e instanceof WriteAbandoned;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new RelayStopped('stopped'));
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(new RelayStopped('stopped'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

export class InboundPipeline<M extends InboundMessage> {
  private readonly queue: { j: Publishing<M>; entry: Entry; track: PartitionTrack }[] = [];
  private readonly tracks = new Map<string, PartitionTrack>();
  private readonly window: number;
  private readonly maxItems: number;
  private readonly maxBytes: number;
  private readonly maxPending: number;
  private inFlight = 0;
  private pending = 0;
  private pumpScheduled = false;
  private committing?: Promise<void>;
  private commitAgain = false;
  private progress?: { promise: Promise<void>; resolve: () => void };
  /** Keys of messages queued or in flight: a repeat of one of them is a duplicate (it is published once). */
  private readonly keysInFlight = new Map<string, number>();

  constructor(private readonly o: InboundPipelineOptions<M>) {
    this.window = Math.max(1, o.window ?? 8);
    this.maxItems = Math.max(1, o.maxItems ?? 64);
    this.maxBytes = o.maxBytes ?? 192 * 1024;
    this.maxPending = o.maxPending ?? 4096;
  }

  /** Messages judged and not yet acknowledged, skipped or dead-lettered. */
  get unfinished(): number {
    return this.pending;
  }

  /** Take a message (in partition order). Waits while too many are unfinished (`heartbeat` meanwhile). */
  async add(msg: M, heartbeat: () => Promise<void>): Promise<void> {
    while (this.pending >= this.maxPending) {
      if (this.o.signal.aborted) throw new RelayStopped('stopped');
      await Promise.race([this.nextProgress(), sleep(1000, this.o.signal)]);
      await heartbeat();
    }
    const key = `${msg.topic}\0${msg.partition}`;
    let track = this.tracks.get(key);
    if (!track) this.tracks.set(key, (track = { topic: msg.topic, partition: msg.partition, entries: [], head: 0 }));
    const entry: Entry = { offset: BigInt(msg.offset), done: false };
    track.entries.push(entry);
    this.pending++;
    let j: Judgement<M>;
    try {
      j = this.o.judge(msg);
      if (j.kind === 'publish' && j.keys.some((k) => this.keysInFlight.has(k))) j = { kind: 'skip', reason: 'duplicate' };
    } catch (e) {
      if (!(e instanceof Refused)) throw e;
      void this.letter(msg, e.message).then(() => this.finish(track, entry), (err) => this.stoppedOr(err));
      return;
    }
    if (j.kind === 'skip') {
      this.o.onSkipped?.(msg, j.reason);
      this.finish(track, entry);
      return;
    }
    for (const k of j.keys) this.keysInFlight.set(k, (this.keysInFlight.get(k) ?? 0) + 1);
    this.queue.push({ j, entry, track });
    if (!this.pumpScheduled) {
      this.pumpScheduled = true;
      queueMicrotask(() => {
        this.pumpScheduled = false;
        this.pump();
      });
    }
  }

  /** Commit what is acknowledged now (stopping); resolves when done. */
  async flush(): Promise<void> {
    while (this.committing) await this.committing;
    await this.commitNow();
  }

  private nextProgress(): Promise<void> {
    if (!this.progress) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.progress = { promise, resolve };
    }
    return this.progress.promise;
  }

  private stoppedOr(err: unknown): void {
    if (err instanceof RelayStopped) return;
    this.o.log.error({ err: (err as Error).stack ?? String(err) }, 'inbound pipeline failed');
  }

  private pump(): void {
    while (this.inFlight < this.window && this.queue.length && !this.o.signal.aborted) {
      const first = this.queue[0]!;
      const group = [first];
      const ids = new Set([first.j.id]);
      let bytes = first.j.xml.length;
      this.queue.shift();
      while (group.length < this.maxItems && this.queue.length) {
        const next = this.queue[0]!;
        if (next.j.node !== first.j.node || ids.has(next.j.id) || bytes + next.j.xml.length > this.maxBytes) break;
        group.push(this.queue.shift()!);
        ids.add(next.j.id);
        bytes += next.j.xml.length;
      }
      this.inFlight++;
      void this.send(group.map((g) => g.j))
        .then(() => {
          for (const g of group) this.finish(g.track, g.entry);
        }, (err) => this.stoppedOr(err))
        .finally(() => {
          for (const g of group) for (const k of g.j.keys) {
            const n = (this.keysInFlight.get(k) ?? 1) - 1;
            if (n) this.keysInFlight.set(k, n);
            else this.keysInFlight.delete(k);
          }
          this.inFlight--;
          this.pump();
        });
    }
  }

  /** Publish a group until acknowledged; a refused group goes again one by one, a refused single to the dead letters. */
  private async send(batch: Publishing<M>[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      if (this.o.signal.aborted) throw new RelayStopped('stopped before delivery');
      try {
        await this.o.beforePublish(batch);
        await this.o.publish(batch[0]!.node, batch.map((j) => ({ id: j.id, xml: j.xml })));
      } catch (e) {
        if (stopping(e)) throw new RelayStopped('stopped before delivery');
        const err = e as Error;
        if (this.o.isPermanent(err)) {
          if (batch.length > 1) {
            for (const j of batch) await this.send([j]);
            return;
          }
          await this.letter(batch[0]!.msg, err.message);
          return;
        }
        const delay = backoffDelay(attempt, { initialMs: 200, maxMs: 10_000 });
        this.o.log.warn({ node: batch[0]!.node, items: batch.length, err: err.message, attempt, delay }, 'publish failed, retrying');
        await sleep(delay, this.o.signal);
        continue;
      }
      // Stored: now the dedupe marks, tried again on their own (e.g. a full disk) without publishing again.
      for (let marks = 0; ; marks++) {
        try {
          await this.o.afterPublish(batch);
          return;
        } catch (e) {
          if (stopping(e)) throw new RelayStopped('stopped before the marks were written');
          const delay = backoffDelay(marks, { initialMs: 200, maxMs: 10_000 });
          this.o.log.warn({ node: batch[0]!.node, items: batch.length, err: (e as Error).message, delay }, 'writing the seen-store failed, retrying');
          await sleep(delay, this.o.signal);
        }
      }
    }
  }

  /** A dead letter, retried until stored (a dead-letter node may be away like any other). */
  private async letter(msg: M, reason: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      if (this.o.signal.aborted) throw new RelayStopped('stopped before the dead letter was stored');
      try {
        await this.o.deadLetter(msg, reason);
        return;
      } catch (e) {
        if (stopping(e)) throw new RelayStopped('stopped before the dead letter was stored');
        const delay = backoffDelay(attempt, { initialMs: 200, maxMs: 10_000 });
        this.o.log.warn({ topic: msg.topic, offset: msg.offset, err: (e as Error).message, delay }, 'storing a dead letter failed, retrying');
        await sleep(delay, this.o.signal);
      }
    }
  }

  private finish(track: PartitionTrack, entry: Entry): void {
    entry.done = true;
    this.pending--;
    let moved = false;
    while (track.head < track.entries.length && track.entries[track.head]!.done) {
      // Never backwards (a message redelivered after a rebalance comes after later ones).
      const off = track.entries[track.head]!.offset;
      if (track.acked === undefined || off > track.acked) track.acked = off;
      track.head++;
      moved = true;
    }
    if (track.head > 1024) {
      track.entries.splice(0, track.head);
      track.head = 0;
    }
    const p = this.progress;
    this.progress = undefined;
    p?.resolve();
    if (moved) void this.commitSoon();
  }

  private async commitSoon(): Promise<void> {
    if (this.committing) {
      this.commitAgain = true;
      return;
    }
    do {
      this.commitAgain = false;
      this.committing = this.commitNow();
      await this.committing;
      this.committing = undefined;
    } while (this.commitAgain && !this.o.signal.aborted);
  }

  private async commitNow(): Promise<void> {
    const offsets: { topic: string; partition: number; offset: string }[] = [];
    const marks: [PartitionTrack, bigint][] = [];
    for (const t of this.tracks.values()) {
      if (t.acked === undefined || t.acked === t.committed) continue;
      offsets.push({ topic: t.topic, partition: t.partition, offset: (t.acked + 1n).toString() });
      marks.push([t, t.acked]);
    }
    if (!offsets.length) return;
    try {
      await this.o.commit(offsets);
      for (const [t, at] of marks) if (t.committed === undefined || at > t.committed) t.committed = at;
    } catch (e) {
      // Not committed: tried again in a while (a crash meanwhile only repeats messages).
      this.o.log.warn({ err: (e as Error).message }, 'committing offsets failed; trying again');
      if (!this.o.signal.aborted) setTimeout(() => void this.commitSoon(), 1000).unref();
    }
  }
}
