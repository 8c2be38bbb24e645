/**
 * VOXnet → VTP: follow the configured nodes (the agents' follower: live plus
 * catch-up, cursor in the agent state) and put each VOEvent in the spool, which
 * the broker role serves. The follower's cursor moves only after the handler
 * returns, and the handler returns only once the event is durably spooled:
 * a SIGKILL at any instant loses nothing and the spool's unique IVORN absorbs a
 * repeat. Events that came into VOXnet from elsewhere are not sent back out:
 * items published by this gateway's own account (or another gateway's, listed
 * in `gatewayJids`) by their item's publisher, the origin marker the broker
 * stamps on every item, which holds even before the inbound side has recorded
 * its publish; and anything the shared seen-store saw come in.
 */
import type { Agent, FollowedItem, Follower } from '../../lib/index.ts';
import type { Logger } from '../../lib/log.ts';
import { dedupeKey, loopVerdict, type SeenStore } from '../lib/index.ts';
import type { VtpBroker } from './broker.ts';
import type { Spool } from './spool.ts';

export type OutboundOptions = {
  agent: Agent;
  nodes: string[];
  since?: string;
  spool: Spool;
  broker: VtpBroker;
  seen: SeenStore;
  log: Logger;
  /** Bare JIDs of gateways whose items came from elsewhere (default: our own account). */
  gatewayJids?: string[];
  /** Told of each event put in the spool. */
  onSpooled?: (ivorn: string) => void;
};

export function spoolItem(item: FollowedItem, o: Pick<OutboundOptions, 'spool' | 'seen' | 'log' | 'gatewayJids'>): 'spooled' | 'skipped' {
  if (!item.ivorn || !item.xml) {
    o.log.info({ node: item.node, id: item.id }, 'item is not a VOEvent: not sent over VTP');
    return 'skipped';
  }
  const key = dedupeKey({ ivorn: item.ivorn })!;
  const publisher = item.publisher?.split('/')[0]?.toLowerCase();
  const verdict = loopVerdict(o.seen.get(key), 'out', { originMarkers: publisher ? [publisher] : [], ownOrigins: o.gatewayJids ?? [] });
  if (!verdict.bridge) {
    o.log.info({ node: item.node, ivorn: item.ivorn, why: verdict.reason }, 'not sent over VTP');
    return 'skipped';
  }
  o.spool.append(item.ivorn, item.node, item.xml);
  o.seen.mark(key, 'out', item.node);
  return 'spooled';
}

export async function followNodes(o: OutboundOptions): Promise<Follower[]> {
  const followers: Follower[] = [];
  const opts = { ...o, gatewayJids: [o.agent.bare, ...(o.gatewayJids ?? []).map((j) => j.toLowerCase())] };
  for (const node of o.nodes) {
    followers.push(
      await o.agent.follow(node, (item) => {
        if (spoolItem(item, opts) !== 'spooled') return;
        o.onSpooled?.(item.ivorn!);
        o.broker.notify();
      }, { since: o.since ?? 'latest' }),
    );
  }
  return followers;
}
