/**
 * The bridge ledger: the loop and dedupe rules over a SeenStore, per place.
 * A "place" is where a message is read from or written to, as a URL-like
 * string: `kafka://host:port/topic`, `vtp://host:port`, `xmpp:service/node`.
 *
 *   inbound, from S to node N    refused if already bridged S→N-wise into N (duplicate),
 *                                if this side sent it to S (echo: our own message coming back),
 *                                or if it carries an origin marker naming one of ours
 *   outbound, to D               refused if already sent to D (duplicate),
 *                                or if it came in from D (sending back where it came from)
 *
 * So an event bridged out is never bridged back in, even with two gateways
 * pointing at each other, while an event from one network may still be relayed
 * to another (GCN → VOXnet → Hopskotch).
 *
 * Inbound, two marks: `noteArrival` *before* publishing (where it came from: the
 * outbound side may see the item's notification before the publish returns, and
 * must already know not to send it back), `markInbound` *after* the node
 * acknowledged (the dedupe mark: a crash before it repeats the publish, and the
 * deterministic item id lands it on the same item). Outbound: `markOutbound` after
 * the acknowledgement.
 */
import type { SeenStore } from './seen.ts';

export type BridgeVerdict = { bridge: true } | { bridge: false; reason: 'duplicate' | 'echo' | 'came-from-there' | 'own-origin-marker' };

export class BridgeLedger {
  /** `ownOrigins`: the origin markers this VOXnet side writes (its gateway ids). */
  constructor(readonly store: SeenStore, readonly ownOrigins: string[]) {}

  inbound(m: { key?: string; source: string; node: string; originMarkers?: string[] }): BridgeVerdict {
    if (m.originMarkers?.some((o) => this.ownOrigins.includes(o))) return { bridge: false, reason: 'own-origin-marker' };
    if (!m.key) return { bridge: true };
    if (this.store.has(`in|${m.node}|${m.key}`)) return { bridge: false, reason: 'duplicate' };
    if (this.store.has(`out|${m.source}|${m.key}`)) return { bridge: false, reason: 'echo' };
    return { bridge: true };
  }

  /** Before publishing: the message came from `source` (so it is never sent back there). */
  noteArrival(m: { key?: string; source: string }): void {
    if (m.key) this.store.mark(`from|${m.source}|${m.key}`, 'in', m.source);
  }

  /** After the node acknowledged: bridged into `node` (a second arrival is a duplicate). Notes the arrival too. */
  markInbound(m: { key?: string; source: string; node: string }): void {
    if (!m.key) return;
    this.store.mark(`in|${m.node}|${m.key}`, 'in', m.source);
    this.noteArrival(m);
  }

  outbound(m: { key?: string; dest: string }): BridgeVerdict {
    if (!m.key) return { bridge: true };
    if (this.store.has(`out|${m.dest}|${m.key}`)) return { bridge: false, reason: 'duplicate' };
    if (this.store.has(`from|${m.dest}|${m.key}`)) return { bridge: false, reason: 'came-from-there' };
    return { bridge: true };
  }

  markOutbound(m: { key?: string; dest: string; gateway: string }): void {
    if (m.key) this.store.mark(`out|${m.dest}|${m.key}`, 'out', m.gateway);
  }
}
