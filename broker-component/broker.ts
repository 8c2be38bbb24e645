/**
 * Wiring of the broker: store → core service → XEP-0060 handler → component link,
 * with notifications delivered through the notifier. No business rules here.
 */
import { pino, type Logger } from 'pino';
import { xml, type Element } from '@xmpp/xml';
import type { BrokerConfig } from './config.ts';
import { openStore, storeLocation } from './store/open.ts';
import { PubsubService } from './core/service.ts';
import { Xep0060Handler } from './xep0060/handler.ts';
import { Notifier } from './delivery/notifier.ts';
import { ComponentLink } from './link.ts';
import { XmppIqError } from '../common/xmpp/iq-errors.ts';
import { MulticastFanOut, discoverMulticast } from './delivery/multicast.ts';
import { MulticastDirectory } from './delivery/multicast-directory.ts';
import { applyConfig, DEFAULT_NODE_CONFIG, fieldVar } from '../pubsub/node-config.ts';
import { configFromFields } from './xep0060/forms.ts';
import type { NodeConfig, RequestTrace } from '../pubsub/types.ts';
import { domainOf } from '../pubsub/jid.ts';
import { NS } from '../common/ns.ts';
import { checkVOEventPayload, describeVOEventPayload, ivornOfPayload, summarizeVOEvent } from './voevent-rules.ts';
import { PolicyRuntime, type PolicyAudit } from './policy/runtime.ts';
import { ThreadKeeper } from './threads/keeper.ts';
import { FilterEngine } from './filters.ts';
import { logDestination } from '../common/log-format.ts';
import { BrokerMetrics } from './metrics.ts';
import { serveMetrics, type Health, type MetricsServer } from '../common/metrics-http.ts';

export type Broker = {
  service: PubsubService;
  link: ComponentLink;
  notifier: Notifier;
  /** Multicast services of recipient domains (multicast: auto). */
  multicastDirectory: MulticastDirectory;
  log: Logger;
  /** Event threads kept from the stored alerts. */
  threads: ThreadKeeper;
  /** The access policy in force (when the configuration names a policy_file). */
  policy?: PolicyRuntime;
  metrics: BrokerMetrics;
  /** The /metrics and /healthz endpoint, when metrics_port is set. */
  metricsServer?: MetricsServer;
  stop(): Promise<void>;
};

export type BrokerHooks = {
  /** One-line summary of a payload for chat clients' <body>. */
  summarize?: (payload: string, node: string, parsed?: unknown) => string | undefined;
};

function defaultConfigFrom(overrides: BrokerConfig['default_node_config']): NodeConfig {
  const fields: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(overrides)) fields[fieldVar(k as keyof NodeConfig)] = [typeof v === 'boolean' ? (v ? '1' : '0') : String(v)];
  return applyConfig(DEFAULT_NODE_CONFIG, configFromFields(fields));
}

/** The broker's logger (the CLI makes it before startBroker to log the standby's wait). */
export function brokerLogger(cfg: BrokerConfig): Logger {
  return pino({ level: cfg.log_level, base: { svc: 'broker', domain: cfg.domain } }, logDestination(1));
}

