/**
 * The broker's Prometheus metrics (prom-client, a registry of its own): what an operator
 * watches — publishes and refusals by reason, items stored, deliveries by fan-out path,
 * publish→routed latency, subscribers per node, the component link, the release queue.
 * The broker's wiring feeds it; nothing here decides anything.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Element } from '@xmpp/xml';

const STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';

export type FanOutPath = 'multicast' | 'direct';

export type MetricsSources = {
  /** Subscriptions per node (read at scrape time). */
  subscribers: () => Iterable<[node: string, count: number]>;
  /** Pending release jobs and the due time of the oldest (read at scrape time). */
  releaseQueue?: () => { depth: number; nextDue?: number };
  now?: () => number;
};

export class BrokerMetrics {
  readonly registry = new Registry();
  private readonly publishes: Counter<'result'>;
  private readonly refusals: Counter<'op' | 'condition'>;
  private readonly itemsStored: Counter;
  private readonly deliveries: Counter<'path'>;
  private readonly fanoutPath: Gauge<'path' | 'service'>;
  readonly routed: Histogram;
  private readonly linkUp: Gauge;
  private readonly reconnects: Counter;
  private sawOnline = false;

  constructor(sources: MetricsSources) {
    const r = this.registry;
    const now = sources.now ?? Date.now;
    collectDefaultMetrics({ register: r });
    this.publishes = new Counter({ name: 'voxnet_publishes_total', help: 'publish requests, by result (ok or the XMPP error condition)', labelNames: ['result'], registers: [r] });
    this.refusals = new Counter({ name: 'voxnet_refusals_total', help: 'refused requests, by operation and XMPP error condition', labelNames: ['op', 'condition'], registers: [r] });
    this.itemsStored = new Counter({ name: 'voxnet_items_stored_total', help: 'items written to the store (publishes and policy releases)', registers: [r] });
    this.deliveries = new Counter({ name: 'voxnet_deliveries_total', help: 'notifications addressed to recipients, by fan-out path', labelNames: ['path'], registers: [r] });
    this.fanoutPath = new Gauge({ name: 'voxnet_fanout_path', help: '1 for the fan-out path in use (multicast through a service, or direct per-subscriber stanzas)', labelNames: ['path', 'service'], registers: [r] });
    this.routed = new Histogram({
      name: 'voxnet_publish_routed_seconds',
      help: 'from an item stored to its notifications routed by the server (the barrier answered)',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [r],
    });
    this.linkUp = new Gauge({ name: 'voxnet_link_up', help: '1 when the component link to the server is online', registers: [r] });
    this.reconnects = new Counter({ name: 'voxnet_link_reconnects_total', help: 'times the component link came back after being lost', registers: [r] });
    new Gauge({
      name: 'voxnet_subscribers',
      help: 'subscriptions per node',
      labelNames: ['node'],
      registers: [r],
      collect() {
        this.reset();
        for (const [node, n] of sources.subscribers()) this.set({ node }, n);
      },
    });
    if (sources.releaseQueue) {
      const rq = sources.releaseQueue;
      let last: { depth: number; nextDue?: number } | undefined;
      const read = () => (last = rq());
      new Gauge({ name: 'voxnet_release_queue_depth', help: 'policy release jobs waiting (embargoes, level derivations)', registers: [r], collect() { this.set(read().depth); } });
      new Gauge({
        name: 'voxnet_release_queue_oldest_due_seconds',
        help: 'how late the oldest due release job is (0 when none is due)',
        registers: [r],
        collect() {
          const next = (last ?? read()).nextDue;
          this.set(next === undefined ? 0 : Math.max(0, (now() - next) / 1000));
        },
      });
    }
    this.linkUp.set(0);
  }

  /** An IQ and the reply the broker sent to it: publishes by result, refusals by reason. */
  observeIq(iq: Element, reply: Element): void {
    const op = iq.getChildElements()[0]?.getChildElements()[0]?.name ?? iq.getChildElements()[0]?.name ?? 'unknown';
    const isPublish = iq.attrs.type === 'set' && op === 'publish';
    if (reply.attrs.type === 'error') {
      const condition = reply.getChild('error')?.getChildElements().find((c) => c.attrs.xmlns === STANZAS)?.name ?? 'undefined-condition';
      this.refusals.inc({ op, condition });
      if (isPublish) this.publishes.inc({ result: condition });
    } else if (isPublish) this.publishes.inc({ result: 'ok' });
  }

  itemsWritten(n: number): void {
    this.itemsStored.inc(n);
  }

  /** The fan-out path now in use. */
  fanOutPath(path: FanOutPath, service = ''): void {
    this.fanoutPath.reset();
    this.fanoutPath.set({ path, service }, 1);
  }

  /** A notification addressed to its recipients through `path`. */
  delivered(path: FanOutPath, recipients: number): void {
    this.deliveries.inc({ path }, recipients);
  }

  linkOnline(): void {
    if (this.sawOnline) this.reconnects.inc();
    this.sawOnline = true;
    this.linkUp.set(1);
  }

  linkOffline(): void {
    this.linkUp.set(0);
  }
}
