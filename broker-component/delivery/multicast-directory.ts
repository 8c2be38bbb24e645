/**
 * Which XEP-0033 service fans out to the recipients of a given domain.
 *
 * XEP-0033's own model is that each server's multicast service delivers to its
 * users. ejabberd runs one mod_multicast per virtual host, each a single Erlang
 * process: handing each domain's recipients to that domain's service spreads the
 * fan-out over several processes (and cores) instead of one. Recipients of a
 * domain without a service of its own (Prosody's components are not listed under
 * other hosts) go through the default service found on the broker's own server.
 *
 * A service is used only once it has proved it accepts our stanzas: a probe (a
 * multicast with no payload, addressed to the domain itself) followed by a
 * barrier IQ; a refusal (e.g. forbidden, relaying denied) comes back as an error
 * before the barrier's answer, since servers handle our stanzas in order.
 *
 * A domain whose own service refuses us gets per-subscriber stanzas, not the
 * default service: XEP-0033 services relay a foreign domain's recipients to that
 * domain's own service (ejabberd's mod_multicast does, once it has discovered
 * it), which refuses them again, and the refusal goes to us as an error — the
 * notifications would be lost. For the same reason an unresolved domain gets
 * per-subscriber stanzas until its lookup ends.
 *
 * Address caps: a service may refuse stanzas with more addresses than it allows
 * (ejabberd's mod_multicast: 20 from senders of other servers by default, with
 * <not-acceptable/>). The probe therefore carries as many addresses as our
 * largest batch; a service that refuses it for their number is probed again
 * with fewer (a binary search) and its cap is kept (capOf), unless its disco#info
 * announces the cap (XEP-0128 fields `message` in the address form, as ejabberd
 * does for configured limits).
 *
 * A service can also begin to refuse after its probe (its configuration was
 * reloaded). Its refusal of a batch arrives before the answer to the barrier
 * that follows the batch: the fan-out resends those recipients per subscriber
 * and calls refused(), which sends the service's domains per subscriber and, for
 * a cap (not-acceptable), probes again at once to learn the new cap.
 */
import { xml, type Element } from '@xmpp/xml';
import { discoverMulticast } from './multicast.ts';
import { NS } from '../../common/ns.ts';

export type DirectoryOptions = {
  /** Our component JID (the 'from' of every request). */
  from: string;
  /** Send an IQ, resolve with its answer. */
  request: (el: Element, timeoutMs: number) => Promise<Element>;
  /** Send a stanza without waiting. */
  send: (el: Element) => void;
  /** Resolves once `jid` answered an IQ sent after everything sent so far (the notifier's barrier). */
  barrier: (jid: string) => Promise<void>;
  /** Subscribe to incoming stanzas (error bounces of probes); returns an unsubscribe function. */
  watch: (fn: (st: Element) => void) => () => void;
  /** How long a resolution (positive or negative) is trusted. */
  ttlMs?: number;
  /** Answer wait for each disco step. */
  timeoutMs?: number;
  onResolved?: (domain: string, route: DomainRoute, why?: string) => void;
  /** Addresses in a probe: the largest batch the fan-out sends (default 1000). */
  probeAddresses?: number;
};

/**
 * How a domain's recipients are reached: through this service (a JID), through
 * the default service (undefined: the domain has no service of its own), or by
 * per-subscriber stanzas (null: its service refuses us, or it is not resolved yet).
 */
export type DomainRoute = string | undefined | null;

type Entry = { route: DomainRoute; until: number } | { pending: Promise<void> };

let probeSeq = 0;

export class MulticastDirectory {
  private readonly entries = new Map<string, Entry>();
  /** Most addresses per stanza a service accepts from us, when fewer than probeAddresses. */
  private readonly caps = new Map<string, number>();
  private readonly ttl: number;
  private readonly timeout: number;
  private readonly probeAddresses: number;

  constructor(private readonly o: DirectoryOptions) {
    this.ttl = o.ttlMs ?? 3_600_000;
    this.timeout = o.timeoutMs ?? 5000;
    this.probeAddresses = Math.max(1, o.probeAddresses ?? 1000);
  }

  /** The most addresses per stanza `service` accepts from us (undefined: at least probeAddresses). */
  capOf(service: string): number | undefined {
    return this.caps.get(service);
  }

  /**
   * `service` refused a batch it had accepted at its probe: its domains get
   * per-subscriber stanzas from now on. A refusal for the number of addresses
   * (not-acceptable) starts a new probe at once, which learns the new cap.
   */
  refused(service: string, condition: string): void {
    for (const [domain, e] of this.entries) {
      if (!('route' in e) || e.route !== service) continue;
      this.entries.set(domain, { route: null, until: Date.now() + this.ttl });
      this.o.onResolved?.(domain, null, `${service} refused a batch after its probe: ${condition}`);
      if (condition === 'not-acceptable') void this.lookup(domain);
    }
  }

