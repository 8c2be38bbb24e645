/**
 * A burst on one node does not hold other nodes back (issue 20 §2, found by the
 * soak): while 50 alerts fan out to 1,000 subscribers of one node, a publish on
 * another node is acknowledged and delivered before the burst has finished
 * delivering. Real Prosody, the broker, and 1,000 raw-socket subscribers
 * (bench/lib/raw-xmpp.ts). Ordering only: the heartbeat's acknowledgement and its
 * delivery must come before the burst's last delivery, however slow the machine.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Notifier, type Transport } from '../broker-component/delivery/notifier.ts';
import { MulticastFanOut } from '../broker-component/delivery/multicast.ts';
import { DEFAULT_NODE_CONFIG } from '../pubsub/node-config.ts';
import type { ServiceEvent } from '../broker-component/core/service.ts';
import { startBrokerEnv, PUBSUB, type BrokerEnv } from './helpers/broker-env.ts';
import { MarkerScanner, RawClient, expectResult, payloadXml } from '../bench/lib/raw-xmpp.ts';
import { pool } from '../bench/lib/stats.ts';
import { openFilesLimit } from '../bench/lib/proc.ts';

const NS_PUBSUB = 'http://jabber.org/protocol/pubsub';
const SUBSCRIBERS = 1000;
const BURST = 50;
const payload = payloadXml(join(import.meta.dirname, 'fixtures/voevents/gcn-notice-parser__svom_eclairs_320__sb26051101_slewing.xml'));
const iq = (inner: string) => `<iq type='set' id='ID' to='${PUBSUB}'><pubsub xmlns='${NS_PUBSUB}'>${inner}</pubsub></iq>`;
const POLICY = `
version: 1
mission: SVOM
levels:
  - id: collaboration
    members: { domains: [svom.fr, svom.cn] }
products:
  - id: burst
    title: Bursts
    publishers: [burstpub@svom.fr]
    levels:
      collaboration: {}
`;
const enoughFiles = openFilesLimit() >= SUBSCRIBERS * 2 + 200;

/** What was written, in order: node, item and recipients of each write ("hb a 1" = node hb, item a, 1 recipient). */
function recorder() {
  const log: string[] = [];
  const transport: Transport = {
    isOnline: () => true,
    write: async (data) => {
      const node = /<items node="([^"]+)"/.exec(data)?.[1];
      const item = /<item id="([^"]+)"/.exec(data)?.[1];
      const n = data.split('<message ').length - 1 || 1;
      const addrs = data.split('<address ').length - 1;
      log.push(`${node} ${item} ${addrs || n}`);
    },
  };
  return { log, transport };
}

function itemsEvent(node: string, id: string, subscribers: number): ServiceEvent {
  return {
    kind: 'items',
    node,
    items: [{ node, seq: 1, id, payload: `<entry xmlns="urn:x">${'x'.repeat(2000)}</entry>`, publisher: 'p@svom.fr', published: 0 }],
    recipients: Array.from({ length: subscribers }, (_, i) => ({ jid: `s${i}@svom.fr`, subids: ['s'] })),
    config: { ...DEFAULT_NODE_CONFIG, body_summary: false },
  };
}

