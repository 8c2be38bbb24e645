/**
 * `voxnet gateway vtp [subscriber|broker] --config FILE`: the VOEvent Transport
 * Protocol gateway. With no role named, runs every role the file configures.
 * Prints one line per event on stdout (`in IVORN delivered NODE ID`,
 * `in IVORN skipped WHY`, `in IVORN dead-letter REASON`, `bad-frame REASON`,
 * `out IVORN spooled`, `listening PORT`); logs go to stderr.
 */
import { join } from 'node:path';
import { CONNECTION_ARGS, CONNECTION_HELP, UsageError, connectAgent, connectionFrom, createLogger, defaultStateDir, parseCommandLine, type Agent } from '../../lib/index.ts';
import { runCommand, stdio, untilSignal, type CliIO } from '../../lib/command.ts';
import { BridgeLedger, SeenStore, deadLetterSink } from '../lib/index.ts';
import { VtpBroker } from './broker.ts';
import { durationMs, loadVtpConfig, type VtpConfig } from './config.ts';
import { bridgeIn, deadLetterFrame, verdictOf } from './inbound.ts';
import { followNodes } from './outbound.ts';
import { Spool } from './spool.ts';
import { VtpSubscriber } from './subscriber.ts';

export const VTP_USAGE = `usage: voxnet gateway vtp [subscriber|broker] --config FILE [connection options]

The VOEvent Transport Protocol (VTP, Comet, 4PiSky) both ways:
  subscriber   connect to VTP brokers, ack each event, validate it and publish it
               to the node its route names (item id from the IVORN: never twice)
  broker       serve VTP subscribers (Comet, ...) the VOEvents of VOXnet nodes:
               iamalive, XPath filters, IP allow-list, optional TLS, resend on return

  --config FILE   YAML (see agents/gateway/vtp/config.ts and the README):
                    local_ivo: ivo://voxnet.example/vtp
                    dead_letter: { dir: /var/lib/voxnet/dead }     (or { node: NODE })
                    subscriber: { remotes: [{ host, port }], routes: [{ ivorn_prefix, role, node }], filters: [XPATH] }
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
    if (positionals.length > 1 || (role !== undefined && role !== 'subscriber' && role !== 'broker')) throw new UsageError(`unknown role '${positionals.join(' ')}' (subscriber or broker)`);
    if (!values.config) throw new UsageError('--config is required');
    const cfg = loadVtpConfig(values.config, env);
    if (role === 'subscriber' && !cfg.subscriber) throw new UsageError(`${values.config} has no subscriber section`);
    if (role === 'broker' && !cfg.broker) throw new UsageError(`${values.config} has no broker section`);
    const conn = connectionFrom(values, env, cfg.xmpp as object);
    const log = createLogger('gateway-vtp', values['log-level'] ?? env.VOXNET_LOG_LEVEL ?? cfg.log_level ?? 'info');
    const stateDir = cfg.state_dir ?? defaultStateDir(env);
    const slug = cfg.local_ivo.replace(/^ivo:\/\//, '').replace(/[^A-Za-z0-9._-]+/g, '_');
    const agent = await connectAgent({ ...conn, name: 'gateway-vtp', stateName: `gateway-vtp-${slug}`, log, stateDir, waitForServer: true });
    const seen = new SeenStore(join(stateDir, 'gateway-seen.sqlite'));
    const ledger = new BridgeLedger(seen, [cfg.local_ivo]);
    const running = new Running();
    try {
      const runSub = role !== 'broker' && cfg.subscriber;
      const runBroker = role !== 'subscriber' && cfg.broker;
      if (runSub) startSubscribers(cfg, agent, ledger, stateDir, log, io, running);
      if (runBroker) await startBroker(cfg, agent, ledger, stateDir, log, io, running);
      const signal = untilSignal();
      await signal.promise;
      signal.cancel();
      return 0;
    } finally {
      await running.stop();
      await agent.stop();
      seen.close();
    }
  });
}

/** What to stop, in order. */
class Running {
  readonly abort = new AbortController();
  private readonly stops: (() => Promise<void> | void)[] = [];
  add(stop: () => Promise<void> | void): void {
    this.stops.push(stop);
  }
  async stop(): Promise<void> {
    this.abort.abort();
    for (const s of this.stops.reverse()) await s();
  }
}

function startSubscribers(cfg: VtpConfig, agent: Agent, ledger: BridgeLedger, stateDir: string, log: ReturnType<typeof createLogger>, io: CliIO, running: Running): void {
  const sub = cfg.subscriber!;
  const routes = sub.routes?.length ? sub.routes : [{ node: sub.node! }];
  const deadLetters = deadLetterSink(cfg.dead_letter ?? { dir: join(stateDir, 'vtp-dead-letter') }, (node, xml, id) => agent.publish(node, xml, { id }));
  // One event at a time across all remotes: the same event from two brokers (a redundant pair,
  // the usual set-up in the VOEvent network) is then always seen as a duplicate the second time.
  let inOrder: Promise<unknown> = Promise.resolve();
  const oneAtATime = <T>(task: () => Promise<T>): Promise<T> => {
    const run = inOrder.then(task);
    inOrder = run.catch(() => {});
    return run;
  };
  for (const r of sub.remotes) {
    const source = `vtp://${r.host}:${r.port}`;
    const o = { agent, routes, ledger, network: cfg.network, deadLetters, source, signal: running.abort.signal, log: log.child({ broker: source }) };
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
      onEvent: async (ev) => {
        // Stopping mid-publish throws RelayStopped: no reply, the event is not remembered.
        const r = await oneAtATime(() => bridgeIn(ev, o));
        if (r.outcome === 'delivered') io.out(`in ${ev.ivorn} delivered ${r.node} ${r.id}`);
        else if (r.outcome === 'skipped') io.out(`in ${ev.ivorn} skipped ${r.why}`);
        else io.out(`in ${ev.ivorn} dead-letter ${r.reason}`);
        return verdictOf(r);
      },
      onBadFrame: async (bad) => {
        await deadLetterFrame(bad, o);
        io.out(`bad-frame ${bad.reason}`);
      },
    });
    s.start();
    running.add(() => s.stop());
  }
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
  });
  const port = await broker.listen();
  running.add(() => broker.close());
  io.out(`listening ${port}`);
  const followers = await followNodes({
    agent, nodes: b.nodes, since: b.since, spool, broker, ledger, network: cfg.network, gateway: cfg.local_ivo, log, maxEventBytes: b.max_event,
    onSpooled: (ivorn) => io.out(`out ${ivorn} spooled`),
  });
  running.add(async () => {
    for (const f of followers) await f.stop();
  });
}
