/**
 * `voxnet doctor`: checks a deployment from outside, as a user would, and says for each
 * failed check what is wrong and how to fix it. Each check is one small function that
 * returns its verdict; `runDoctor` runs them in order and stops where the next ones
 * could only fail for the same reason.
 */
import { createConnection } from 'node:net';
import { xml } from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import { connectAgent, type Agent } from '../lib/connect.ts';
import type { ConnectionOptions } from '../lib/options.ts';
import { XmppIqError } from '../../common/xmpp/iq-errors.ts';
import { ensureNode } from '../lib/nodes.ts';
import { publishVOEvent } from '../lib/publish.ts';
import { heartbeatEvent } from '../heartbeat/heartbeat.ts';
import { build } from '../../voevent/index.ts';

export type Verdict = {
  check: string;
  /** ok: fine; warn: works, but not as it should; fail: broken. */
  status: 'ok' | 'warn' | 'fail';
  /** What was seen. */
  detail: string;
  /** How to fix it (warn and fail). */
  fix?: string;
};

export type DoctorOptions = {
  connection: ConnectionOptions;
  /** Node for the round-trip publish (created when missing). */
  testNode: string;
  /** The broker's /metrics URL, to read the fan-out path it chose. */
  metricsUrl?: string;
  /** Clock skew above this is reported (ms). */
  maxSkewMs?: number;
  timeoutMs?: number;
};

const DISCO_INFO = 'http://jabber.org/protocol/disco#info';
const DISCO_ITEMS = 'http://jabber.org/protocol/disco#items';
const ADDRESS = 'http://jabber.org/protocol/address';
const PUBSUB = 'http://jabber.org/protocol/pubsub';

function hostPort(server: string): { host: string; port: number } {
  const u = new URL(server);
  return { host: u.hostname, port: Number(u.port || (u.protocol === 'xmpps:' ? 5223 : 5222)) };
}

/** TCP reachability of the server's client port. */
export function checkReachable(server: string, timeoutMs: number): Promise<Verdict> {
  const { host, port } = hostPort(server);
  const t0 = Date.now();
  return new Promise((resolve) => {
    const s = createConnection({ host, port });
    const done = (v: Verdict) => {
      s.destroy();
      clearTimeout(timer);
      resolve(v);
    };
    const timer = setTimeout(
      () => done({ check: 'server reachable', status: 'fail', detail: `${host}:${port}: no answer within ${timeoutMs} ms`, fix: 'check the address, the firewall, and that the server listens on this interface (Prosody: interfaces; ejabberd: ip of the listener)' }),
      timeoutMs,
    );
    s.once('connect', () => done({ check: 'server reachable', status: 'ok', detail: `${host}:${port} (${Date.now() - t0} ms)` }));
    s.once('error', (e: NodeJS.ErrnoException) =>
      done({
        check: 'server reachable',
        status: 'fail',
        detail: `${host}:${port}: ${e.code ?? e.message}`,
        fix: e.code === 'ENOTFOUND' ? `the name ${host} does not resolve: check DNS or give --server xmpp://IP:PORT` : 'is the XMPP server running? (systemctl status prosody / ejabberd) Is the port right?',
      }),
    );
  });
}

/** Log in; tells a certificate problem and a wrong password apart from the rest. */
export async function checkLogin(conn: ConnectionOptions, timeoutMs: number): Promise<{ verdict: Verdict; agent?: Agent }> {
  try {
    const agent = await connectAgent({ ...conn, name: 'doctor', waitForServer: false, servicePingMs: 0, iqTimeoutMs: timeoutMs });
    return { verdict: { check: 'login', status: 'ok', detail: `${agent.jid} (TLS and authentication)` }, agent };
  } catch (e) {
    const msg = (e as Error).message;
    if (/self[- ]signed|certificate|unable to verify|CERT_/i.test(msg))
      return { verdict: { check: 'login', status: 'fail', detail: msg, fix: "the server's certificate is not trusted: pass its CA with --trust FILE (or VOXNET_TRUST), or install a certificate from a public CA on the server" } };
    if (/authentication failed/.test(msg))
      return { verdict: { check: 'login', status: 'fail', detail: msg, fix: 'wrong JID or password, or the account does not exist (prosodyctl register USER HOST PASSWORD / ejabberdctl register)' } };
    return { verdict: { check: 'login', status: 'fail', detail: msg, fix: 'see the server log for why the session was refused' } };
  }
}

