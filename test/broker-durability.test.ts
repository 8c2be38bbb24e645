/**
 * Durability and resilience with real processes: a broker killed with SIGKILL in
 * the middle of a publish stream loses no acknowledged item; the broker survives
 * Prosody restarts by reconnecting.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { xml } from '@xmpp/xml';
import { startProsody, type ProsodyServer } from '../broker-component/servers/prosody.ts';
import { connectClient, type TestClient } from './helpers/xmpp.ts';
import { NS, ps, entry, errorOf } from './helpers/pubsub.ts';
import { spawnBroker, waitServing } from './helpers/broker-process.ts';

const PUBSUB = 'pubsub.svom.fr';
const SECRET = 'durable-secret';

describe('durability', () => {
  let prosody: ProsodyServer;
  let dataDir: string;
  let alice: TestClient;
  let broker: ChildProcess | undefined;
  const startBroker = () => spawnBroker({ componentUrl: prosody.componentUrl, domain: PUBSUB, secret: SECRET, dataDir });
  /** Serving: the component answers a ping. */
  const brokerServing = (c: TestClient, timeoutMs?: number) =>
    waitServing(() => c.iq('get', PUBSUB, xml('ping', { xmlns: 'urn:xmpp:ping' })).then((r) => r.attrs.type === 'result', () => false), timeoutMs);

  beforeAll(async () => {
    prosody = await startProsody({ components: [{ domain: PUBSUB, secret: SECRET }] });
    prosody.addUser('alice', 'svom.fr', 'alice');
    dataDir = mkdtempSync(join(tmpdir(), 'voxnet-durable-'));
    alice = await connectClient({ service: prosody.c2sUrl, domain: 'svom.fr', username: 'alice', password: 'alice', trust: prosody.certFiles });
  });
  afterAll(async () => {
    broker?.kill('SIGKILL');
    await alice?.stop();
    await prosody?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('SIGKILL during a publish stream loses no acknowledged item', async () => {
    broker = startBroker();
    await brokerServing(alice);
    const create = await alice.iq('set', PUBSUB, ps(xml('create', { node: 'alerts' }), xml('configure', {},
      xml('x', { xmlns: NS.DATA, type: 'submit' },
        xml('field', { var: 'FORM_TYPE' }, xml('value', {}, 'http://jabber.org/protocol/pubsub#node_config')),
        xml('field', { var: 'pubsub#max_items' }, xml('value', {}, 'max'))))));
    expect(errorOf(create)).toBeUndefined();

    const acked: string[] = [];
    for (let round = 0; round < 3; round++) {
      let n = 0;
      let stop = false;
      // Publish with 4 requests in flight until the broker dies.
      const worker = async () => {
        while (!stop) {
          const id = `r${round}-${n++}`;
          const r = await alice.iq('set', PUBSUB, ps(xml('publish', { node: 'alerts' }, xml('item', { id }, entry(id)))), 3000).catch(() => undefined);
          if (r?.attrs.type === 'result') acked.push(id);
          else if (!r || r.attrs.type === 'error') return;
        }
      };
      const workers = [worker(), worker(), worker(), worker()];
      await new Promise((r) => setTimeout(r, 300 + Math.random() * 400));
      broker.kill('SIGKILL');
      await new Promise((r) => broker!.once('exit', r));
      stop = true;
      // Requests in flight now go unanswered (Prosody bounces them with an error or they time out).
      await Promise.all(workers);
      broker = startBroker();
      // Prosody takes a while to let the component's JID go after a SIGKILL (about 10 s
      // here on a quiet machine, the same before and after the floor): a generous wait.
      await brokerServing(alice, 60_000);
    }
    expect(acked.length).toBeGreaterThan(30);
    const r = await alice.iq('get', PUBSUB, ps(xml('items', { node: 'alerts' }), xml('set', { xmlns: NS.RSM }, xml('max', {}, '500'), xml('index', {}, '0'))));
    const stored = new Set(r.getChild('pubsub')!.getChild('items')!.getChildren('item').map((i) => i.attrs.id));
    const count = Number(r.getChild('pubsub')!.getChild('set', NS.RSM)!.getChildText('count'));
    // Page through everything if more than one page.
    let last = r.getChild('pubsub')!.getChild('set', NS.RSM)!.getChildText('last');
    while (stored.size < count && last) {
      const next = await alice.iq('get', PUBSUB, ps(xml('items', { node: 'alerts' }), xml('set', { xmlns: NS.RSM }, xml('max', {}, '500'), xml('after', {}, last))));
      const ids = next.getChild('pubsub')!.getChild('items')!.getChildren('item').map((i) => i.attrs.id!);
      ids.forEach((id) => stored.add(id));
      last = next.getChild('pubsub')!.getChild('set', NS.RSM)?.getChildText('last') ?? null;
      if (!ids.length) break;
    }
    const lost = acked.filter((id) => !stored.has(id));
    expect(lost, `acknowledged but lost: ${lost.join(', ')}`).toEqual([]);
  });

  it('reconnects after Prosody restarts and carries on serving', async () => {
    if (!broker || broker.exitCode !== null) {
      broker = startBroker();
      await brokerServing(alice);
    }
    await alice.stop();
    await prosody.restart();
    alice = await connectClient({ service: prosody.c2sUrl, domain: 'svom.fr', username: 'alice', password: 'alice', trust: prosody.certFiles });
    await brokerServing(alice, 40_000);
    const r = await alice.iq('set', PUBSUB, ps(xml('publish', { node: 'alerts' }, xml('item', { id: 'after-restart' }, entry('x')))));
    expect(r.attrs.type).toBe('result');
  });
});
