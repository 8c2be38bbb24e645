/**
 * Federation benchmark (issue 15), on two real federated servers: svom.fr on
 * Prosody (127.0.0.2) and svom.cn on ejabberd (127.0.0.3), s2s over TLS with
 * certificate authentication, a VOXnet broker on each side (see
 * test/helpers/federation-env.ts), both in their default configuration apart
 * from the test CA and raised multicast limits.
 *
 *   npx tsx bench/federation.ts [--subscribers 1000] [--publishes 20] [--rounds 3]
 *                               [--cut 60] [--items 1000] [--skip-latency] [--skip-partition]
 *
 * 1. Latency: the same N subscribers on svom.cn (ejabberd) subscribe to a node of
 *    their own broker, pubsub.svom.cn ("local"), and to a node of the French broker,
 *    pubsub.svom.fr ("remote": every notification crosses the s2s link and is fanned
 *    out by svom.cn's mod_multicast). Publishes alternate local, remote, local, ...
 *    one at a time; each is timed from the publish being sent to every delivery (a
 *    marker in the item id, found in the raw bytes). Prints p50/p99/max per path and
 *    round, and the ratio remote/local: the cost of the s2s path for the same
 *    subscribers on the same server. --prosody-local adds N subscribers on svom.fr to
 *    a node of pubsub.svom.fr (Prosody's side, for reference).
 * 2. Partition: mirrors both ways (agents/mirror), the s2s link cut for --cut s
 *    while each side publishes --items items on its own node; then the time from
 *    the link's return until both mirrored nodes hold exactly their origin's items.
 *
 * The machine is shared: figures vary between runs; compare the two sides of one run.
 */
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { xml } from '@xmpp/xml';
import { startFederatedEnv, type FederatedEnv } from '../test/helpers/federation-env.ts';
import { RawClient, MarkerScanner } from './lib/raw-xmpp.ts';
import { startMirror } from '../agents/mirror/mirror.ts';
import type { EjabberdServer } from '../broker-component/servers/ejabberd.ts';

const { values: args } = parseArgs({
  options: {
    subscribers: { type: 'string', default: '1000' },
    publishes: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '3' },
    cut: { type: 'string', default: '60' },
    items: { type: 'string', default: '1000' },
    'skip-latency': { type: 'boolean', default: false },
    'skip-partition': { type: 'boolean', default: false },
    'prosody-local': { type: 'boolean', default: false },
  },
});
const N = Number(args.subscribers);
const M = Number(args.publishes);
const ROUNDS = Number(args.rounds);
const CUT_S = Number(args.cut);
const ITEMS = Number(args.items);
const MARKER = 'vxfed';
const PS = 'http://jabber.org/protocol/pubsub';
const PAYLOAD = `<entry xmlns='urn:example:bench'><title>GRB 261206A: a bench alert of a few hundred bytes, as a short notice is</title><summary>${'x'.repeat(400)}</summary></entry>`;
const nowUs = () => Math.round(performance.now() * 1000);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};

async function pool<T>(items: T[], concurrency: number, fn: (t: T, i: number) => Promise<void>) {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  }));
}

