/**
 * `voxnet gateway vtp [subscriber|receiver|broker] --config FILE`: the VOEvent Transport
 * Protocol gateway. With no role named, runs every role the file configures.
 * Prints one line per event on stdout (`in IVORN delivered NODE ID`,
 * `in IVORN skipped WHY`, `in IVORN dead-letter REASON`, `bad-frame REASON`,
 * `out IVORN spooled`, `listening PORT`, `receiving PORT`); logs go to stderr.
 */
import { join } from 'node:path';
import { CONNECTION_ARGS, CONNECTION_HELP, UsageError, connectAgent, connectionFrom, createLogger, defaultStateDir, parseCommandLine, type Agent } from '../../lib/index.ts';
import { runCommand, stdio, untilSignal, type CliIO } from '../../lib/command.ts';
import { BridgeLedger, DiskFullWatch, SeenStore, deadLetterSink } from '../lib/index.ts';
import { VtpBroker } from './broker.ts';
import { durationMs, loadVtpConfig, type VtpConfig } from './config.ts';
import type { BadFrame } from './connection.ts';
import { bridgeIn, deadLetterFrame, verdictOf, type InboundOptions } from './inbound.ts';
import type { EventMessage } from './messages.ts';
import { VtpReceiver } from './receiver.ts';
import type { Route } from './routes.ts';
import { followNodes } from './outbound.ts';
import { Spool } from './spool.ts';
import { VtpSubscriber, type EventVerdict } from './subscriber.ts';

export const VTP_USAGE = `usage: voxnet gateway vtp [subscriber|receiver|broker] --config FILE [connection options]

The VOEvent Transport Protocol (VTP, Comet, 4PiSky) both ways:
  subscriber   connect to VTP brokers, ack each event, validate it and publish it
               to the node its route names (item id from the IVORN: never twice)
  receiver     take authors' submissions (comet-sendvo) the same way; ack or nak with the reason
  broker       serve VTP subscribers (Comet, ...) the VOEvents of VOXnet nodes:
               iamalive, XPath filters, IP allow-list, optional TLS, resend on return

  --config FILE   YAML (see agents/gateway/vtp/config.ts and the README):
                    local_ivo: ivo://voxnet.example/vtp
                    dead_letter: { dir: /var/lib/voxnet/dead }     (or { node: NODE })
                    subscriber: { remotes: [{ host, port }], routes: [{ ivorn_prefix, role, node }], filters: [XPATH] }
                    receiver: { listen: { port: 8098 }, allow: [CIDR], routes: [...] }
                    broker: { listen: { port: 8099 }, nodes: [NODE], allow: [CIDR], iamalive: 60s, tls: { cert, key } }
  env: VOXNET_VTP_PORT (broker port), VOXNET_VTP_REMOTE (host:port, the one remote)

${CONNECTION_HELP}`;

