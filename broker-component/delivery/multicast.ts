/**
 * Fan-out through the server's XEP-0033 multicast service: one stanza carries a
 * notification and up to a batch of `bcc` addresses; the server copies it to each
 * recipient. Prosody must parse every stanza a component sends, so one stanza per
 * batch instead of one per subscriber is what lets a component outrun the server's
 * own pubsub. Batches stay under the server's stanza size limit for components.
 */
import { escapeXML } from '@xmpp/xml';
import { xml, type Element } from '@xmpp/xml';
import type { FanOut, Notification, Transport } from './notifier.ts';
import { NS } from '../../common/ns.ts';
import { domainOf } from '../../pubsub/jid.ts';
import type { DomainRoute } from './multicast-directory.ts';

const esc = escapeXML;

export type MulticastOptions = {
  from: string;
  /** JID of the multicast service. */
  service: string;
  messageType: string;
  transport: Transport;
  /** Largest stanza to send (bytes); Prosody's default limit for components is 512 KiB. */
  maxStanzaBytes?: number;
  /** Most addresses in one stanza (ejabberd's mod_multicast enforces its own limit). */
  maxAddresses?: number;
  /** Bytes of stanzas gathered per socket write. */
  batchBytes?: number;
  /** Without it every recipient goes through `service`. */
  byDomain?: {
    /**
     * The route of a recipient domain (see MulticastDirectory): its own service, the
     * default `service` (undefined), or per-subscriber stanzas through `direct` (null).
     */
    route: (domain: string) => DomainRoute;
    direct: FanOut;
    /** Most addresses per stanza a domain's service accepts (its learnt cap), when below maxAddresses. */
    capOf?: (service: string) => number | undefined;
    /** A service refused a batch after its probe (see MulticastDirectory.refused). */
    refused?: (service: string, condition: string) => void;
  };
};

/** Bytes of copies per multicast turn of the notifier (see MulticastFanOut.turnSize). */
const MULTICAST_TURN_BYTES = 2 * 1024 * 1024;

/** A batch written and not yet confirmed by a barrier answer of its service. */
type InFlight = { service: string; seq: number; n: Notification; recipients: string[]; at: number };

export class MulticastFanOut implements FanOut {
  private readonly maxStanza: number;
  private readonly maxAddresses: number;
  private readonly batchBytes: number;
  /** Batches by service and stanza id, until their service answers a barrier sent after them. */
  private readonly inflight = new Map<string, InFlight>();
  private seq = 0;

  constructor(private readonly o: MulticastOptions) {
    this.maxStanza = o.maxStanzaBytes ?? 480 * 1024;
    this.maxAddresses = o.maxAddresses ?? 5000;
    this.batchBytes = o.batchBytes ?? 1024 * 1024;
  }

  /** The recipients of a notification by the service that fans out to them (null: per-subscriber stanzas). */
  private byService(recipients: string[]): Map<string | null, string[]> {
    const out = new Map<string | null, string[]>();
    const byDomain = this.o.byDomain;
    if (!byDomain) return out.set(this.o.service, recipients);
    const ofDomain = new Map<string, string | null>();
    for (const jid of recipients) {
      const domain = domainOf(jid).toLowerCase();
      let service = ofDomain.get(domain);
      if (service === undefined) {
        const route = byDomain.route(domain);
        ofDomain.set(domain, (service = route === undefined ? this.o.service : route));
      }
      const list = out.get(service);
      if (list) list.push(jid);
      else out.set(service, [jid]);
    }
    return out;
  }

  /** The stanzas through the default service (every recipient). */
  stanzas(n: Notification): string[] {
    return this.batches(n, this.o.service, n.recipients).map((b) => b.stanza);
  }

  /**
   * One stanza per batch of recipients. Each batch has an id of its own (the
   * notification's, then `id.1`, `id.2`, ...), so that a refusal names the batch.
   */
  private batches(n: Notification, service: string, recipients: string[]): { stanza: string; id: string; recipients: string[] }[] {
    const max = Math.min(this.maxAddresses, this.o.byDomain?.capOf?.(service) ?? Infinity);
    const out: { stanza: string; id: string; recipients: string[] }[] = [];
    let id = n.id;
    let head = '';
    let fixed = 0;
    const tail = `</addresses>${n.inner}</message>`;
    const start = () => {
      if (out.length) id = `${n.id}.${out.length}`;
      head = `<message from="${esc(this.o.from)}" to="${esc(service)}" type="${this.o.messageType}" id="${id}"><addresses xmlns="${NS.ADDRESS}">`;
      fixed = Buffer.byteLength(head) + Buffer.byteLength(tail);
      if (fixed + 64 > this.maxStanza) throw new Error(`notification of ${fixed} bytes does not fit in a ${this.maxStanza}-byte stanza`);
    };
    start();
    let addrs = '';
    let size = fixed;
    let batch: string[] = [];
    for (const jid of recipients) {
      const a = `<address type="bcc" jid="${esc(jid)}"/>`;
      const len = Buffer.byteLength(a);
      if (batch.length > 0 && (size + len > this.maxStanza || batch.length >= max)) {
        out.push({ stanza: head + addrs + tail, id, recipients: batch });
        start();
        addrs = '';
        size = fixed;
        batch = [];
      }
      addrs += a;
      size += len;
      batch.push(jid);
    }
    if (batch.length > 0) out.push({ stanza: head + addrs + tail, id, recipients: batch });
    return out;
  }