export async function startBroker(cfg: BrokerConfig, opts: { log?: Logger; hooks?: BrokerHooks } = {}): Promise<Broker> {
  const log = opts.log ?? brokerLogger(cfg);
  const store = openStore(cfg.storage, cfg.data_dir, { ivornOf: ivornOfPayload });
  log.info({ storage: cfg.storage.driver, at: storeLocation(cfg.storage, cfg.data_dir) }, 'store open');
  const link = new ComponentLink({ service: cfg.xmpp_urls ?? cfg.xmpp_url, domain: cfg.domain, secret: cfg.secret, log });
  const serverDomain = cfg.domain.includes('.') ? cfg.domain.slice(cfg.domain.indexOf('.') + 1) : cfg.domain;
  let barrierSeq = 0;
  // The multicast fan-out in use: it keeps each batch until a barrier confirms it (see handleRefusal).
  let multicastFanOut: MulticastFanOut | undefined;
  // The server (or its multicast service) answers this IQ only after routing every
  // stanza we wrote before it: it confirms notifications and multicast probes alike.
  // Any answer will do, an error reply included.
  const barrier = async (to: string) => {
    const fanOut = multicastFanOut;
    const upTo = fanOut?.mark();
    await link
      .request(xml('iq', { type: 'get', to, from: cfg.domain, id: `vxb-${(++barrierSeq).toString(36)}` }, xml('query', { xmlns: NS.DISCO_INFO })), 5000)
      .catch((e: unknown) => {
        if (!(e instanceof XmppIqError)) throw e;
      });
    if (fanOut && upTo !== undefined) fanOut.settled(to, upTo);
  };
  const notifier = new Notifier({
    from: cfg.domain,
    transport: link,
    messageType: cfg.notification_type,
    summarize: opts.hooks?.summarize ?? summarizeVOEvent,
    barrier,
    serverJid: serverDomain,
    onError: (err) => log.warn({ err: (err as Error).message }, 'notification delivery failed'),
    onDelivered: (fanOut, n) => metrics.delivered(fanOut instanceof MulticastFanOut ? 'multicast' : 'direct', n.recipients.length),
  });
  const metrics = new BrokerMetrics({
    subscribers: () => {
      const admin = { jid: cfg.domain, bare: cfg.domain };
      return service.nodeIds().map((id) => [id, service.nodeInfo(admin, id).subscribers] as [string, number]);
    },
    releaseQueue: () => (policy ? { depth: policy.queue.size(), nextDue: policy.queue.nextDue() } : { depth: 0 }),
  });
  const creators = new Set(cfg.create_nodes);
  const audit = (rec: PolicyAudit) => log.info({ audit: rec }, `${rec.decision} ${rec.op} ${rec.node} for ${rec.actor}`);
  let policy: PolicyRuntime | undefined;
  let threads: ThreadKeeper | undefined;
  const service = new PubsubService(store, {
    // The component itself owns every node: the access policy acts through it.
    admins: [...cfg.admins, cfg.domain],
    canCreate: (bare) => creators.has('*') || creators.has(bare) || creators.has(domainOf(bare)),
    defaultConfig: defaultConfigFrom(cfg.default_node_config),
    // The promise of the notifications' dispatch goes back to the request that caused them (RequestTrace).
    onEvent: (ev) => {
      if (ev.kind === 'items' && !ev.lastPublished) log.info({ feed: 'publish', node: ev.node, items: ev.items.map((i) => i.id), publisher: ev.items[0]?.publisher }, 'published');
      const dispatched = notifier.handle(ev);
      if (ev.kind === 'items' && !ev.lastPublished) {
        metrics.itemsWritten(ev.items.length);
        const t0 = performance.now();
        void dispatched.then(() => metrics.routed.observe((performance.now() - t0) / 1000));
      }
      return dispatched;
    },
    onDomainEvent: (ev) => {
      policy?.onDomainEvent(ev);
      // The event-thread index follows what was stored (derived data, caught up at start too).
      if (ev.kind === 'items-published') threads?.schedule(ev.items);
      else if (ev.kind === 'items-retracted') threads?.forget(ev.node, ev.ids);
      else if (ev.kind === 'node-purged' || ev.kind === 'node-deleted') threads?.forget(ev.node);
    },
    checkPayload: cfg.validate_voevents ? checkVOEventPayload : undefined,
    describePayload: describeVOEventPayload,
    filters: new FilterEngine(),
    onAudit: audit,
  });
  threads = new ThreadKeeper(store, service, { onError: (err) => log.error({ err: err.message }, 'event thread index update failed; it catches up at the next publish or start') });
  threads.catchUp();
  // Loaded before going online (a broken file with no policy in force stops here); applied once online.
  if (cfg.policy_file) {
    try {
      policy = PolicyRuntime.open({ file: cfg.policy_file, service, store, serviceJid: cfg.domain, log, audit });
    } catch (e) {
      store.close();
      throw e;
    }
  }
  const handler = new Xep0060Handler(service, {
    domain: cfg.domain,
    send: (el) => link.send(el),
    maxPage: cfg.max_items_page,
    threads,
    onStorageFull: (err) =>
      log.warn({ data_dir: cfg.data_dir, err: (err as Error).message }, `${cfg.storage.driver === 'sqlite' ? 'the data directory' : 'the database'} ${storeLocation(cfg.storage, cfg.data_dir)} is full: writes (publish, subscribe, configure) are refused with resource-constraint until space returns; reads and notifications of stored items go on`),
    onInternalError: (err, st) =>
      log.error({ err: err instanceof Error ? err.stack : String(err), stanza: { name: st.name, type: st.attrs.type, id: st.attrs.id, from: st.attrs.from } }, 'internal error while handling a stanza'),
  });

  link.on('stanza', (st: Element) => {
    // The request's trace collects the dispatch of every notification it caused,
    // whenever the service emits them (it travels with the call, not in a variable).
    const request: RequestTrace = { dispatched: [] };
    try {
      let reply: Element | undefined;
      if (st.name === 'iq') {
        reply = handler.handleIq(st, request);
        if (reply) metrics.observeIq(st, reply);
      } else if (st.name === 'message') reply = handler.handleMessage(st, request);
      if (!reply) return;
      // Publishers are paced by the delivery rate: the acknowledgement of a publish
      // (already stored) leaves once the server has routed its notifications, so
      // notifications never pile up behind fast acknowledgements.
      if (request.dispatched.length && cfg.ack_after === 'dispatch') void Promise.all(request.dispatched).then(() => link.send(reply));
      else link.send(reply);
    } catch (err) {
      log.error({ err: (err as Error).stack }, 'stanza handling failed');
    }
  });
  // Fan-out strategy: XEP-0033 through the server when it offers a multicast service
  // that accepts us; in `auto` mode each recipient domain's own service when it has one.
  const watch = (fn: (st: Element) => void) => {
    link.on('stanza', fn);
    return () => void link.off('stanza', fn);
  };
  // A service's refusal of a batch comes back as a message error, before its barrier answer.
  link.on('stanza', (st: Element) => void multicastFanOut?.handleRefusal(st));
  const directory = new MulticastDirectory({
    from: cfg.domain,
    request: (el, ms) => link.request(el, ms),
    send: (el) => link.send(el),
    barrier,
    watch,
    probeAddresses: cfg.multicast_batch,
    onResolved: (domain, route, why) => {
      if (route) log.info({ domain, multicast: route, why }, 'recipients of this domain fan out through its own multicast service');
      else if (route === undefined) log.info({ domain, why }, 'this domain has no multicast service of its own: its recipients go through ours');
      else log.warn({ domain, why }, "recipients of this domain get per-subscriber stanzas (its own multicast service would refuse what ours relays to it)");
    },
  });
  const chooseFanOut = async () => {
    directory.clear();
    multicastFanOut = undefined;
    if (cfg.multicast === 'off') {
      notifier.useFanOut(undefined);
      return metrics.fanOutPath('direct');
    }
    const auto = cfg.multicast === 'auto';
    const jid = auto ? await discoverMulticast((el) => link.request(el, 5000), cfg.domain, serverDomain) : cfg.multicast;
    const refusal = jid ? await directory.probe(jid, serverDomain).catch((err: Error) => `no answer (${err.message})`) : undefined;
    if (jid && !refusal) {
      multicastFanOut = new MulticastFanOut({
        from: cfg.domain,
        service: jid,
        messageType: notifier.type,
        transport: link,
        maxAddresses: cfg.multicast_batch,
        byDomain: auto
          ? {
              route: (domain) => (domain === serverDomain ? undefined : directory.serviceFor(domain)),
              direct: notifier.direct,
              capOf: (service) => directory.capOf(service),
              refused: (service, condition) => {
                log.warn({ multicast: service, condition }, 'a multicast service refused a batch after its probe: its recipients are sent per subscriber');
                directory.refused(service, condition);
              },
            }
          : undefined,
      });
      notifier.useFanOut(multicastFanOut);
      metrics.fanOutPath('multicast', jid);
      log.info({ multicast: jid }, 'notifications fan out through XEP-0033 multicast');
    } else {
      notifier.useFanOut(undefined);
      metrics.fanOutPath('direct');
      if (refusal) log.error({ multicast: jid, refusal }, 'the multicast service refuses our stanzas (is this component among its trusted senders?); sending per subscriber');
      else
        log.warn(
          { server: serverDomain },
          'NO MULTICAST SERVICE on the server: notifications are sent per subscriber, several times slower. Load the XEP-0033 module (Prosody: mod_voxnet_multicast; ejabberd: mod_multicast), see docs/deploy.md',
        );
    }
  };
  let discovery: Promise<void> = Promise.resolve();
  link.on('offline', () => metrics.linkOffline());
  link.on('online', () => {
    metrics.linkOnline();
    discovery = chooseFanOut().catch((err) => log.warn({ err: (err as Error).message }, 'multicast discovery failed'));
  });
  // Age retention (voxnet#max_age): a sweep at start and every minute.
  const expire = () => {
    try {
      const n = service.expireItems();
      if (n) log.info({ removed: n }, 'items past their node\'s max_age removed');
    } catch (err) {
      log.error({ err: (err as Error).message }, 'retention sweep failed');
    }
  };
  expire();
  const retention = setInterval(expire, 60_000);
  retention.unref();
  await link.start();
  await discovery;
  policy?.start();
  const health = (): Health => {
    if (!link.isOnline()) return { ok: false, reason: `component link to ${(cfg.xmpp_urls ?? [cfg.xmpp_url]).join(', ')} is down` };
    try {
      store.setMeta('healthz', new Date().toISOString());
    } catch (e) {
      return { ok: false, reason: `store not writable: ${(e as Error).message}` };
    }
    return { ok: true };
  };
  const metricsServer = cfg.metrics_port !== undefined ? await serveMetrics({ port: cfg.metrics_port, host: cfg.metrics_host, registry: metrics.registry, health }) : undefined;
  if (metricsServer) log.info({ url: `${metricsServer.url}/metrics` }, 'metrics and /healthz served');
  log.info({ nodes: service.nodeIds().length }, 'broker ready');

  return {
    service,
    link,
    notifier,
    multicastDirectory: directory,
    threads,
    log,
    policy,
    metrics,
    metricsServer,
    async stop() {
      clearInterval(retention);
      threads?.flush();
      await metricsServer?.close();
      policy?.stop();
      await notifier.drain();
      await link.stop();
      store.close();
    },
  };
}
