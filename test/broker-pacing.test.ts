/**
 * Back-pressure from delivery to publishing: a publish is acknowledged once its
 * item is stored *and* the server has routed its notifications (confirmed by a
 * barrier IQ the server answers only after every stanza written before it), so
 * publishers are paced by the delivery rate and notifications never pile up
 * behind fast acknowledgements. Notifier logic first, then on real servers.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { xml, type Element } from '@xmpp/xml';
import { Notifier, type Transport } from '../broker-component/delivery/notifier.ts';
import { MulticastFanOut } from '../broker-component/delivery/multicast.ts';
import { DEFAULT_NODE_CONFIG } from '../pubsub/node-config.ts';
import type { ServiceEvent } from '../broker-component/core/service.ts';
import { serverAvailable, type ServerKind } from '../broker-component/servers/index.ts';
import { startBrokerEnv, PUBSUB, type BrokerEnv } from './helpers/broker-env.ts';
import { NS, ps, entry } from './helpers/pubsub.ts';

/** A transport that records what was written, in order, with the barriers between. */
function recorder() {
  const log: string[] = [];
  const transport: Transport = {
    isOnline: () => true,
    write: async (data) => void log.push(`write ${/<item id="([^"]+)"/.exec(data)?.[1] ?? data.slice(0, 40)}`),
  };
  return { log, transport };
}

function itemsEvent(id: string, recipients: string[]): ServiceEvent {
  return {
    kind: 'items',
    node: 'n',
    items: [{ node: 'n', seq: 1, id, payload: `<entry xmlns="urn:x">${id}</entry>`, publisher: 'p@svom.fr', published: 0 }],
    recipients: recipients.map((jid) => ({ jid, subids: ['s'] })),
    config: { ...DEFAULT_NODE_CONFIG, body_summary: false },
  };
}

describe('notifier: dispatch is confirmed by a barrier after the writes', () => {
  it('an event counts as dispatched only once the server answered the barrier sent after its stanzas', async () => {
    const { log, transport } = recorder();
    let open!: () => void;
    const notifier = new Notifier({
      from: PUBSUB,
      transport,
      serverJid: 'svom.fr',
      barrier: (jid) => {
        log.push(`barrier ${jid}`);
        return new Promise<void>((r) => (open = r));
      },
    });
    let dispatched = false;
    const p = notifier.handle(itemsEvent('a', ['x@svom.fr', 'y@svom.fr'])).then(() => (dispatched = true));
    await notifier.drain();
    await new Promise((r) => setImmediate(r));
    expect(log).toEqual(['write a', 'barrier svom.fr']);
    expect(dispatched).toBe(false);
    open();
    await p;
    expect(dispatched).toBe(true);
  });

  it('each event has its own barrier, sent after its stanzas', async () => {
    const { log, transport } = recorder();
    const notifier = new Notifier({ from: PUBSUB, transport, serverJid: 'svom.fr', barrier: async (jid) => void log.push(`barrier ${jid}`) });
    await Promise.all(['a', 'b', 'c'].map((id) => notifier.handle(itemsEvent(id, ['x@svom.fr']))));
    expect(log).toEqual(['write a', 'barrier svom.fr', 'write b', 'barrier svom.fr', 'write c', 'barrier svom.fr']);
  });

  it('the barrier goes to the multicast service when notifications go through it', async () => {
    const { log, transport } = recorder();
    const notifier = new Notifier({ from: PUBSUB, transport, serverJid: 'svom.fr', barrier: async (jid) => void log.push(`barrier ${jid}`) });
    notifier.useFanOut(new MulticastFanOut({ from: PUBSUB, service: 'multicast.svom.fr', messageType: 'headline', transport }));
    await notifier.handle(itemsEvent('a', ['x@svom.fr', 'y@svom.fr']));
    expect(log.at(-1)).toBe('barrier multicast.svom.fr');
  });

  it('an event nobody is notified of is dispatched at once, without a barrier', async () => {
    const { log, transport } = recorder();
    const notifier = new Notifier({ from: PUBSUB, transport, serverJid: 'svom.fr', barrier: () => new Promise<void>(() => {}) });
    await notifier.handle(itemsEvent('a', []));
    expect(log).toEqual([]);
  });

  it('a failed write or barrier still counts as dispatched (the acknowledgement must leave) and is reported', async () => {
    const errors: string[] = [];
    const onError = (e: unknown) => errors.push((e as Error).message);
    const failing: Transport = { isOnline: () => false, write: () => Promise.reject(new Error('link down')) };
    const down = new Notifier({ from: PUBSUB, transport: failing, serverJid: 'svom.fr', barrier: () => new Promise<void>(() => {}), onError });
    await down.handle(itemsEvent('a', ['x@svom.fr']));
    expect(errors).toEqual(['link down']);
    const { transport } = recorder();
    const silent = new Notifier({ from: PUBSUB, transport, serverJid: 'svom.fr', barrier: () => Promise.reject(new Error('no reply to vxb-1')), onError });
    await silent.handle(itemsEvent('b', ['x@svom.fr']));
    expect(errors).toEqual(['link down', 'no reply to vxb-1']);
  });
});