  /**
   * A stanza from the server: when it is a service's refusal of one of our
   * batches, resend that batch's recipients per subscriber (in order: before the
   * barrier that confirms the batch is answered) and report the refusal.
   * Returns whether the stanza was such a refusal.
   */
  handleRefusal(st: Element): boolean {
    if (st.name !== 'message' || st.attrs.type !== 'error' || !st.attrs.id) return false;
    const key = `${st.attrs.from}\n${st.attrs.id}`;
    const f = this.inflight.get(key);
    if (!f) return false;
    this.inflight.delete(key);
    const condition = st.getChild('error')?.children.find((c): c is Element => typeof c !== 'string' && c.name !== 'text')?.name ?? 'error';
    this.o.byDomain?.refused?.(f.service, condition);
    const direct = this.o.byDomain?.direct;
    if (direct) void direct.deliver({ ...f.n, recipients: f.recipients });
    return true;
  }

  /** The current sequence number: batches written up to now have this one or lower. */
  mark(): number {
    return this.seq;
  }

  /** `service` answered a barrier sent when mark() was `upTo`: its batches up to there were accepted. */
  settled(service: string, upTo: number): void {
    const stale = Date.now() - 120_000; // batches whose barrier never came (link lost) are not kept for ever
    for (const [key, f] of this.inflight) if ((f.service === service && f.seq <= upTo) || f.at < stale) this.inflight.delete(key);
  }

  /**
   * A turn of the notifier: one multicast stanza, to at most as many recipients as
   * make about 2 MiB of copies (~400 of a 5 KB alert). The server's work is per copy:
   * a turn of 1,000 copies kept other nodes' stanzas waiting behind 5 MB of output
   * (the soak's heartbeats, with barriers timing out, when each copy cost Prosody
   * ~600 µs); turns of 512 KiB (~100 copies) made one alert to 10,000 subscribers
   * wait on 100 stanzas and their barriers (ejabberd, mod_voxnet_fanout: 251–286 ms
   * against 221 ms with 2 MiB turns; bench/fanout-results.md).
   */
  turnSize(n: Notification): number {
    return Math.max(1, Math.min(this.maxAddresses, Math.floor(MULTICAST_TURN_BYTES / (n.inner.length + 160))));
  }

  async deliver(n: Notification): Promise<string[]> {
    const groups = new Map<string, string[]>();
    let perSubscriber: string[] = [];
    // Batches are kept until confirmed only where a refusal can be acted on: per-domain services.
    const track = !!this.o.byDomain?.refused;
    for (const [service, recipients] of this.byService(n.recipients)) {
      if (service === null) perSubscriber = recipients;
      else {
        const bs = this.batches(n, service, recipients);
        if (track && service !== this.o.service) {
          const seq = ++this.seq;
          for (const b of bs) this.inflight.set(`${service}\n${b.id}`, { service, seq, n, recipients: b.recipients, at: Date.now() });
        }
        groups.set(service, bs.map((b) => b.stanza));
      }
    }
    // Interleave the services' batches so that every service starts working at once.
    const queues = [...groups.values()];
    let buf = '';
    for (let i = 0; queues.some((q) => i < q.length); i++) {
      for (const q of queues) {
        if (i >= q.length) continue;
        buf += q[i];
        if (buf.length >= this.batchBytes) {
          await this.o.transport.write(buf);
          buf = '';
        }
      }
    }
    if (buf) await this.o.transport.write(buf);
    const confirmers = [...groups.keys()];
    if (perSubscriber.length) confirmers.push(...(await this.o.byDomain!.direct.deliver({ ...n, recipients: perSubscriber })));
    return confirmers;
  }
}

/** Ask a server for an XEP-0033 service: its disco#items, then disco#info of each. */
export async function discoverMulticast(
  request: (el: Element) => Promise<Element>,
  from: string,
  serverDomain: string,
): Promise<string | undefined> {
  let n = 0;
  const iq = (to: string, ns: string) => xml('iq', { type: 'get', to, from, id: `mc-disco-${Date.now()}-${++n}` }, xml('query', { xmlns: ns }));
  const hasFeature = async (jid: string) => {
    const r = await request(iq(jid, NS.DISCO_INFO)).catch(() => undefined);
    return !!r && r.attrs.type === 'result' && !!r.getChild('query')?.getChildren('feature').some((f) => f.attrs.var === NS.ADDRESS);
  };
  if (await hasFeature(serverDomain)) return serverDomain;
  const items = await request(iq(serverDomain, NS.DISCO_ITEMS)).catch(() => undefined);
  const jids = items?.getChild('query')?.getChildren('item').map((i) => i.attrs.jid).filter((j): j is string => !!j && j !== from) ?? [];
  for (const jid of jids) if (await hasFeature(jid)) return jid;
  return undefined;
}