async function latency(env: FederatedEnv) {
  const fr = env.fed.side('svom.fr').server;
  const cn = env.fed.side('svom.cn').server as unknown as EjabberdServer;
  const withProsody = args['prosody-local'];
  console.log(`latency: ${N} subscribers on svom.cn, to a node of pubsub.svom.cn (local) and of pubsub.svom.fr (remote, over s2s)${withProsody ? `; ${N} on svom.fr to pubsub.svom.fr` : ''}`);
  if (withProsody) for (let i = 0; i < N; i++) fr.addUser(`l${i}`, 'svom.fr', 'pw');
  await cn.addUsers(Array.from({ length: N }, (_, i) => ({ user: `r${i}`, host: 'svom.cn', password: 'pw' })), 16);
  fr.addUser('pub', 'svom.fr', 'pw');
  await cn.addUser('pub', 'svom.cn', 'pw');
  const pubs: Record<string, RawClient> = {
    'pubsub.svom.fr': await RawClient.login({ host: '127.0.0.1', port: fr.c2sPort, user: 'pub', domain: 'svom.fr', password: 'pw' }),
    'pubsub.svom.cn': await RawClient.login({ host: '127.0.0.1', port: cn.c2sPort, user: 'pub', domain: 'svom.cn', password: 'pw' }),
  };
  const sides = [
    { name: 'local', service: 'pubsub.svom.cn', node: 'local', server: cn as { c2sPort: number }, domain: 'svom.cn', prefix: 'r' },
    { name: 'remote', service: 'pubsub.svom.fr', node: 'remote', server: cn as { c2sPort: number }, domain: 'svom.cn', prefix: 'r' },
    ...(withProsody ? [{ name: 'prosody-local', service: 'pubsub.svom.fr', node: 'prosody-local', server: fr as { c2sPort: number }, domain: 'svom.fr', prefix: 'l' }] : []),
  ];
  for (const s of sides) await pubs[s.service]!.iq(`<iq type='set' id='ID' to='${s.service}'><pubsub xmlns='${PS}'><create node='${s.node}'/></pubsub></iq>`);
  // delivered[seq] = arrival times (µs) of that publish
  const arrivals = new Map<number, number[]>();
  const clients = new Map<string, RawClient>();
  for (const s of sides) {
    await pool(Array.from({ length: N }, (_, i) => i), 50, async (i) => {
      const key = `${s.prefix}${i}`;
      let c = clients.get(key);
      if (!c) {
        c = await RawClient.login({ host: '127.0.0.1', port: s.server.c2sPort, user: key, domain: s.domain, password: 'pw', resource: 'bench' });
        clients.set(key, c);
      }
      const r = await c.iq(`<iq type='set' id='ID' to='${s.service}'><pubsub xmlns='${PS}'><subscribe node='${s.node}' jid='${key}@${s.domain}'/></pubsub></iq>`, 60_000);
      if (r.type !== 'result') throw new Error(`subscribe ${key}: ${r.xml}`);
    });
    console.log(`  ${s.name}: ${N} subscribed`);
  }
  // From now on subscribers only count markers.
  for (const c of clients.values()) {
    {
      const scanner = new MarkerScanner(MARKER, (_run, seq) => {
        const t = nowUs();
        const list = arrivals.get(seq);
        if (list) list.push(t);
        else arrivals.set(seq, [t]);
      });
      c.onRaw((chunk) => scanner.push(chunk));
      c.textMode = false;
    }
  }
  let seq = 0;
  const publishOnce = async (s: (typeof sides)[number], warm: boolean) => {
    const { node } = s;
    const my = seq++;
    const t0 = nowUs();
    arrivals.set(my, []);
    await pubs[s.service]!.iq(`<iq type='set' id='ID' to='${s.service}'><pubsub xmlns='${PS}'><publish node='${node}'><item id='${MARKER}1~${my}~${t0}~'>${PAYLOAD}</item></publish></pubsub></iq>`, 60_000);
    const deadline = Date.now() + 60_000;
    while (arrivals.get(my)!.length < N && Date.now() < deadline) await sleep(2);
    const got = arrivals.get(my)!;
    if (got.length < N) console.log(`  ! ${node} publish ${my}: ${got.length}/${N} delivered within 60 s`);
    return warm ? [] : got.map((t) => (t - t0) / 1000);
  };
  for (const s of sides) for (let i = 0; i < 3; i++) await publishOnce(s, true); // warm-up: multicast lookups, s2s up
  const summary: { round: number; local: number[]; remote: number[] }[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const lat: Record<string, number[]> = Object.fromEntries(sides.map((s) => [s.name, []]));
    for (let i = 0; i < M; i++) for (const s of round % 2 ? sides : [...sides].reverse()) lat[s.name]!.push(...(await publishOnce(s, false)));
    const row = (n: string) => `p50 ${pct(lat[n]!, 50).toFixed(1)} ms, p99 ${pct(lat[n]!, 99).toFixed(1)} ms, max ${Math.max(...lat[n]!).toFixed(1)} ms (${lat[n]!.length} deliveries)`;
    for (const s of sides) console.log(`  round ${round}: ${s.name} ${row(s.name)}`);
    console.log(`  round ${round}: remote/local p50 ${(pct(lat.remote!, 50) / pct(lat.local!, 50)).toFixed(2)}, p99 ${(pct(lat.remote!, 99) / pct(lat.local!, 99)).toFixed(2)}`);
    summary.push({ round, local: [pct(lat.local!, 50), pct(lat.local!, 99)], remote: [pct(lat.remote!, 50), pct(lat.remote!, 99)] });
  }
  for (const c of clients.values()) c.close();
  for (const p of Object.values(pubs)) p.close();
  return summary;
}

