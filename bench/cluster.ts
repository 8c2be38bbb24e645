/**
 * One broker on one ejabberd node against two brokers (active/standby on the
 * domain's PostgreSQL advisory lock) on a two-node ejabberd cluster (issue 19),
 * same workload, same run, alternating rounds; then the takeover time after
 * SIGKILL of the active broker under load, over several kills.
 *
 *   npx tsx bench/cluster.ts [--subscribers 1000] [--publishes 100] [--inflight 4]
 *                            [--rounds 3] [--kills 5] [--node-stops 1] [--store postgres|sqlite]
 *
 * Both set-ups run side by side (bench/lib/cluster.ts): one PostgreSQL (a
 * database each, the brokers' shared store), "single" = 1 ejabberd node + 1
 * broker, "cluster" = 2 ejabberd nodes + 2 brokers, N raw-socket subscribers
 * each (on the cluster, half on each node), a publisher on node 1 publishing M
 * items (~0.5 KB) with K in flight. Per round and set-up: deliveries/s (N×M over
 * the time from the first publish to the last delivery), publish-to-delivery
 * latency p50/p99, CPU of the ejabberd node(s) per delivery and of the active
 * broker per publish. Then, on the cluster, `--kills` times: a stream of 60
 * items, SIGKILL of the active broker at a random instant, the time until the
 * service answers again (the standby took over and connected), and the
 * accounting of every item at every subscriber (live or caught up, none twice).
 * Then `--node-stops` times: ejabberd node 2 stopped mid-stream (its subscribers
 * reconnect to node 1 and catch up; the active broker's link fails over if it was
 * there), started again (time until both nodes see each other), its subscribers
 * moved back.
 *
 * File descriptors: 2N sockets here and 2N in the servers; `ulimit -n` must allow it.
 */
import { parseArgs } from 'node:util';
import { startPostgres } from '../test/helpers/postgres.ts';
import { startClusterWorld, account, settle, type ClusterWorld } from './lib/cluster.ts';
import { cpuSeconds, openFilesLimit, rssMB } from './lib/proc.ts';
import { median, pool, sleep } from './lib/stats.ts';

const { values: args } = parseArgs({
  options: {
    subscribers: { type: 'string', default: '1000' },
    publishes: { type: 'string', default: '100' },
    inflight: { type: 'string', default: '4' },
    rounds: { type: 'string', default: '3' },
    kills: { type: 'string', default: '5' },
    'node-stops': { type: 'string', default: '1' },
    store: { type: 'string', default: 'postgres' },
  },
});
const N = Number(args.subscribers);
const M = Number(args.publishes);
const K = Number(args.inflight);
const ROUNDS = Number(args.rounds);
const KILLS = Number(args.kills);
const NODE_STOPS = Number(args['node-stops']);
const STORE = args.store as 'postgres' | 'sqlite';
if (openFilesLimit() < 4 * N + 200) throw new Error(`ulimit -n is ${openFilesLimit()}: ${4 * N + 200} file descriptors are needed (ulimit -n 65536)`);

const NODE = 'bench';
const log = (s: string) => console.error(s);
type Row = { setup: string; round: number; perS: number; p50: number; p99: number; lost: number; dup: number; serverUsPerDelivery: number; brokerMsPerPublish: number };
const rows: Row[] = [];
let runSeq = 100;

async function measure(name: string, w: ClusterWorld, round: number): Promise<Row> {
  const run = ++runSeq;
  const pids = w.pids();
  const cpu = (ps: number[]) => ps.reduce((s, p) => s + (cpuSeconds(p) || 0), 0);
  const s0 = cpu(pids.servers);
  const b0 = cpu(pids.brokers);
  const t0 = Date.now();
  const acked = await w.publish(NODE, run, M, K);
  await settle(w, run, M, 60_000);
  const wall = ((w.lastAt.get(run) ?? Date.now()) - t0) / 1000;
  const delivered = w.delivered.get(run) ?? 0;
  const a = account(w, run, acked, await w.stored(NODE, run));
  const row: Row = {
    setup: name,
    round,
    perS: delivered / wall,
    p50: a.p50,
    p99: a.p99,
    lost: a.missing.length + a.notStored.length,
    dup: a.duplicated.length,
    serverUsPerDelivery: ((cpu(pids.servers) - s0) / Math.max(1, delivered)) * 1e6,
    brokerMsPerPublish: ((cpu(pids.brokers) - b0) / M) * 1000,
  };
  if (a.missing.length) {
    const users = new Set(a.missing.map((m) => m.split(':')[0]));
    const closed = w.subs.filter((x) => x.client.socket.destroyed).map((x) => x.user);
    log(`  missing: ${a.missing.length} deliveries to ${users.size} subscribers (${[...users].slice(0, 5).join(', ')}…), e.g. ${a.missing.slice(0, 5).join(', ')}; connections closed: ${closed.length} (${closed.slice(0, 5).join(', ')})`);
  }
  log(`${name.padEnd(8)} round ${round}: ${row.perS.toFixed(0)} deliveries/s, p50 ${row.p50} ms, p99 ${row.p99} ms, lost ${row.lost}, dup ${row.dup}, server ${row.serverUsPerDelivery.toFixed(0)} µs/delivery, broker ${row.brokerMsPerPublish.toFixed(2)} ms/publish`);
  return row;
}