describe('notifier: nodes take turns', () => {
  it("another node's notification is written after one turn of a burst, not after the burst", async () => {
    const { log, transport } = recorder();
    const barriers: string[] = [];
    const notifier = new Notifier({ from: PUBSUB, transport, serverJid: 'svom.fr', barrier: async () => void barriers.push(log.at(-1)!) });
    const dispatched: string[] = [];
    const burst = ['b1', 'b2', 'b3'].map((id) => notifier.handle(itemsEvent('burst', id, 1000)).then(() => void dispatched.push(id)));
    const hb = notifier.handle(itemsEvent('hb', 'h1', 1)).then(() => void dispatched.push('h1'));
    await Promise.all([...burst, hb]);
    // A turn is about one socket write (256 KiB): the heartbeat goes out after the burst's first turn.
    expect(log.slice(0, 3)).toEqual([expect.stringMatching(/^burst b1 \d+$/), 'hb h1 1', expect.stringMatching(/^burst b1 \d+$/)]);
    // Each node's notifications stay in order, and every recipient gets each once.
    const burstWrites = log.filter((l) => l.startsWith('burst'));
    expect(burstWrites.map((l) => l.split(' ')[1])).toEqual([...burstWrites.map((l) => l.split(' ')[1])].sort());
    for (const id of ['b1', 'b2', 'b3']) expect(burstWrites.filter((l) => l.split(' ')[1] === id).reduce((s, l) => s + Number(l.split(' ')[2]), 0)).toBe(1000);
    // A barrier follows every turn; the heartbeat is confirmed by the one after its own
    // stanza, before any event of the burst.
    expect(barriers.slice(0, 2)).toEqual([log[0], 'hb h1 1']);
    expect(dispatched[0]).toBe('h1');
  });

  it('events of one node keep their order, whatever other nodes do', async () => {
    const { log, transport } = recorder();
    const notifier = new Notifier({ from: PUBSUB, transport });
    await Promise.all([notifier.handle(itemsEvent('a', 'a1', 300)), notifier.handle(itemsEvent('b', 'b1', 1)), notifier.handle(itemsEvent('a', 'a2', 1)), notifier.handle(itemsEvent('b', 'b2', 1))]);
    const a = log.filter((l) => l.startsWith('a ')).map((l) => l.split(' ')[1]);
    expect(a.lastIndexOf('a1')).toBeLessThan(a.indexOf('a2'));
    expect(log.filter((l) => l.startsWith('b ')).map((l) => l.split(' ')[1])).toEqual(['b1', 'b2']);
    // b's two events went out while a1 was still being written.
    expect(log.indexOf('b b2 1')).toBeLessThan(log.lastIndexOf(log.filter((l) => l.startsWith('a a1')).at(-1)!));
  });

  it('writes at most two turns ahead of what the server confirmed', async () => {
    const { log, transport } = recorder();
    const pending: (() => void)[] = [];
    const notifier = new Notifier({ from: PUBSUB, transport, serverJid: 'svom.fr', barrier: () => new Promise<void>((r) => pending.push(r)) });
    const done = notifier.handle(itemsEvent('burst', 'b1', 1000));
    const settle = () => new Promise((r) => setTimeout(r, 20));
    await settle();
    // Two turns written, each followed by a barrier; the third waits for the first barrier's answer.
    expect([log.length, pending.length]).toEqual([2, 2]);
    pending.shift()!();
    await settle();
    expect([log.length, pending.length]).toEqual([3, 2]);
    // Answer everything: the whole burst goes out, then the event counts as dispatched.
    let all = false;
    void done.then(() => (all = true));
    while (!all) {
      pending.splice(0).forEach((r) => r());
      await settle();
    }
    expect(log.reduce((n, l) => n + Number(l.split(' ')[2]), 0)).toBe(1000);
  });

  it('with multicast, a turn is one multicast stanza', async () => {
    const { log, transport } = recorder();
    const notifier = new Notifier({ from: PUBSUB, transport });
    notifier.useFanOut(new MulticastFanOut({ from: PUBSUB, service: 'multicast.svom.fr', messageType: 'headline', transport, maxAddresses: 100 }));
    await Promise.all([notifier.handle(itemsEvent('burst', 'b1', 250)), notifier.handle(itemsEvent('hb', 'h1', 1))]);
    expect(log).toEqual(['burst b1 100', 'hb h1 1', 'burst b1 100', 'burst b1 50']);
  });
});

