/**
 * `voxnet devnet`: a working local VOXnet on this machine — Prosody (svom.fr and
 * svom.cn) with the multicast module, the broker with its embedded SQLite store,
 * the example access policy, and demo agents — until Ctrl-C.
 */
import { parseArgs } from 'node:util';
import { mkdirSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pino } from 'pino';
import { startProsody } from '../broker-component/servers/prosody.ts';
import { startBroker } from '../broker-component/broker.ts';
import { loadBrokerConfig } from '../broker-component/config.ts';
import { freePort } from '../broker-component/servers/net.ts';
import { startWeb } from '../web/server.ts';
import { createConnection } from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { FeedPrinter, outputLine } from './feed.ts';
import { formatRecord } from '../common/log-format.ts';

export const DEMO_USERS = [
  { user: 'alice', host: 'svom.fr', role: 'science centre (publisher, admin)' },
  { user: 'bob', host: 'svom.cn', role: 'collaboration member' },
  { user: 'telescope', host: 'svom.fr', role: 'robotic telescope' },
  { user: 'carol', host: 'example.org', role: 'community astronomer' },
  { user: 'rooms', host: 'svom.fr', role: 'the rooms agent (service account)' },
];

export const MUC = 'conference.svom.fr';

async function portFree(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = createConnection({ port, host: '127.0.0.1' });
    s.once('connect', () => {
      s.destroy();
      res(false);
    });
    s.once('error', () => res(true));
  });
}

