/**
 * VTP → VOXnet: one received event becomes one item. Route it (routes.ts),
 * refuse echoes and duplicates (the gateways' BridgeLedger, the VOEvent network
 * being one place), validate it (our VOEvent validator), publish it with the
 * IVORN's item id (skipping an item the node already holds, so a repeat after a
 * crash makes no second notification), remember it, and only then let the
 * subscriber ack. Invalid events, and events the node refuses, go to the dead
 * letters with the reason; a node or server that is away is waited for (backoff).
 */
import { InvalidVOEventError, XmppIqError, prepareVOEvent, publishVOEvent, type Agent, type Logger } from '../../lib/index.ts';
import { DiskFullWatch, Refused, bridgedItemId, dedupeKey, relay, untilWritten, type BridgeLedger, type DeadLetterSink } from '../lib/index.ts';
import { isTransient } from '../../../common/xmpp/iq-errors.ts';
import type { BadFrame } from './connection.ts';
import type { EventMessage } from './messages.ts';
import { routeEvent, type Route } from './routes.ts';
import type { EventVerdict } from './subscriber.ts';

export type InboundOptions = {
  agent: Agent;
  routes: Route[];
  ledger: BridgeLedger;
  /** Where it came from as a place of the loop rules: the VOEvent network (the broker role sends to the same place), or an author. */
  network: string;
  deadLetters: DeadLetterSink;
  /** `vtp://host:port`: the broker it came from, in logs and dead letters. */
  source: string;
  signal?: AbortSignal;
  log: Logger;
  /** The gateway's full-disk watch: a seen-store or dead-letter write on a full disk waits, and the event is not acked meanwhile. */
  disk?: DiskFullWatch;
};

export type InboundOutcome = { outcome: 'delivered'; node: string; id: string } | { outcome: 'skipped'; why: string } | { outcome: 'dead-lettered'; reason: string };

/** Bridge one event; resolves with what happened (throws the relay's RelayStopped when stopped before delivering). */
export async function bridgeIn(ev: EventMessage, o: InboundOptions): Promise<InboundOutcome> {
  let result: InboundOutcome | undefined;
  let refusal = '';
  const key = dedupeKey({ ivorn: ev.ivorn })!;
  let node: string | undefined;
  const outcome = await relay(
    {
      deliver: async () => {
        node = routeEvent(o.routes, ev.ivorn, ev.role);
        if (!node) {
          result = { outcome: 'skipped', why: 'no route' };
          return 'skipped';
        }
        const verdict = o.ledger.inbound({ key, source: o.network, node });
        if (!verdict.bridge) {
          result = { outcome: 'skipped', why: verdict.reason };
          return 'skipped';
        }
        let prepared;
        try {
          prepared = prepareVOEvent(ev.bytes, ev.ivorn);
        } catch (e) {
          if (e instanceof InvalidVOEventError) {
            refusal = `invalid VOEvent: ${e.issues.map((i) => `${i.line}:${i.column}: ${i.path ? i.path + ': ' : ''}${i.message}`).slice(0, 5).join('; ')}`;
            throw new Refused(refusal);
          }
          throw e;
        }
        // Where it came from, before publishing: the broker role may see the item before the publish returns.
        o.ledger.noteArrival({ key, source: o.network });
        const id = bridgedItemId({ ivorn: prepared.ivorn });
        let r;
        try {
          r = await publishVOEvent(o.agent, node, prepared, { id, skipIfPresent: true });
        } catch (e) {
          // The node refusing it (forbidden, not-acceptable, ...) will not change by retrying: dead letter.
          if (e instanceof XmppIqError && !e.transient) {
            refusal = `the node ${node} refused it: ${e.message}`;
            throw new Refused(refusal);
          }
          throw e;
        }
        result = { outcome: 'delivered', node, id };
        if (r.alreadyPresent) o.log.info({ ivorn: ev.ivorn, node, id }, 'event already on the node (a repeat after a restart): not published again');
      },
      advance: () => {
        // Remembered once on the node: a repeat is acked at once, never bridged twice.
        if (node && result?.outcome === 'delivered') o.ledger.markInbound({ key, source: o.network, node });
      },
      letter: () => ({ source: o.source, payload: ev.bytes, headers: { ivorn: ev.ivorn, role: ev.role } }),
    },
    {
      deadLetters: o.deadLetters,
      signal: o.signal,
      disk: o.disk,
      onRetry: (err, attempt, delayMs) => o.log.warn({ ivorn: ev.ivorn, err: err.message, attempt, delayMs }, 'publish failed; retrying'),
    },
  );
  if (outcome === 'dead-lettered') return { outcome, reason: refusal };
  return result!;
}

/** The subscriber's verdict for an outcome: refused only when it went to the dead letters. */
export function verdictOf(r: InboundOutcome): EventVerdict {
  return r.outcome === 'dead-lettered' ? { accepted: false, reason: r.reason } : { accepted: true };
}

/** A frame that is not a message: kept in the dead letters with the reason (a full disk is waited out; no reply meanwhile). */
export async function deadLetterFrame(bad: BadFrame, o: Pick<InboundOptions, 'deadLetters' | 'source' | 'disk' | 'signal' | 'log'>): Promise<void> {
  const letter = {
    source: o.source,
    reason: bad.reason,
    payload: bad.bytes,
    headers: { ...(bad.ivorn ? { ivorn: bad.ivorn } : {}), ...(bad.oversized ? { truncated: 'first 4096 bytes of an oversized frame' } : {}) },
  };
  await untilWritten(() => o.deadLetters.put(letter), { watch: o.disk ?? new DiskFullWatch(o.log), what: 'a dead letter', signal: o.signal, also: isTransient });
}