const pg = await startPostgres();
const worlds: [string, ClusterWorld][] = [];
try {
  worlds.push(['single', await startClusterWorld({ nodes: 1, brokers: 1, subscribers: N, store: STORE, postgres: pg, log })]);
  worlds.push(['cluster', await startClusterWorld({ nodes: 2, brokers: 2, subscribers: N, store: STORE, postgres: pg, log })]);
  for (const [name, w] of worlds) {
    await w.createNode(NODE);
    await w.subscribeAll(NODE);
    const p = w.pids();
    const mb = (ps: number[]) => ps.map((x) => rssMB(x).toFixed(0)).join(' + ');
    log(`${name}: resident memory with ${N} subscribers: ejabberd ${mb(p.servers)} MB, brokers ${mb(p.brokers)} MB`);
  }
  for (const [name, w] of worlds) {
    const run = ++runSeq;
    await w.publish(NODE, run, Math.min(20, M), K);
    await settle(w, run, Math.min(20, M), 30_000);
    log(`warm-up ${name} done`);
  }
  for (let r = 1; r <= ROUNDS; r++) {
    // Alternate the order too, so neither always runs first.
    const order = r % 2 ? worlds : [...worlds].reverse();
    for (const [name, w] of order) {
      rows.push(await measure(name, w, r));
      await sleep(1000);
    }
  }

  // Takeover after SIGKILL of the active broker, under a stream.
  const cl = worlds[1]![1];
  const takeovers: number[] = [];
  const killTally = { items: 0, lost: 0, dup: 0, caught: 0 };
  for (let k = 1; k <= KILLS; k++) {
    const run = ++runSeq;
    // A node per kill: the catch-up of 1,000 subscribers pages through its 60 items only.
    const node = `kill-${k}`;
    await cl.createNode(node);
    await cl.subscribeAll(node);
    const active = (await cl.activeBroker())!;
    const publishing = cl.publish(node, run, 60, K, 10);
    await sleep(300 + Math.random() * 500);
    const killedAt = Date.now();
    await cl.killBroker(active);
    await cl.waitServing(60_000);
    takeovers.push(Date.now() - killedAt);
    const acked = await publishing;
    const stored = await cl.stored(node, run);
    await settle(cl, run, stored.length, 15_000);
    await cl.catchUpAll(node, run);
    const a = account(cl, run, acked, stored);
    killTally.items += stored.length;
    killTally.lost += a.missing.length + a.notStored.length;
    killTally.dup += a.duplicated.length;
    killTally.caught += a.caught;
    log(`kill ${k}: broker ${active} killed, serving again after ${takeovers.at(-1)} ms; ${stored.length} items, ${a.caught} deliveries caught up, lost ${a.missing.length + a.notStored.length}, dup ${a.duplicated.length}`);
    cl.startBroker(active); // back as the standby
    await cl.waitStandby(active);
  }

  // ejabberd node 2 stopped under the stream, then started again.
  const stopTally = { items: 0, lost: 0, dup: 0, caught: 0, moveMs: [] as number[], rejoinMs: [] as number[] };
  for (let k = 1; k <= NODE_STOPS; k++) {
    const run = ++runSeq;
    const node = `stop-${k}`;
    await cl.createNode(node);
    await cl.subscribeAll(node);
    const moved = cl.subs.filter((s) => s.node === 1);
    const publishing = cl.publish(node, run, 60, K, 10);
    await sleep(300 + Math.random() * 500);
    await cl.cluster.nodes[1]!.stop();
    const t0 = Date.now();
    await pool(moved, 100, (s) => cl.reconnect(s, 0));
    stopTally.moveMs.push(Date.now() - t0);
    const acked = await publishing;
    const stored = await cl.stored(node, run);
    await settle(cl, run, stored.length, 15_000);
    await cl.catchUpAll(node, run);
    const a = account(cl, run, acked, stored);
    stopTally.items += stored.length;
    stopTally.lost += a.missing.length + a.notStored.length;
    stopTally.dup += a.duplicated.length;
    stopTally.caught += a.caught;
    const t1 = Date.now();
    await cl.cluster.nodes[1]!.restart();
    while ((await cl.cluster.runningNodes(0)).length < 2) await sleep(200);
    stopTally.rejoinMs.push(Date.now() - t1);
    await pool(moved, 100, (s) => cl.reconnect(s, 1));
    log(`node stop ${k}: ${moved.length} subscribers moved to node 1 in ${stopTally.moveMs.at(-1)} ms; ${stored.length} items, ${a.caught} deliveries caught up, lost ${a.missing.length + a.notStored.length}, dup ${a.duplicated.length}; node 2 back in the cluster ${stopTally.rejoinMs.at(-1)} ms after its start`);
  }

  const by = (s: string) => rows.filter((r) => r.setup === s);
  const med = (s: string, f: (r: Row) => number) => median(by(s).map(f));
  console.log(`\n${N} subscribers, ${M} publishes × ${ROUNDS} rounds, ${K} in flight, store ${STORE}; machine shared with other jobs\n`);
  console.log('| set-up | deliveries/s (rounds) | p50 ms | p99 ms | ejabberd µs CPU/delivery | broker ms CPU/publish | lost | dup |');
  console.log('|---|---|---:|---:|---:|---:|---:|---:|');
  for (const s of ['single', 'cluster']) {
    const rs = by(s);
    console.log(
      `| ${s === 'single' ? '1 broker + 1 ejabberd node' : '2 brokers (active/standby) + 2 nodes'} | ${rs.map((r) => r.perS.toFixed(0)).join(', ')} | ${med(s, (r) => r.p50)} | ${med(s, (r) => r.p99)} | ${med(s, (r) => r.serverUsPerDelivery).toFixed(0)} | ${med(s, (r) => r.brokerMsPerPublish).toFixed(2)} | ${rs.reduce((x, r) => x + r.lost, 0)} | ${rs.reduce((x, r) => x + r.dup, 0)} |`,
    );
  }
  console.log(`\nratio cluster/single (medians): deliveries/s ${(med('cluster', (r) => r.perS) / med('single', (r) => r.perS)).toFixed(2)}, p50 ${(med('cluster', (r) => r.p50) / med('single', (r) => r.p50)).toFixed(2)}, p99 ${(med('cluster', (r) => r.p99) / med('single', (r) => r.p99)).toFixed(2)}`);
  if (takeovers.length) {
    const s = [...takeovers].sort((a, b) => a - b);
    console.log(`\ntakeover after SIGKILL (${s.length} kills, kill → service answering): ${s.join(', ')} ms; median ${median(s)} ms, max ${s.at(-1)} ms`);
    console.log(`items over the kills: ${killTally.items} × ${N} subscribers, ${killTally.caught} deliveries by catch-up, lost ${killTally.lost}, duplicated ${killTally.dup}`);
  }
  if (NODE_STOPS) {
    console.log(`\nejabberd node 2 stopped mid-stream (${NODE_STOPS}×): its ${N / 2} subscribers moved to node 1 in ${stopTally.moveMs.join(', ')} ms; node 2 back in the cluster ${stopTally.rejoinMs.join(', ')} ms after its (re)start`);
    console.log(`items over the stops: ${stopTally.items} × ${N} subscribers, ${stopTally.caught} deliveries by catch-up, lost ${stopTally.lost}, duplicated ${stopTally.dup}`);
  }
  process.exitCode = rows.some((r) => r.lost || r.dup) || killTally.lost || killTally.dup || stopTally.lost || stopTally.dup ? 1 : 0;
} finally {
  for (const [, w] of worlds) await w.stop();
  await pg.close();
}