export async function devnetCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      dir: { type: 'string', default: '.voxnet/devnet' },
      'c2s-port': { type: 'string' },
      'component-port': { type: 'string' },
      'no-agents': { type: 'boolean', default: false },
      verbose: { type: 'boolean', default: false },
      'web-port': { type: 'string' },
      'websocket-port': { type: 'string' },
      federated: { type: 'boolean', default: false },
    },
  });
  if (values.federated) return (await import('./devnet-federated.ts')).federatedDevnet(values.dir!);
  const dir = resolve(values.dir!);
  mkdirSync(dir, { recursive: true });
  const c2sPort = Number(values['c2s-port'] ?? ((await portFree(5222)) ? 5222 : await freePort()));
  const componentPort = Number(values['component-port'] ?? ((await portFree(5347)) ? 5347 : await freePort()));
  const wsPort = Number(values['websocket-port'] ?? ((await portFree(5280)) ? 5280 : await freePort()));
  const webPort = Number(values['web-port'] ?? ((await portFree(8080)) ? 8080 : await freePort()));
  const domain = 'pubsub.svom.fr';
  const secret = process.env.VOXNET_SECRET ?? 'devnet-secret';
  const logs = join(dir, 'logs');
  mkdirSync(logs, { recursive: true });
  // The terminal gets a short live feed (every record with --verbose); the JSON logs go to files.
  const color = !!process.stdout.isTTY && !process.env.NO_COLOR;
  const print = (l: string) => void process.stdout.write(l + '\n');
  // The heartbeat's beat every few seconds is not news.
  const feed = new FeedPrinter(print, { color, service: domain, hide: (r) => r.node === 'svom/heartbeat' });
  // After Ctrl-C (which reaches Prosody too) the pieces complain of each other's going: files only.
  let stopping = false;
  const show = (text: string, source: string, out: WriteStream) => {
    out.write(text + '\n');
    if (stopping) return;
    if (!values.verbose) return feed.jsonLine(text, source);
    try {
      print(formatRecord(JSON.parse(text) as Record<string, unknown>, color));
    } catch {
      print(outputLine(text, source, color));
    }
  };
  const brokerLog = createWriteStream(join(logs, 'broker.log'), { flags: 'a' });
  const log = pino({ level: process.env.VOXNET_LOG_LEVEL ?? 'info', base: { svc: 'broker' } }, {
    write: (chunk: string) => {
      for (const line of chunk.split('\n')) if (line) show(line, 'broker', brokerLog);
    },
  });

  const prosody = await startProsody({
    dir: join(dir, 'prosody'),
    hosts: ['svom.fr', 'svom.cn', 'example.org'],
    components: [{ domain, secret }],
    multicast: { domain: 'multicast.svom.fr', trusted: [domain] },
    muc: { domain: MUC },
    c2sPort,
    componentPort,
    websocket: { port: wsPort },
  });
  for (const u of DEMO_USERS) prosody.addUser(u.user, u.host, u.user);

  const policy = resolve('config/policy.example.yaml');
  const cfg = loadBrokerConfig(undefined, {
    ...process.env,
    VOXNET_XMPP_URL: prosody.componentUrl,
    VOXNET_DOMAIN: domain,
    VOXNET_SECRET: secret,
    VOXNET_DATA_DIR: join(dir, 'broker'),
    // The rooms agent reads every level node to relay it into its room.
    VOXNET_ADMINS: 'alice@svom.fr,rooms@svom.fr',
    VOXNET_CREATE_NODES: 'svom.fr',
    ...(existsSync(policy) && !process.env.VOXNET_POLICY_FILE ? { VOXNET_POLICY_FILE: policy } : {}),
  });
  const broker = await startBroker(cfg, { log });
  const web = await startWeb({ websocket: prosody.wsUrl!, pubsub: domain, port: webPort, title: 'VOXnet devnet' });

  // Demo agents, each its own `voxnet` process as a real deployment runs them.
  const agents: ChildProcess[] = [];
  const lines = (stream: Readable, each: (line: string) => void) => createInterface({ input: stream, crlfDelay: Infinity }).on('line', each);
  const runAgent = (name: string, user: string, args: string[], stdoutShown = false) => {
    const env = {
      ...process.env,
      VOXNET_AGENT_JID: user,
      VOXNET_AGENT_PASSWORD: user.split('@')[0],
      VOXNET_AGENT_SERVER: prosody.c2sUrl,
      VOXNET_PUBSUB: domain,
      VOXNET_TRUST: prosody.certFiles.join(':'),
      VOXNET_LOG_LEVEL: 'info',
      VOXNET_LOG_FORMAT: 'json',
      VOXNET_STATE_DIR: join(dir, 'state'),
    };
    const out = createWriteStream(join(logs, `${name}.log`), { flags: 'a' });
    const child = spawn(process.execPath, [resolve('bin/voxnet.js'), ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    lines(child.stdout!, (l) => {
      out.write(l + '\n');
      if (stdoutShown) print(outputLine(l, name, color));
    });
    lines(child.stderr!, (l) => show(l, name, out));
    agents.push(child);
  };
  if (!values['no-agents']) {
    runAgent('heartbeat', 'alice@svom.fr', ['heartbeat', '--node', 'svom/heartbeat', '--interval', '10s']);
    runAgent('bob sees', 'bob@svom.cn', ['subscribe', 'svom/eclairs/collaboration', '--format', 'summary'], true);
    // Each room message links to the alert's page on the web page.
    runAgent('rooms', 'rooms@svom.fr', ['agent', 'rooms', '--policy', policy, '--muc', MUC, '--web-url', web.url]);
    runAgent('replay', 'alice@svom.fr', ['replay', resolve('test/fixtures/voevents'), '--node', 'svom/eclairs/source', '--speed', 'max', '--as-test', '--tag', 'devnet']);
  }

  console.log(`
VOXnet devnet is up.
  web page        ${web.url}  (log in as bob@svom.cn / bob; XMPP over ${prosody.wsUrl})
  XMPP server     127.0.0.1:${c2sPort} (client), :${componentPort} (components); certificates in ${join(dir, 'prosody', 'certs')}
  pubsub service  ${domain}    (multicast via multicast.svom.fr)
  logins          ${DEMO_USERS.map((u) => `${u.user}@${u.host} / ${u.user}`).join(', ')}
  chat rooms      one per product and level on ${MUC}, e.g. svom-eclairs-collaboration@${MUC} (bob may join, carol may not)
  try             node bin/voxnet.js subscribe --server xmpp://127.0.0.1:${c2sPort} --jid bob@svom.cn --password bob --trust ${join(dir, 'prosody', 'certs', 'svom.fr.crt')} NODE
  demo agents     heartbeat on svom/heartbeat; a replay of real packets (role=test) to svom/eclairs/source,
                  derived per access level; bob@svom.cn follows svom/eclairs/collaboration; the rooms agent
  logs            ${logs} (JSON); below, a live feed of alerts, releases and agent actions${values.verbose ? '' : ' (--verbose: every log line)'}
Ctrl-C stops everything.
`);

  await new Promise<void>((r) => {
    process.once('SIGINT', () => r());
    process.once('SIGTERM', () => r());
  });
  feed.flush();
  stopping = true;
  print('stopping…');
  for (const a of agents) a.kill('SIGTERM');
  await Promise.all(agents.map((a) => (a.exitCode === null ? new Promise((r) => a.once('exit', r)) : undefined)));
  await web.stop();
  await broker.stop();
  await prosody.stop();
  return 0;
}
