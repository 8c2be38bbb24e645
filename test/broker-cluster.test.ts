/**
 * Past one machine (issue 19), with real processes: two brokers of one service
 * domain (active/standby on the domain's PostgreSQL advisory lock, one shared
 * store), a two-node ejabberd cluster, subscribers on raw sockets spread over
 * both nodes. Faults under load: SIGKILL of the active broker mid-stream, a
 * node of the cluster stopped mid-stream and started again, the active broker's
 * lock connection cut. Each time: no acknowledged item lost, every subscriber
 * gets every item (live, or through a catch-up with RSM as subscribers do after
 * a reconnection), none twice. `npx tsx bench/cluster.ts` runs it with 1,000
 * subscribers and many kills.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { ejabberdAvailable } from '../broker-component/servers/ejabberd.ts';
import { postgresAvailable, POSTGRES_MISSING } from './helpers/postgres.ts';
import { startClusterWorld, account, settle, type ClusterWorld } from '../bench/lib/cluster.ts';
import { untilValue } from './helpers/until.ts';
import { connectAgent, type Agent } from '../agents/lib/index.ts';

const SUBSCRIBERS = 200;
const NODE = 'alerts';
const available = ejabberdAvailable() && postgresAvailable();
const why = !ejabberdAvailable() ? 'ejabberd is not installed (apt-get install ejabberd)' : POSTGRES_MISSING;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!available)(`two brokers on a two-node ejabberd cluster${available ? '' : ` (skipped: ${why})`}`, () => {
  let w: ClusterWorld;
  let agent: Agent | undefined;

  beforeAll(async () => {
    w = await startClusterWorld({ subscribers: SUBSCRIBERS, store: STORE, });
    await w.createNode(NODE);
    await w.subscribeAll(NODE);
  }, 240_000);
  afterAll(async () => {
    await agent?.stop();
    await w?.stop();
  });

  it('one broker is active, the other stands by', async () => {
    expect(await w.activeBroker()).toBe(0);
    expect(await w.standbyBrokers()).toEqual([1]); // blocked on the lock, not failed
  });

  it(`SIGKILL of the active broker while publishing to ${SUBSCRIBERS} subscribers: the standby takes over, nothing lost, nothing twice`, async () => {
    const run = 1;
    const publishing = w.publish(NODE, run, 80, 4, 10);
    await sleep(400 + Math.random() * 400);
    const killedAt = Date.now();
    await w.killBroker(0);
    await w.waitServing(60_000);
    const servingAfter = Date.now() - killedAt;
    expect(await w.activeBroker()).toBe(1);
    const acked = await publishing;
    const stored = await w.stored(NODE, run);
    await settle(w, run, stored.length, 15_000);
    await w.catchUpAll(NODE, run);
    const a = account(w, run, acked, stored);
    console.log(`takeover after SIGKILL: serving again ${servingAfter} ms after the kill; ${a.live} live and ${a.caught} caught-up deliveries`);
    expect(acked).toHaveLength(80); // the publisher got every item through (retrying across the takeover)
    expect(a.notStored).toEqual([]);
    expect(a.missing).toEqual([]);
    expect(a.duplicated).toEqual([]);
    expect(stored).toEqual([...new Set(stored)]);
    // The killed broker comes back as the standby.
    w.startBroker(0);
    await w.waitStandby(0);
    expect(await w.activeBroker()).toBe(1);
  }, 180_000);

  it('a node of the cluster stopped mid-stream: its clients reconnect to the other node and catch up; started again, it rejoins', async () => {
    const run = 2;
    // Broker 1 (active) prefers node 2: stopping node 2 also moves its component link to node 1
    // (the service goes on serving only if it does: the other broker stands by).
    expect(await w.activeBroker()).toBe(1);
    expect(w.brokers[1]!.urls[0]).toBe(w.cluster.nodes[1]!.componentUrls['pubsub.svom.fr']);
    const onNode2 = w.subs.filter((s) => s.node === 1);
    expect(onNode2.length).toBe(SUBSCRIBERS / 2);
    // And a VOXnet agent given both nodes (node 2 first): it moves to node 1 by itself and its follow() catches up.
    const [n1, n2] = [w.cluster.nodes[0]!, w.cluster.nodes[1]!];
    await n1.addUser('follower', 'svom.fr', 'pw-follower');
    agent = await connectAgent({
      jid: 'follower@svom.fr',
      password: 'pw-follower',
      server: `${n2.c2sUrl},${n1.c2sUrl}`,
      service: 'pubsub.svom.fr',
      trust: [...n1.certFiles, ...n2.certFiles],
      name: 'follower',
      backoff: { initialMs: 200, maxMs: 2000 },
    });
    expect(agent.server).toBe(n2.c2sUrl);
    const handled = new Map<string, number>();
    const follower = await agent.follow(NODE, (it) => void handled.set(it.id, (handled.get(it.id) ?? 0) + 1), { since: 'latest', resyncMs: 2000 });
    const publishing = w.publish(NODE, run, 60, 4, 20);
    await sleep(300 + Math.random() * 300);
    await w.cluster.nodes[1]!.stop();
    // What a client does when its server goes away: connect to another node of the service.
    await Promise.all(onNode2.map((s) => w.reconnect(s, 0)));
    const acked = await publishing;
    const stored = await w.stored(NODE, run);
    await settle(w, run, stored.length, 10_000);
    await w.catchUpAll(NODE, run);
    const a = account(w, run, acked, stored);
    console.log(`node 2 stopped: ${a.live} live and ${a.caught} caught-up deliveries`);
    const ids = (await w.storedIds(NODE)).filter((id) => id.startsWith(`vxc~${run}~`));
    await untilValue(() => ids.every((id) => handled.has(id)), 60_000, 'the agent to catch up on node 1');
    expect(agent.server).toBe(n1.c2sUrl);
    expect([...handled.values()].filter((n) => n > 1)).toEqual([]);
    await follower.stop();
    expect(acked).toHaveLength(60);
    expect(a.notStored).toEqual([]);
    expect(a.missing).toEqual([]);
    expect(a.duplicated).toEqual([]);

    await w.cluster.nodes[1]!.restart();
    await untilValue(async () => (await w.cluster.runningNodes(0)).length === 2, 60_000, 'node 2 to rejoin the cluster');
    // Clients go back to node 2 and receive live from it again.
    await Promise.all(onNode2.map((s) => w.reconnect(s, 1)));
    const run3 = 3;
    const acked3 = await w.publish(NODE, run3, 10, 2);
    await settle(w, run3, 10, 20_000);
    const a3 = account(w, run3, acked3, await w.stored(NODE, run3));
    expect(a3.missing).toEqual([]);
    expect(a3.duplicated).toEqual([]);
    expect(a3.live).toBe(10 * SUBSCRIBERS);
  }, 240_000);

  it("fencing: the active broker whose lock connection is cut stops at once; the standby takes over", async () => {
    const active = (await w.activeBroker())!;
    const standby = 1 - active;
    await w.pg.psql(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'voxnet-broker pid=${w.brokers[active]!.proc.pid} %'`);
    const code = await w.brokers[active]!.exited;
    expect(code).toBe(75);
    await w.waitServing(60_000);
    expect(await w.activeBroker()).toBe(standby);
    const run = 4;
    const acked = await w.publish(NODE, run, 5, 1);
    await settle(w, run, 5, 20_000);
    const a = account(w, run, acked, await w.stored(NODE, run));
    expect(a.missing).toEqual([]);
    expect(a.live).toBe(5 * SUBSCRIBERS);
  }, 120_000);

  it('SIGTERM: the active broker stops cleanly and hands over at once; a standby stops without serving', async () => {
    const active = (await w.activeBroker())!;
    const other = 1 - active;
    w.startBroker(other);
    await w.waitStandby(other);
    w.brokers[active]!.proc.kill('SIGTERM');
    expect(await w.brokers[active]!.exited).toBe(0);
    await w.waitServing(60_000);
    expect(await w.activeBroker()).toBe(other);
    // The stopped one comes back as a standby, and a standby told to stop just stops.
    w.startBroker(active);
    await w.waitStandby(active);
    w.brokers[active]!.proc.kill('SIGTERM');
    expect(await w.brokers[active]!.exited).toBe(0);
    expect(await w.activeBroker()).toBe(other);
  }, 120_000);
});

/** The store the brokers share. */
const STORE: 'postgres' | 'sqlite' = 'postgres';
