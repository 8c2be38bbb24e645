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
  };
};

export class MulticastFanOut implements FanOut {
  private readonly maxStanza: number;
  private readonly maxAddresses: number;
  private readonly batchBytes: number;

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
    return this.batches(n, this.o.service, n.recipients);
  }

  private batches(n: Notification, service: string, recipients: string[]): string[] {
    const head = `<message from="${esc(this.o.from)}" to="${esc(service)}" type="${this.o.messageType}" id="${n.id}"><addresses xmlns="${NS.ADDRESS}">`;
    const tail = `</addresses>${n.inner}</message>`;
    const fixed = Buffer.byteLength(head) + Buffer.byteLength(tail);
    if (fixed + 64 > this.maxStanza) throw new Error(`notification of ${fixed} bytes does not fit in a ${this.maxStanza}-byte stanza`);
    const out: string[] = [];
    let addrs = '';
    let size = fixed;
    let count = 0;
    for (const jid of recipients) {
      const a = `<address type="bcc" jid="${esc(jid)}"/>`;
      const len = Buffer.byteLength(a);
      if (count > 0 && (size + len > this.maxStanza || count >= this.maxAddresses)) {
        out.push(head + addrs + tail);
        addrs = '';
        size = fixed;
        count = 0;
      }
      addrs += a;
      size += len;
      count++;
    }
    if (count > 0) out.push(head + addrs + tail);
    return out;
  }

  async deliver(n: Notification): Promise<string[]> {
    const groups = new Map<string, string[]>();
    let perSubscriber: string[] = [];
    for (const [service, recipients] of this.byService(n.recipients)) {
      if (service === null) perSubscriber = recipients;
      else groups.set(service, this.batches(n, service, recipients));
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