describe.skipIf(!enoughFiles)(`fairness between nodes: a burst to ${SUBSCRIBERS} subscribers`, () => {
  let env: BrokerEnv;
  const clients: RawClient[] = [];
  const login = async (user: string, domain = 'svom.fr') => {
    env.prosody.addUser(user, domain, user);
    const c = await RawClient.login({ host: '127.0.0.1', port: env.prosody.c2sPort, user, domain, password: user, resource: 'fair', timeoutMs: 60_000 });
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    // Per-subscriber fan-out (the case with the most stanzas per notification), and the
    // access policy on: its releases to the level node are not paced by any publisher's
    // acknowledgement, so the whole burst is queued for delivery at once.
    const dir = mkdtempSync(join(tmpdir(), 'voxnet-fair-'));
    const policy_file = join(dir, 'policy.yaml');
    writeFileSync(policy_file, POLICY);
    env = await startBrokerEnv({ multicast: 'off', policy_file });
  }, 60_000);
  afterAll(async () => {
    for (const c of clients) c.close();
    await env?.stop();
  }, 600_000);

  it("a publish on another node is acknowledged and delivered while the burst is still being delivered", async () => {
    const pub = await login('burstpub');
    const hb = await login('hbpub');
    const observer = await login('observer');
    await expectResult(hb.iq(iq(`<create node='hb'/>`)), 'create hb');
    await expectResult(observer.iq(iq(`<subscribe node='hb' jid='observer@svom.fr'/>`)), 'subscribe observer');

    // Deliveries, in the order they arrive at this process: "burst <n>", "hb ack", "hb delivered".
    const events: string[] = [];
    const at = { sent: 0, ack: 0, delivered: 0 }; // burst deliveries seen by then (shown on failure)
    let burstDelivered = 0;
    const subscribers: RawClient[] = [];
    let firstBurst!: () => void;
    const burstStarted = new Promise<void>((r) => (firstBurst = r));
    await pool(Array.from({ length: SUBSCRIBERS }, (_, i) => i), 50, async (i) => {
      const c = await login(`s${i}`, i % 2 ? 'svom.cn' : 'svom.fr');
      await expectResult(c.iq(iq(`<subscribe node='burst/collaboration' jid='s${i}@${i % 2 ? 'svom.cn' : 'svom.fr'}'/>`), 120_000), `subscribe s${i}`);
      c.textMode = false;
      const scan = new MarkerScanner('fb~', () => {
        burstDelivered++;
        if (burstDelivered === 1) firstBurst();
        if (burstDelivered === SUBSCRIBERS * BURST) events.push('burst done');
      });
      c.onRaw((chunk) => scan.push(chunk));
      subscribers.push(c);
    });
    observer.textMode = false;
    let hbDelivered!: () => void;
    const hbArrived = new Promise<void>((r) => (hbDelivered = r));
    const scanHb = new MarkerScanner('hb~', () => {
      events.push('hb delivered');
      at.delivered = burstDelivered;
      hbDelivered();
    });
    observer.onRaw((chunk) => scanHb.push(chunk));

    // The burst: 50 alerts published at once (a publisher with all of them in flight),
    // released by the policy to burst/collaboration: 50 notifications to 1,000
    // subscribers waiting for delivery. At its first delivery, a heartbeat on another node.
    const burst = Promise.all(Array.from({ length: BURST }, (_, seq) => expectResult(pub.iq(iq(`<publish node='burst/source'><item id='fb~1~${seq}~0~'>${payload}</item></publish>`), 600_000), `burst publish ${seq}`)));
    await burstStarted;
    at.sent = burstDelivered;
    const ack = hb.iq(iq(`<publish node='hb'><item id='hb~1~1~1~'>${payload}</item></publish>`), 600_000).then((r) => {
      events.push(`hb ack ${r.type}`);
      at.ack = burstDelivered;
      return r;
    });
    await Promise.all([ack, hbArrived]);
    console.log(`fairness: ${events.join(', ')} at ${JSON.stringify(at)} of ${SUBSCRIBERS * BURST} burst deliveries`);
    await burst;
    // Every burst delivery arrives in the end (nothing lost for the sake of fairness):
    // waited for as long as deliveries keep coming.
    for (let last = -1, still = 0; burstDelivered < SUBSCRIBERS * BURST && still < 240; ) {
      await new Promise((r) => setTimeout(r, 250));
      still = burstDelivered === last ? still + 1 : 0;
      last = burstDelivered;
    }
    const closed = subscribers.filter((c) => c.socket.destroyed).length;
    expect({ delivered: burstDelivered, closed }).toEqual({ delivered: SUBSCRIBERS * BURST, closed: 0 });
    const why = `${events.join(', ')}; burst deliveries seen when the heartbeat was sent / acknowledged / delivered: ${JSON.stringify(at)} of ${SUBSCRIBERS * BURST}`;
    console.log(why);
    // The heartbeat was sent while the burst was being delivered (else this test proves nothing)...
    expect(at.sent, why).toBeLessThan(SUBSCRIBERS * BURST / 2);
    // ...and did not wait behind it: acknowledged and delivered before the burst's last delivery.
    expect(events.indexOf('hb ack result')).toBeGreaterThanOrEqual(0);
    expect(events.indexOf('hb delivered')).toBeGreaterThanOrEqual(0);
    expect(events.indexOf('hb ack result'), why).toBeLessThan(events.indexOf('burst done'));
    expect(events.indexOf('hb delivered'), why).toBeLessThan(events.indexOf('burst done'));
  }, 900_000);
});
