/**
 * Publish, then advance: the one step every gateway repeats per message.
 *
 *   deliver(message)        publish it on the other side; resolves once that side
 *                           acknowledged it as stored (pubsub iq result, Kafka acks=all,
 *                           VTP ack)
 *   advance()               only then move the cursor on the side it came from
 *                           (commit the Kafka offset, ack the VTP event, let the
 *                           follower's cursor move)
 *
 * A transient failure of `deliver` is retried with backoff for as long as it
 * takes (the other side restarting, the network gone); nothing is skipped. A
 * permanent one (the message itself is refused: `Refused`) sends the message to
 * the dead-letter sink with the reason and then advances, so one bad message
 * never blocks the stream and is never lost silently. Stopping (the signal)
 * abandons the message *without* advancing: it comes again after a restart, and
 * deterministic item ids make the repeat harmless.
 *
 * A full disk under the gateway's state (disk-full.ts) is waited out where it
 * strikes: a seen-store write in `deliver` before the publish retries `deliver`
 * (nothing was published), a dead letter that cannot be written is retried (the
 * message is not advanced past meanwhile), and so is `advance` (the marks made
 * once the other side acknowledged: never published twice). One error per
 * episode in the log, not one per message.
 */
import { backoffDelay, type BackoffOptions } from '../../../common/backoff.ts';
import { isTransient } from '../../../common/xmpp/iq-errors.ts';
import { isStorageFull } from '../../../common/storage-full.ts';
import type { DeadLetter, DeadLetterSink } from './dead-letter.ts';
import { DiskFullWatch, untilWritten, WriteAbandoned } from './disk-full.ts';

/** The message itself cannot be bridged (decode, validation, size, format). Goes to the dead letters. */
export class Refused extends Error {
  override name = 'Refused';
}

/** Thrown by relay() when the signal stopped it before the message was delivered. Nothing advanced. */
export class RelayStopped extends Error {
  override name = 'RelayStopped';
}

export type RelayOutcome = 'delivered' | 'dead-lettered' | 'skipped';

export type RelayStep = {
  /** Publish on the other side; resolve only when it is acknowledged. Throw Refused for a bad message. Return 'skipped' to advance without delivering (a loop or duplicate). */
  deliver: () => Promise<void | 'skipped'>;
  /** Move the cursor on the source side. */
  advance: () => Promise<void> | void;
  /** The dead letter for a Refused message (source, payload, headers; the reason is filled in). */
  letter: () => Omit<DeadLetter, 'reason'>;
};

export type RelayOptions = {
  deadLetters: DeadLetterSink;
  signal?: AbortSignal;
  backoff?: BackoffOptions;
  /** Whether a non-Refused error is permanent anyway (default: never; retry). */
  isPermanent?: (err: Error) => boolean;
  /** Told about each retry (logs, metrics); not about waits for disk space (the watch tells those once). */
  onRetry?: (err: Error, attempt: number, delayMs: number) => void;
  /** The gateway's full-disk watch (one log line per episode); default: a silent one. */
  disk?: DiskFullWatch;
};

const silentWatch = new DiskFullWatch();

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new RelayStopped('stopped'));
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(new RelayStopped('stopped'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Deliver one message, then advance (see above). Resolves with what happened; throws RelayStopped when stopped first. */
export async function relay(step: RelayStep, opts: RelayOptions): Promise<RelayOutcome> {
  const disk = opts.disk ?? silentWatch;
  const wait = <T>(write: () => T | Promise<T>, what: string, also?: (e: unknown) => boolean): Promise<T> =>
    untilWritten(write, { watch: disk, what, signal: opts.signal, also }).catch((e) => {
      throw e instanceof WriteAbandoned ? new RelayStopped('stopped while waiting for disk space') : e;
    });
  for (let attempt = 0; ; attempt++) {
    if (opts.signal?.aborted) throw new RelayStopped('stopped before delivery');
    let outcome: RelayOutcome;
    try {
      outcome = (await step.deliver()) === 'skipped' ? 'skipped' : 'delivered';
    } catch (e) {
      const err = e as Error;
      if (err instanceof Refused || opts.isPermanent?.(err)) {
        // A dead letter is state too: a full disk (or a dead-letter node's broker away) is waited out.
        await wait(() => opts.deadLetters.put({ ...step.letter(), reason: err.message }), 'a dead letter', isTransient);
        outcome = 'dead-lettered';
      } else if (isStorageFull(err)) {
        // The seen-store could not take the arrival mark: nothing was published yet; try it all again.
        disk.failed(err, 'the seen-store');
        attempt = -1;
        await sleep(disk.retryMs, opts.signal);
        continue;
      } else {
        const delay = backoffDelay(attempt, { initialMs: 200, maxMs: 10_000, ...opts.backoff });
        opts.onRetry?.(err, attempt, delay);
        await sleep(delay, opts.signal);
        continue;
      }
    }
    await wait(() => step.advance(), 'the seen-store');
    return outcome;
  }
}
