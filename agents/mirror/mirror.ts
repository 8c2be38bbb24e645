/**
 * Broker mirroring (SvomNet's "brokers in charge of distribution"): an agent
 * of one side follows chosen nodes of the peer side's broker over s2s and
 * republishes each item on a node of its own broker, with the same item id.
 *
 * - Catch-up: the Follower (agents/lib/follow.ts) keeps a cursor per origin node
 *   in the agent's state and fetches what came after it (XEP-0059 `after`) on
 *   start, on every reconnection and every resync period: after a partition the
 *   mirror republishes exactly what it missed. Republishing an id the local node
 *   already holds overwrites it with the same payload, so a repeat is harmless.
 * - No loops: the mirror's own JID, as the publisher of every item it writes,
 *   is the origin marker. An item whose publisher is a mirror (`mirrors`, the
 *   mirror agents of every side, this one included) is never mirrored again, so
 *   two sides mirroring each other's nodes (even by mistake, both ways) cannot
 *   bounce an item back and forth.
 * - Local policy: the mirror publishes like any publisher of its own broker; when
 *   the local node is a policy product's source node, the local policy derives
 *   (redacts, embargoes) the local levels from it. What the mirror may read on
 *   the origin side is the origin policy's decision (its account's level there).
 */
import { connectAgent, type Agent, type AgentOptions } from '../lib/connect.ts';
import type { Follower, FollowedItem } from '../lib/follow.ts';
import type { Logger } from '../lib/log.ts';

export type MirrorNode = { /** Node on the origin (peer) service. */ from: string; /** Node on the local service. */ to: string };

export type MirrorOptions = {
  /** The mirror's account (on its own server) and its state directory. */
  connection: Omit<AgentOptions, 'service' | 'name'>;
  /** The peer side's pubsub service (e.g. pubsub.svom.fr). */
  origin: string;
  /** This side's pubsub service (e.g. pubsub.svom.cn). */
  local: string;
  nodes: MirrorNode[];
  /** Bare JIDs of mirror agents (every side's): their items are copies and are never mirrored. Default: this mirror's own. */
  mirrors?: string[];
  /** Where to start on an origin node the state knows nothing of (default 'beginning'). */
  since?: string;
  log?: Logger;
};

export type Mirror = {
  /** Items republished so far, by local node. */
  copied: Map<string, number>;
  /** Items skipped because a mirror published them (loop guard). */
  skipped: number;
  origin: Agent;
  local: Agent;
  stop(): Promise<void>;
};

function bare(jid: string | undefined): string {
  return (jid ?? '').split('/')[0]!.toLowerCase();
}

export async function startMirror(o: MirrorOptions): Promise<Mirror> {
  const me = bare(o.connection.jid);
  const mirrors = new Set([me, ...(o.mirrors ?? []).map(bare)]);
  // One connection per service: the follower reads from the origin, the publisher writes locally.
  const origin = await connectAgent({ ...o.connection, service: o.origin, name: 'mirror', resource: o.connection.resource ?? 'mirror-origin', log: o.log });
  let local: Agent;
  try {
    local = await connectAgent({ ...o.connection, service: o.local, name: 'mirror-local', resource: 'mirror-local', stateDir: undefined, state: undefined, log: o.log });
  } catch (e) {
    await origin.stop();
    throw e;
  }
  const copied = new Map<string, number>();
  const m: Mirror = {
    copied,
    skipped: 0,
    origin,
    local,
    async stop() {
      await Promise.all(followers.map((f) => f.stop()));
      await Promise.all([origin.stop(), local.stop()]);
    },
  };
  const followers: Follower[] = [];
  try {
    for (const { from, to } of o.nodes) {
      const handle = async (item: FollowedItem) => {
        if (mirrors.has(bare(item.publisher))) {
          m.skipped++;
          origin.log.debug({ node: from, id: item.id, publisher: item.publisher }, 'not mirrored: a copy made by a mirror');
          return;
        }
        if (!item.payload) return;
        // The handler's promise holds the cursor: an item is counted as mirrored once stored locally.
        await local.publish(to, item.payload, { id: item.id });
        copied.set(to, (copied.get(to) ?? 0) + 1);
      };
      followers.push(await origin.follow(from, handle, { since: o.since ?? 'beginning' }));
    }
  } catch (e) {
    await m.stop();
    throw e;
  }
  return m;
}