async function partition(env: FederatedEnv) {
  console.log(`partition: mirrors both ways, link cut ${CUT_S} s, ${ITEMS} items per side during the cut`);
  const c = {
    fsc: await env.client('fsc', 'svom.fr'),
    wei: await env.client('wei', 'svom.cn'),
    mfr: await env.client('mirror', 'svom.fr'),
    mcn: await env.client('mirror', 'svom.cn'),
  };
  const create = (cl: typeof c.fsc, service: string, node: string) => cl.iq('set', service, xml('pubsub', { xmlns: PS }, xml('create', { node })), 30_000);
  await create(c.fsc, 'pubsub.svom.fr', 'grb');
  await create(c.wei, 'pubsub.svom.cn', 'gwac');
  await create(c.mfr, 'pubsub.svom.fr', 'gwac');
  await create(c.mcn, 'pubsub.svom.cn', 'grb');
  const conn = (d: string) => ({ jid: `mirror@${d}`, password: 'mirror', server: env.fed.side(d).server.c2sUrl, trust: env.fed.certFiles, servicePingMs: 2000, resyncMs: 5000 });
  const every = ['mirror@svom.fr', 'mirror@svom.cn'];
  const mirrors = [
    await startMirror({ connection: conn('svom.cn'), origin: 'pubsub.svom.fr', local: 'pubsub.svom.cn', mirrors: every, nodes: [{ from: 'grb', to: 'grb' }] }),
    await startMirror({ connection: conn('svom.fr'), origin: 'pubsub.svom.cn', local: 'pubsub.svom.fr', mirrors: every, nodes: [{ from: 'gwac', to: 'gwac' }] }),
  ];
  // Items a node holds: the RSM count of a one-item page (a plain items request is capped at a page).
  const count = async (cl: typeof c.fsc, service: string, node: string) => {
    const r = await cl.iq('get', service, xml('pubsub', { xmlns: PS }, xml('items', { node }), xml('set', { xmlns: 'http://jabber.org/protocol/rsm' }, xml('max', {}, '1'))), 30_000);
    return Number(r.getChild('pubsub')?.getChild('set')?.getChildText('count') ?? 0);
  };
  console.log('  mirrors started; cutting the link');
  env.fed.cut();
  const t0 = Date.now();
  const publishSide = async (cl: typeof c.fsc, service: string, node: string) => {
    for (let i = 0; i < ITEMS; i++) {
      await cl.iq('set', service, xml('pubsub', { xmlns: PS }, xml('publish', { node }, xml('item', { id: `${node}-${i}` }, xml('entry', { xmlns: 'urn:example:bench' }, xml('title', {}, `${node} ${i}`))))), 30_000);
      if ((i + 1) % Math.max(1, Math.round(ITEMS / 4)) === 0) console.log(`  ${node}: ${i + 1} published (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
      const due = t0 + ((i + 1) * CUT_S * 1000) / ITEMS; // spread over the cut
      if (due > Date.now()) await sleep(due - Date.now());
    }
  };
  await Promise.all([publishSide(c.fsc, 'pubsub.svom.fr', 'grb'), publishSide(c.wei, 'pubsub.svom.cn', 'gwac')]);
  if (Date.now() - t0 < CUT_S * 1000) await sleep(CUT_S * 1000 - (Date.now() - t0));
  const crossed = await count(c.mcn, 'pubsub.svom.cn', 'grb');
  env.fed.heal();
  const tHeal = performance.now();
  for (;;) {
    const [a, b] = await Promise.all([count(c.mcn, 'pubsub.svom.cn', 'grb'), count(c.mfr, 'pubsub.svom.fr', 'gwac')]);
    if (a === ITEMS && b === ITEMS) break;
    if (performance.now() - tHeal > 600_000) throw new Error(`no convergence after 600 s: ${a}, ${b} of ${ITEMS}`);
    await sleep(100);
  }
  const converged = (performance.now() - tHeal) / 1000;
  console.log(`  items mirrored during the cut: ${crossed} (0 expected); converged ${converged.toFixed(1)} s after the link returned (${ITEMS} items per side)`);
  await Promise.all(mirrors.map((m) => m.stop()));
  return converged;
}

const env = await startFederatedEnv({ cn: { kind: 'ejabberd' } });
try {
  if (!args['skip-latency']) await latency(env);
  if (!args['skip-partition']) await partition(env);
} finally {
  await env.stop();
}
process.exit(0);