function identities(info: Element): { category: string; type: string; name?: string }[] {
  return info.getChild('query', DISCO_INFO)?.getChildren('identity').map((i) => ({ category: i.attrs.category, type: i.attrs.type, name: i.attrs.name })) ?? [];
}
function features(info: Element): string[] {
  return info.getChild('query', DISCO_INFO)?.getChildren('feature').map((f) => f.attrs.var as string) ?? [];
}

/** The publish-subscribe component answers (it is connected to the server) and how many nodes it has. */
export async function checkComponent(agent: Agent, timeoutMs: number): Promise<Verdict> {
  const check = 'pubsub component';
  try {
    const info = await agent.iq('get', xml('query', { xmlns: DISCO_INFO }), { timeoutMs });
    const isPubsub = identities(info).some((i) => i.category === 'pubsub' && i.type === 'service') || features(info).includes(PUBSUB);
    if (!isPubsub) return { check, status: 'fail', detail: `${agent.service} answers but is not a publish-subscribe service`, fix: 'give the pubsub component with --service JID (VOXNET_PUBSUB)' };
    const items = await agent.iq('get', xml('query', { xmlns: DISCO_ITEMS }), { timeoutMs });
    const n = items.getChild('query', DISCO_ITEMS)?.getChildren('item').length ?? 0;
    return { check, status: 'ok', detail: `${agent.service} answers, ${n} nodes visible to ${agent.bare}` };
  } catch (e) {
    if (e instanceof XmppIqError && ['service-unavailable', 'remote-server-not-found', 'remote-server-timeout', 'item-not-found'].includes(e.condition))
      return {
        check,
        status: 'fail',
        detail: `${agent.service}: ${e.condition}`,
        fix: `the broker is not connected to the server as ${agent.service}: check the server's component entry (Prosody: Component "${agent.service}" with component_secret; ejabberd: an ejabberd_service listener), that the broker runs (systemctl status voxnet-broker) and its log for "broker ready"`,
      };
    return { check, status: 'fail', detail: `${agent.service}: ${(e as Error).message}`, fix: 'is the broker running and connected? see its log' };
  }
}

/** An XEP-0033 service on the server (what the broker fans out through), and, with the broker's metrics, the path the broker chose. */
export async function checkMulticast(agent: Agent, metricsUrl: string | undefined, timeoutMs: number): Promise<Verdict> {
  const check = 'fan-out path';
  const server = agent.domain;
  const services: string[] = [];
  try {
    const items = await agent.iq('get', xml('query', { xmlns: DISCO_ITEMS }), { to: server, timeoutMs });
    const jids = [server, ...(items.getChild('query', DISCO_ITEMS)?.getChildren('item').map((i) => i.attrs.jid as string) ?? [])];
    for (const jid of jids) {
      const info = await agent.iq('get', xml('query', { xmlns: DISCO_INFO }), { to: jid, timeoutMs }).catch(() => undefined);
      if (info && (features(info).includes(ADDRESS) || identities(info).some((i) => i.category === 'service' && i.type === 'multicast'))) services.push(jid);
    }
  } catch (e) {
    return { check, status: 'warn', detail: `cannot list ${server}'s services: ${(e as Error).message}` };
  }
  let chosen: string | undefined;
  if (metricsUrl) {
    try {
      const text = await (await fetch(metricsUrl, { signal: AbortSignal.timeout(timeoutMs) })).text();
      const m = /^voxnet_fanout_path\{([^}]*)\}\s+1\s*$/m.exec(text);
      chosen = m ? m[1] : undefined;
    } catch (e) {
      return { check, status: 'warn', detail: `cannot read ${metricsUrl}: ${(e as Error).message}`, fix: "check the broker's metrics_port and metrics_host" };
    }
  }
  if (!services.length)
    return {
      check,
      status: 'warn',
      detail: `${server} offers no XEP-0033 multicast service: the broker sends one stanza per subscriber (several times slower)`,
      fix: 'Prosody: load mod_voxnet_multicast as a component trusting the broker (docs/deploy.md); ejabberd: enable mod_multicast with raised limits and an access rule for the broker',
    };
  if (chosen !== undefined && chosen.includes('path="direct"'))
    return { check, status: 'warn', detail: `multicast offered by ${services.join(', ')}, but the broker sends per subscriber (${chosen})`, fix: "the service refuses the broker: add the broker's domain to multicast_trusted_senders (Prosody) or to the voxnet_multicast_senders ACL (ejabberd), then restart the broker" };
  return { check, status: 'ok', detail: `XEP-0033 multicast at ${services.join(', ')}${chosen ? `; the broker uses it (${chosen})` : ''}` };
}