  /**
   * The route of this domain's recipients (see DomainRoute). Never waits: an
   * unknown or expired domain is looked up in the background, meanwhile an unknown
   * one gets per-subscriber stanzas and an expired one keeps its route.
   */
  serviceFor(domain: string): DomainRoute {
    const e = this.entries.get(domain);
    if (e && 'route' in e) {
      if (e.until <= Date.now()) this.lookup(domain);
      return e.route;
    }
    if (!e) this.lookup(domain);
    return null;
  }

  /** Resolve a domain now (and wait for it). */
  async resolve(domain: string): Promise<DomainRoute> {
    const e = this.entries.get(domain);
    if (e && 'pending' in e) await e.pending;
    else if (!e || e.until <= Date.now()) await this.lookup(domain);
    const r = this.entries.get(domain);
    return r && 'route' in r ? r.route : null;
  }

  /** Forget every resolution (e.g. after the link to the server was re-established). */
  clear(): void {
    this.entries.clear();
  }

  private lookup(domain: string): Promise<void> {
    const e = this.entries.get(domain);
    if (e && 'pending' in e) return e.pending;
    const previous = e && 'route' in e ? e.route : null;
    const pending = this.find(domain)
      .then(async (service): Promise<{ route: DomainRoute; why?: string }> => {
        if (!service) return { route: undefined, why: 'no multicast service' };
        const announced = await this.announcedCap(service);
        const size = Math.min(this.probeAddresses, announced ?? Infinity);
        let refusal = await this.probe(service, domain, size);
        let cap = size < this.probeAddresses ? size : undefined;
        if (refusal === 'not-acceptable' && size > 1) {
          // Refused for the number of addresses: the largest number it accepts, by halving.
          let lo = 0;
          let hi = size;
          while (hi - lo > 1) {
            const mid = Math.floor((lo + hi) / 2);
            if (await this.probe(service, domain, mid)) hi = mid;
            else lo = mid;
          }
          if (lo > 0) {
            refusal = undefined;
            cap = lo;
          }
        }
        if (refusal) return { route: null, why: `${service} refuses us: ${refusal}` };
        if (cap === undefined) this.caps.delete(service);
        else this.caps.set(service, cap);
        return { route: service, why: cap === undefined ? undefined : `at most ${cap} addresses per stanza` };
      })
      .catch((err: Error) => ({ route: previous, why: `lookup failed: ${err.message}` }))
      .then(({ route, why }) => {
        this.entries.set(domain, { route, until: Date.now() + this.ttl });
        this.o.onResolved?.(domain, route, why);
      });
    this.entries.set(domain, { pending });
    return pending;
  }

  /** A service of the domain itself: the domain, or one of its disco items, offering XEP-0033. */
  private async find(domain: string): Promise<string | undefined> {
    const jid = await discoverMulticast((el) => this.o.request(el, this.timeout), this.o.from, domain);
    // Only a service belonging to that domain: another domain's service would relay.
    return jid && (jid === domain || jid.endsWith('.' + domain)) ? jid : undefined;
  }

  /** The `message` limit a service announces in its disco#info (XEP-0128 form of the address namespace), if any. */
  private async announcedCap(service: string): Promise<number | undefined> {
    const r = await this.o
      .request(xml('iq', { type: 'get', to: service, from: this.o.from, id: `mc-limits-${++probeSeq}` }, xml('query', { xmlns: NS.DISCO_INFO })), this.timeout)
      .catch(() => undefined);
    const form = r?.getChild('query')?.getChildren('x').find((x) => x.getChildren('field').some((f) => f.attrs.var === 'FORM_TYPE' && f.getChildText('value') === NS.ADDRESS));
    const value = Number(form?.getChildren('field').find((f) => f.attrs.var === 'message')?.getChildText('value'));
    return Number.isInteger(value) && value > 0 ? value : undefined;
  }

  /**
   * Undefined when the service accepted a probe, else the error condition it
   * answered with. The probe carries `count` addresses (all the domain itself:
   * nothing reaches a user), so a service that caps addresses per stanza below
   * our batches refuses it as it would refuse them.
   */
  async probe(service: string, domain: string, count = 1): Promise<string | undefined> {
    const id = `vxprobe-${(++probeSeq).toString(36)}`;
    let refusal: string | undefined;
    const stop = this.o.watch((st) => {
      // Only the service's own refusal: the domain may bounce the probe's (empty) copy.
      if (st.name === 'message' && st.attrs.type === 'error' && st.attrs.id === id && st.attrs.from === service) {
        refusal = st.getChild('error')?.children.find((c): c is Element => typeof c !== 'string')?.name ?? 'error';
      }
    });
    try {
      this.o.send(
        xml('message', { from: this.o.from, to: service, type: 'headline', id }, xml('addresses', { xmlns: NS.ADDRESS }, ...Array.from({ length: count }, () => xml('address', { type: 'bcc', jid: domain })))),
      );
      await this.o.barrier(service);
      return refusal;
    } finally {
      stop();
    }
  }
}
