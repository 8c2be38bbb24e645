/**
 * VOXnet → VTP: follow the configured nodes (the agents' follower: live plus
 * catch-up, cursor in the agent state) and put each VOEvent in the spool, which
 * the broker role serves. The follower's cursor moves only after the handler
 * returns, and the handler returns only once the event is durably spooled:
 * a SIGKILL at any instant loses nothing and the spool's unique IVORN absorbs a
 * repeat. The bytes sent are the item in the form every network expects
 * (`conventionalVOEventXml`: declaration, `<voe:VOEvent>`).
 *
 * Loops: nothing that came from the VOEvent network goes back to it (the
 * BridgeLedger's came-from-there, noted by the inbound side before it publishes,
 * so it holds even when the item's notification beats the publish result); what
 * came from elsewhere (GCN over Kafka, an author through the receiver role) is
 * sent.
 *
 * A full disk under the spool or the seen-store holds the follower on the item
 * in hand (its cursor does not move) until the event is spooled and marked: the
 * write is tried again every second (disk-full.ts), and the follower goes on by
 * itself once space returns.
 */
import type { Agent, FollowedItem, Follower, Logger } from '../../lib/index.ts';
import { DiskFullWatch, conventionalVOEventXml, dedupeKey, untilWritten, type BridgeLedger } from '../lib/index.ts';
import type { VtpBroker } from './broker.ts';
import { COMET_MAX_FRAME } from './framing.ts';
import type { Spool } from './spool.ts';

export type OutboundOptions = {
  agent: Agent;
  nodes: string[];
  since?: string;
  spool: Spool;
  broker: VtpBroker;
  ledger: BridgeLedger;
  /** The VOEvent network as a place of the loop rules (the subscriber role reads from the same place). */
  network: string;
  /** Marked as the sender in the ledger: our IVO. */
  gateway: string;
  log: Logger;
  /** Larger events are not sent (default 99,999 bytes: Comet drops a connection that sends more). */
  maxEventBytes?: number;
  /** Told of each event put in the spool. */
  onSpooled?: (ivorn: string) => void;
  /** The gateway's full-disk watch (default: one logging to `log`). */
  disk?: DiskFullWatch;
};

/** Spool one followed item (resolves once it is durably spooled and marked), or skip it. */
export async function spoolItem(item: FollowedItem, o: Pick<OutboundOptions, 'spool' | 'ledger' | 'network' | 'gateway' | 'log' | 'maxEventBytes' | 'disk'>): Promise<'spooled' | 'skipped'> {
  const xml = item.payload ? conventionalVOEventXml(item.payload) : undefined;
  if (!item.ivorn || !xml) {
    o.log.info({ node: item.node, id: item.id }, 'item is not a VOEvent: not sent over VTP');
    return 'skipped';
  }
  const bytes = Buffer.byteLength(xml);
  if (bytes > (o.maxEventBytes ?? COMET_MAX_FRAME)) {
    o.log.warn({ node: item.node, ivorn: item.ivorn, bytes, limit: o.maxEventBytes ?? COMET_MAX_FRAME }, 'event too large for VTP subscribers: not sent');
    return 'skipped';
  }
  const key = dedupeKey({ ivorn: item.ivorn })!;
  const verdict = o.ledger.outbound({ key, dest: o.network });
  if (!verdict.bridge) {
    o.log.info({ node: item.node, ivorn: item.ivorn, why: verdict.reason }, 'not sent over VTP');
    return 'skipped';
  }
  // Both or, after a crash in between, the append again (a no-op: the IVORN is unique) and the mark.
  await untilWritten(() => {
    o.spool.append(item.ivorn!, item.node, xml);
    o.ledger.markOutbound({ key, dest: o.network, gateway: o.gateway });
  }, { watch: o.disk ?? new DiskFullWatch(o.log), what: 'the VTP spool' });
  return 'spooled';
}

export async function followNodes(o: OutboundOptions): Promise<Follower[]> {
  const followers: Follower[] = [];
  const disk = o.disk ?? new DiskFullWatch(o.log);
  for (const node of o.nodes) {
    followers.push(
      await o.agent.follow(node, async (item) => {
        if ((await spoolItem(item, { ...o, disk })) !== 'spooled') return;
        o.onSpooled?.(item.ivorn!);
        o.broker.notify();
      }, { since: o.since ?? 'latest' }),
    );
  }
  return followers;
}