/** A test alert (role=test) published to the test node comes back as a notification. */
export async function checkRoundTrip(agent: Agent, node: string, timeoutMs: number): Promise<Verdict> {
  const check = 'publish round trip';
  await ensureNode(agent, node, 'the doctor test node');
  let resolveSeen: (id: string) => void = () => {};
  const seen = new Promise<string>((r) => (resolveSeen = r));
  let follower;
  try {
    follower = await agent.follow(node, async (item) => resolveSeen(item.id), { since: 'latest', unsubscribeOnStop: true });
  } catch (e) {
    return { check, status: 'fail', detail: `cannot subscribe to ${node}: ${(e as Error).message}`, fix: `use --test-node with a node ${agent.bare} may subscribe to and publish on, or allow it to create nodes (broker create_nodes)` };
  }
  try {
    const ev = heartbeatEvent({ ivornBase: `ivo://${agent.domain}/voxnet/doctor`, seq: Date.now(), at: new Date(), intervalMs: 1000, source: `voxnet doctor as ${agent.bare}`, role: 'test' });
    const t0 = Date.now();
    let id: string;
    try {
      id = (await publishVOEvent(agent, node, build(ev))).id;
    } catch (e) {
      return { check, status: 'fail', detail: `publish to ${node} refused: ${(e as Error).message}`, fix: `give ${agent.bare} the publisher affiliation on ${node}, or choose another --test-node` };
    }
    const acked = Date.now() - t0;
    const got = await Promise.race([seen, new Promise<undefined>((r) => setTimeout(() => r(undefined), timeoutMs).unref())]);
    if (got !== id) return { check, status: 'fail', detail: `published ${id} (acknowledged in ${acked} ms) but no notification within ${timeoutMs} ms`, fix: 'the broker stores but does not deliver: check the fan-out path above and the broker log for "notification delivery failed"' };
    return { check, status: 'ok', detail: `${node}: acknowledged in ${acked} ms, notified in ${Date.now() - t0} ms` };
  } finally {
    await follower.stop().catch(() => {});
  }
}

/** Clock skew with the server (XEP-0202 entity time): embargoes and latency figures depend on clocks. */
export async function checkClock(agent: Agent, maxSkewMs: number, timeoutMs: number): Promise<Verdict> {
  const check = 'clock';
  const t0 = Date.now();
  try {
    const reply = await agent.iq('get', xml('time', { xmlns: 'urn:xmpp:time' }), { to: agent.domain, timeoutMs });
    const t1 = Date.now();
    const utc = reply.getChild('time', 'urn:xmpp:time')?.getChildText('utc');
    const server = utc ? Date.parse(utc) : NaN;
    if (!Number.isFinite(server)) return { check, status: 'warn', detail: `${agent.domain} answered without a time` };
    // XEP-0202 gives whole seconds at best: a skew under 1 s cannot be seen.
    const skew = server - (t0 + t1) / 2;
    const text = `${skew >= 0 ? '+' : ''}${(skew / 1000).toFixed(1)} s against ${agent.domain} (round trip ${t1 - t0} ms)`;
    if (Math.abs(skew) > maxSkewMs) return { check, status: 'warn', detail: text, fix: 'synchronise the clocks (systemd-timesyncd, chrony): embargo ends and latency measures use them' };
    return { check, status: 'ok', detail: text };
  } catch (e) {
    return { check, status: 'warn', detail: `${agent.domain} does not tell its time (${(e as Error).message})`, fix: 'enable the server\'s entity time module (Prosody: "time" in modules_enabled; ejabberd: mod_time) to let the doctor check clocks' };
  }
}

/** Every check in order; `onVerdict` sees each as it is made. Returns all verdicts. */
export async function runDoctor(opts: DoctorOptions, onVerdict: (v: Verdict) => void = () => {}): Promise<Verdict[]> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const out: Verdict[] = [];
  const say = (v: Verdict) => {
    out.push(v);
    onVerdict(v);
  };
  const domain = opts.connection.jid.replace(/\/.*$/, '').split('@')[1]!;
  const server = opts.connection.server ?? `xmpp://${domain}:5222`;
  const reach = await checkReachable(server, timeoutMs);
  say(reach);
  if (reach.status === 'fail') return out;
  const { verdict, agent } = await checkLogin({ ...opts.connection, server }, timeoutMs);
  say(verdict);
  if (!agent) return out;
  try {
    const comp = await checkComponent(agent, timeoutMs);
    say(comp);
    say(await checkMulticast(agent, opts.metricsUrl, timeoutMs));
    if (comp.status !== 'fail') say(await checkRoundTrip(agent, opts.testNode, timeoutMs));
    say(await checkClock(agent, opts.maxSkewMs ?? 2000, timeoutMs));
  } finally {
    await agent.stop().catch(() => {});
  }
  return out;
}
