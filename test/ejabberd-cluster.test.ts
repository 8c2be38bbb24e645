/**
 * The two-node ejabberd cluster helper (broker-component/servers/ejabberd-cluster.ts)
 * against the installed Debian ejabberd: `ejabberdctl join_cluster` joins the nodes,
 * accounts and sessions are shared, a component domain registered through node 1
 * is reachable from clients of node 2, and a node stopped and started again rejoins.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { ejabberdAvailable } from '../broker-component/servers/ejabberd.ts';
import { startEjabberdCluster, type EjabberdCluster } from '../broker-component/servers/ejabberd-cluster.ts';
import { connectClient, xml, type TestClient } from './helpers/xmpp.ts';
import { connectComponent, type TestComponent } from './helpers/component.ts';
import { untilValue } from './helpers/until.ts';

const PUBSUB = 'pubsub.svom.fr';
const available = ejabberdAvailable();

describe.skipIf(!available)('ejabberd cluster of two nodes', () => {
  let cluster: EjabberdCluster;
  let alice: TestClient; // on node 1
  let bob: TestClient; // on node 2
  let comp: TestComponent; // through node 1
  const login = (i: number, user: string) =>
    connectClient({ service: cluster.nodes[i]!.c2sUrl, domain: 'svom.fr', username: user, password: `pw-${user}`, trust: cluster.nodes[i]!.certFiles });

  beforeAll(async () => {
    cluster = await startEjabberdCluster({ components: [{ domain: PUBSUB, secret: 'cluster-secret' }] });
    // Accounts are registered through node 1 only: Mnesia replicates them to node 2.
    await cluster.nodes[0]!.addUsers([
      { user: 'alice', host: 'svom.fr', password: 'pw-alice' },
      { user: 'bob', host: 'svom.fr', password: 'pw-bob' },
    ]);
    alice = await login(0, 'alice');
    bob = await login(1, 'bob');
    comp = await connectComponent({ service: cluster.nodes[0]!.componentUrls[PUBSUB]!, domain: PUBSUB, password: 'cluster-secret' });
  }, 120_000);

  afterAll(async () => {
    await Promise.all([alice, bob, comp].map((c) => c?.stop()));
    await cluster?.stop();
  });

  it('joins the nodes: each one sees both running', async () => {
    expect(cluster.nodes[0]!.c2sPort).not.toBe(cluster.nodes[1]!.c2sPort);
    expect(cluster.nodes[0]!.dir).not.toBe(cluster.nodes[1]!.dir);
    for (const i of [0, 1]) expect(await cluster.runningNodes(i)).toEqual([...cluster.names].sort());
  });

  it('lets a client on node 1 and a client on node 2 exchange messages (full and bare JIDs)', async () => {
    await alice.xmpp.send(xml('message', { to: bob.jid, type: 'chat' }, xml('body', {}, 'from node 1')));
    const m = await bob.waitMessage((s) => s.getChildText('body') === 'from node 1');
    expect(m.attrs.from).toBe(alice.jid);
    await bob.xmpp.send(xml('message', { to: 'alice@svom.fr', type: 'chat' }, xml('body', {}, 'from node 2')));
    const back = await alice.waitMessage((s) => s.getChildText('body') === 'from node 2');
    expect(back.attrs.from).toBe(bob.jid);
  });

  it('routes a component domain registered through node 1 to and from clients of node 2', async () => {
    const r = bob.iq('get', PUBSUB, xml('query', { xmlns: 'http://jabber.org/protocol/disco#info' }));
    const got = await comp.waitStanza((s) => s.name === 'iq' && s.attrs.from === bob.jid);
    await comp.send(xml('iq', { type: 'result', id: got.attrs.id, to: got.attrs.from, from: PUBSUB }, xml('query', { xmlns: 'http://jabber.org/protocol/disco#info' }, xml('identity', { category: 'pubsub', type: 'service' }))));
    const reply = await r;
    expect(reply.attrs.type).toBe('result');
    expect(reply.attrs.from).toBe(PUBSUB);
    // And a message the component sends reaches node 2's client.
    await comp.send(xml('message', { from: PUBSUB, to: bob.jid, id: 'c2' }, xml('body', {}, 'from the component')));
    await bob.waitMessage((s) => s.attrs.id === 'c2');
  });

  it('a stopped node leaves the cluster view; started again, it rejoins and serves its clients', async () => {
    await bob.stop();
    const node2 = cluster.nodes[1]!;
    await node2.stop(); // init:stop, Mnesia closed cleanly; the spool stays (the helper owns the directory)
    await untilValue(async () => (await cluster.runningNodes(0)).length === 1, 30_000, 'node 1 to see node 2 leave');
    expect(await cluster.runningNodes(0)).toEqual([cluster.names[0]]);
    await node2.restart(); // started again from the same spool
    // Mnesia on node 2 reconnects to node 1 from its schema: both see both again.
    await untilValue(async () => (await cluster.runningNodes(0)).length === 2, 60_000, 'node 1 to see node 2 again');
    expect(await cluster.runningNodes(1)).toEqual([...cluster.names].sort());
    bob = await login(1, 'bob');
    // Bob's first message reaches Alice after his initial presence was handled: he is available.
    await bob.xmpp.send(xml('message', { to: alice.jid, type: 'chat' }, xml('body', {}, 'back on node 2')));
    await alice.waitMessage((s) => s.getChildText('body') === 'back on node 2');
    await alice.xmpp.send(xml('message', { to: 'bob@svom.fr', type: 'chat' }, xml('body', {}, 'after the restart')));
    await bob.waitMessage((s) => s.getChildText('body') === 'after the restart');
    // An account registered on node 2 after the rejoin logs in on node 1.
    await node2.addUser('carol', 'svom.fr', 'pw-carol');
    const carol = await login(0, 'carol');
    await carol.stop();
  });
});