/**
 * One client is subscriber and publisher on a single connection: the server
 * writes to it in order, so whether the notification precedes the publish result
 * on the wire shows whether the acknowledgement waited for the fan-out.
 */
const servers: { kind: ServerKind; multicast: boolean }[] = [
  { kind: 'prosody', multicast: true },
  { kind: 'prosody', multicast: false },
  { kind: 'ejabberd', multicast: true },
];

for (const { kind, multicast } of servers) {
  const fanOut = multicast ? 'XEP-0033 multicast' : 'per-subscriber stanzas';
  describe.skipIf(!serverAvailable(kind))(`paced acknowledgements on ${kind}, ${fanOut}`, () => {
    let env: BrokerEnv;
    beforeAll(async () => {
      env = await startBrokerEnv(multicast ? {} : { multicast: 'off' }, kind, { multicast });
      const fsc = await env.client('fsc');
      const r = await fsc.iq('set', PUBSUB, ps(xml('create', { node: 'paced' })));
      expect(r.attrs.type).toBe('result');
    });
    afterAll(async () => {
      await env?.stop();
    });

    async function publishWatching(id: string): Promise<{ notifiedBeforeAck: boolean; others: Element[] }> {
      const fsc = await env.client('fsc', 'svom.fr', `r-${id}`);
      const others = await Promise.all([env.client('obs1', 'svom.fr'), env.client('obs2', 'svom.cn')]);
      for (const c of [fsc, ...others]) expect((await c.iq('set', PUBSUB, ps(xml('subscribe', { node: 'paced', jid: c.jid })))).attrs.type).toBe('result');
      const isIt = (m: Element) => m.getChild('event', NS.EVENT)?.getChild('items')?.getChild('item')?.attrs.id === id;
      const ack = await fsc.iq('set', PUBSUB, ps(xml('publish', { node: 'paced' }, xml('item', { id }, entry(id)))));
      expect(ack.attrs.type).toBe('result');
      const notifiedBeforeAck = fsc.messages.some(isIt);
      return { notifiedBeforeAck, others: await Promise.all(others.map((c) => c.waitMessage(isIt))) };
    }

    it(`uses ${fanOut}`, () => {
      expect(env.broker.notifier.fanOutStrategy instanceof MulticastFanOut).toBe(multicast);
    });

    it('the publisher gets its result only after the server routed the notifications', async () => {
      for (let i = 1; i <= 3; i++) {
        const { notifiedBeforeAck, others } = await publishWatching(`dispatch-${i}`);
        expect(notifiedBeforeAck).toBe(true);
        expect(others).toHaveLength(2);
      }
    });

    /** Hold every dispatch until `open()`: the fan-out happens, its confirmation waits. */
    function holdDispatch() {
      const notifier = env.broker.notifier;
      const handle = notifier.handle;
      let open!: () => void;
      const gate = new Promise<void>((r) => (open = r));
      notifier.handle = (ev) => handle.call(notifier, ev).then(() => gate);
      return () => {
        open();
        notifier.handle = handle;
      };
    }

    it('ack_after: dispatch holds the result until the dispatch is confirmed', async () => {
      const fsc = await env.client('fsc', 'svom.fr', 'held');
      const obs = await env.client('obs3', 'svom.cn');
      expect((await obs.iq('set', PUBSUB, ps(xml('subscribe', { node: 'paced', jid: obs.jid })))).attrs.type).toBe('result');
      const release = holdDispatch();
      let acked = false;
      const ack = fsc.iq('set', PUBSUB, ps(xml('publish', { node: 'paced' }, xml('item', { id: 'held' }, entry('held'))))).then((r) => ((acked = true), r));
      await obs.waitMessage((m) => m.getChild('event', NS.EVENT)?.getChild('items')?.getChild('item')?.attrs.id === 'held');
      // The subscriber has the notification; the publisher still waits for the confirmation.
      await new Promise((r) => setTimeout(r, 300));
      expect(acked).toBe(false);
      release();
      expect((await ack).attrs.type).toBe('result');
    });

    it('ack_after: store acknowledges as soon as the item is stored', async () => {
      const fsc = await env.client('fsc', 'svom.fr', 'stored');
      env.config.ack_after = 'store';
      const release = holdDispatch();
      try {
        const ack = await fsc.iq('set', PUBSUB, ps(xml('publish', { node: 'paced' }, xml('item', { id: 'stored' }, entry('stored')))));
        expect(ack.attrs.type).toBe('result');
      } finally {
        release();
        env.config.ack_after = 'dispatch';
      }
    });
  });
}