export async function runVtp(argv: string[], io: CliIO = stdio, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  return runCommand('gateway vtp', VTP_USAGE, io, async () => {
    const { values, positionals } = parseCommandLine(argv, { ...CONNECTION_ARGS, config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } });
    if (values.help) {
      io.out(VTP_USAGE);
      return 0;
    }
    const role = positionals[0];
    if (positionals.length > 1 || (role !== undefined && role !== 'subscriber' && role !== 'receiver' && role !== 'broker')) throw new UsageError(`unknown role '${positionals.join(' ')}' (subscriber, receiver or broker)`);
    if (!values.config) throw new UsageError('--config is required');
    const cfg = loadVtpConfig(values.config, env);
    if (role === 'subscriber' && !cfg.subscriber) throw new UsageError(`${values.config} has no subscriber section`);
    if (role === 'broker' && !cfg.broker) throw new UsageError(`${values.config} has no broker section`);
    if (role === 'receiver' && !cfg.receiver) throw new UsageError(`${values.config} has no receiver section`);
    const conn = connectionFrom(values, env, cfg.xmpp as object);
    const log = createLogger('gateway-vtp', values['log-level'] ?? env.VOXNET_LOG_LEVEL ?? cfg.log_level ?? 'info');
    const stateDir = cfg.state_dir ?? defaultStateDir(env);
    const slug = cfg.local_ivo.replace(/^ivo:\/\//, '').replace(/[^A-Za-z0-9._-]+/g, '_');
    const agent = await connectAgent({ ...conn, name: 'gateway-vtp', stateName: `gateway-vtp-${slug}`, log, stateDir, waitForServer: true });
    const seen = new SeenStore(join(stateDir, 'gateway-seen.sqlite'));
    const ledger = new BridgeLedger(seen, [cfg.local_ivo]);
    const running = new Running(new DiskFullWatch(log), log);
    try {
      const runSub = (role === undefined || role === 'subscriber') && cfg.subscriber;
      const runReceiver = (role === undefined || role === 'receiver') && cfg.receiver;
      const runBroker = (role === undefined || role === 'broker') && cfg.broker;
      const side = inboundSide(cfg, agent, stateDir, io);
      if (runSub) startSubscribers(cfg, agent, ledger, side, log, running);
      if (runReceiver) await startReceiver(cfg, agent, ledger, side, log, io, running);
      if (runBroker) await startBroker(cfg, agent, ledger, stateDir, log, io, running);
      const signal = untilSignal();
      await signal.promise;
      signal.cancel();
      return 0;
    } finally {
      if (!(await running.stop())) {
        // An event taken from a node waits for disk space to be spooled: exit without saving the
        // follower's state, so that the event is taken again after the restart.
        log.error('an event is still waiting for disk space to be spooled: stopping without saving (it is taken again after the restart)');
        process.exit(1);
      }
      await agent.stop();
      seen.close();
    }
  });
}

/** What to stop, in order; and the full-disk watch every role shares (one error per episode). */
class Running {
  readonly abort = new AbortController();
  private readonly stops: (() => Promise<boolean | void> | boolean | void)[] = [];
  constructor(readonly disk: DiskFullWatch, readonly log: Log) {}
  /** `stop` may resolve false: something could not be finished, the state must not be saved. */
  add(stop: () => Promise<boolean | void> | boolean | void): void {
    this.stops.push(stop);
  }
  /** Stop everything; false, at once, when the state must not be saved (see add): the caller exits. */
  async stop(): Promise<boolean> {
    this.abort.abort();
    for (const s of this.stops.reverse()) if ((await s()) === false) return false;
    return true;
  }
}

/** What the subscriber and receiver roles share: one event at a time, the dead letters, a line per event. */
function inboundSide(cfg: VtpConfig, agent: Agent, stateDir: string, io: CliIO) {
  const deadLetters = deadLetterSink(cfg.dead_letter ?? { dir: join(stateDir, 'vtp-dead-letter') }, (node, xml, id) => agent.publish(node, xml, { id }));
  // One event at a time across all remotes and authors: the same event from two brokers (a
  // redundant pair, the usual set-up in the VOEvent network) is always a duplicate the second time.
  let inOrder: Promise<unknown> = Promise.resolve();
  const oneAtATime = <T>(task: () => Promise<T>): Promise<T> => {
    const run = inOrder.then(task);
    inOrder = run.catch(() => {});
    return run;
  };
  return {
    deadLetters,
    /** Stopping mid-publish throws RelayStopped: no reply, the event is not remembered. */
    async bridge(ev: EventMessage, o: InboundOptions): Promise<EventVerdict> {
      const r = await oneAtATime(() => bridgeIn(ev, o));
      if (r.outcome === 'delivered') io.out(`in ${ev.ivorn} delivered ${r.node} ${r.id}`);
      else if (r.outcome === 'skipped') io.out(`in ${ev.ivorn} skipped ${r.why}`);
      else io.out(`in ${ev.ivorn} dead-letter ${r.reason}`);
      return verdictOf(r);
    },
    async badFrame(bad: BadFrame, o: InboundOptions): Promise<void> {
      await deadLetterFrame(bad, o);
      io.out(`bad-frame ${bad.reason}`);
    },
  };
}

type InboundSide = ReturnType<typeof inboundSide>;
type Log = ReturnType<typeof createLogger>;

