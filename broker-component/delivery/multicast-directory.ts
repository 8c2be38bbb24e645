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
  private readonly ttl: number;
  private readonly timeout: number;

  constructor(private readonly o: DirectoryOptions) {
    this.ttl = o.ttlMs ?? 3_600_000;
    this.timeout = o.timeoutMs ?? 5000;
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
        const refusal = await this.probe(service, domain);
        return refusal ? { route: null, why: `${service} refuses us: ${refusal}` } : { route: service };
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

  /** Undefined when the service accepted a probe, else the error condition it answered with. */
  async probe(service: string, domain: string): Promise<string | undefined> {
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
        xml('message', { from: this.o.from, to: service, type: 'headline', id }, xml('addresses', { xmlns: NS.ADDRESS }, xml('address', { type: 'bcc', jid: domain }))),
      );
      await this.o.barrier(service);
      return refusal;
    } finally {
      stop();
    }
  }
}