function routesOf(c: { routes?: Route[]; node?: string }): Route[] {
  return c.routes?.length ? c.routes : [{ node: c.node! }];
}

function startSubscribers(cfg: VtpConfig, agent: Agent, ledger: BridgeLedger, side: InboundSide, log: Log, running: Running): void {
  const sub = cfg.subscriber!;
  for (const r of sub.remotes) {
    const source = `vtp://${r.host}:${r.port}`;
    const o: InboundOptions = { agent, routes: routesOf(sub), ledger, network: cfg.network, deadLetters: side.deadLetters, source, signal: running.abort.signal, disk: running.disk, log: log.child({ broker: source }) };
    const s = new VtpSubscriber({
      host: r.host,
      port: r.port,
      localIvo: cfg.local_ivo,
      filters: sub.filters,
      tls: r.tls ? (r.tls === true ? {} : r.tls) : undefined,
      maxFrameBytes: cfg.max_message,
      aliveTimeoutMs: durationMs(sub.alive_timeout, 120_000),
      invalid: sub.invalid,
      log,
      onEvent: (ev) => side.bridge(ev, o),
      onBadFrame: (bad) => side.badFrame(bad, o),
    });
    s.start();
    running.add(() => s.stop());
  }
}

/** Authors' submissions (comet-sendvo): from the place `vtp-authors`, so the broker role sends them on. */
async function startReceiver(cfg: VtpConfig, agent: Agent, ledger: BridgeLedger, side: InboundSide, log: Log, io: CliIO, running: Running): Promise<void> {
  const rc = cfg.receiver!;
  const base = { agent, routes: routesOf(rc), ledger, network: 'vtp-authors', deadLetters: side.deadLetters, signal: running.abort.signal, disk: running.disk };
  const receiver = new VtpReceiver({
    host: rc.listen.host,
    port: rc.listen.port,
    localIvo: cfg.local_ivo,
    allow: rc.allow,
    maxFrameBytes: cfg.max_message,
    timeoutMs: durationMs(rc.timeout, 20_000),
    log,
    onEvent: (ev, from) => side.bridge(ev, { ...base, source: `vtp-author://${from}`, log: log.child({ author: from }) }),
    onBadFrame: (bad, from) => side.badFrame(bad, { ...base, source: `vtp-author://${from}`, log }),
  });
  const port = await receiver.listen();
  running.add(() => receiver.close());
  io.out(`receiving ${port}`);
}

async function startBroker(cfg: VtpConfig, agent: Agent, ledger: BridgeLedger, stateDir: string, log: ReturnType<typeof createLogger>, io: CliIO, running: Running): Promise<void> {
  const b = cfg.broker!;
  const spool = new Spool(join(stateDir, `vtp-spool-${b.listen.port}.sqlite`), { events: b.keep.events, ageMs: b.keep.age === undefined ? undefined : durationMs(b.keep.age, 0) });
  running.add(() => spool.close());
  const broker = new VtpBroker({
    host: b.listen.host,
    port: b.listen.port,
    localIvo: cfg.local_ivo,
    spool,
    iamaliveMs: durationMs(b.iamalive, 60_000),
    allow: b.allow,
    maxSubscribers: b.max_subscribers,
    window: b.window,
    tls: b.tls,
    maxFrameBytes: cfg.max_message,
    log,
    disk: running.disk,
  });
  const port = await broker.listen();
  running.add(() => broker.close());
  io.out(`listening ${port}`);
  const followers = await followNodes({
    agent, nodes: b.nodes, since: b.since, spool, broker, ledger, network: cfg.network, gateway: cfg.local_ivo, log, maxEventBytes: b.max_event,
    disk: running.disk,
    onSpooled: (ivorn) => io.out(`out ${ivorn} spooled`),
  });
  // The event in hand finishes first; one that waits for disk space holds its follower (15 s of grace).
  running.add(async () => {
    const stopped = Promise.all(followers.map((f) => f.stop())).then(() => true);
    return Promise.race([stopped, new Promise<boolean>((r) => setTimeout(() => r(false), 15_000).unref())]);
  });
}
