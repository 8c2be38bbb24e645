/**
 * XEP-0033 multicast over a real s2s link (issue 15): the broker of svom.fr
 * (on Prosody) fans out to svom.cn's users through svom.cn's own multicast
 * service (ejabberd's mod_multicast on another server), discovered and probed
 * across the link. A remote service that caps the addresses per stanza
 * (ejabberd's unannounced default for senders of other servers: 20), one that
 * refuses us, and one that starts refusing after its probe (reload_config) are
 * each detected; their recipients are served another way and nothing is lost.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { xml, type Element } from '@xmpp/xml';
import { serverAvailable } from '../broker-component/servers/index.ts';
import type { EjabberdServer } from '../broker-component/servers/ejabberd.ts';
import { startFederatedEnv, type FederatedEnv, type SideSpec } from './helpers/federation-env.ts';
import { NS, ps, entry } from './helpers/pubsub.ts';
import type { TestClient } from './helpers/xmpp.ts';

const ready = serverAvailable('prosody') && serverAvailable('ejabberd');
if (!ready) console.warn('federation-multicast: skipped — needs both prosody and ejabberd');
const FR_PUBSUB = 'pubsub.svom.fr';
const itemId = (m: Element) => m.getChild('event', NS.EVENT)?.getChild('items')?.getChild('item')?.attrs.id;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Everything the broker writes on its link while `fn` runs. */
async function capture(env: FederatedEnv, domain: string, fn: () => Promise<void>): Promise<string> {
  const link = env.brokers[domain].link;
  const write = link.write.bind(link);
  let out = '';
  link.write = (data: string) => ((out += data), write(data));
  try {
    await fn();
  } finally {
    link.write = write;
  }
  return out;
}

/** Address counts of the multicast stanzas sent to `service`. */
const batchesTo = (written: string, service: string) =>
  [...written.matchAll(/<message [^>]*to="([^"]+)"[^>]*><addresses [^>]*>(.*?)<\/addresses>/g)].filter((m) => m[1] === service).map((m) => m[2]!.match(/<address /g)!.length);

type World = { env: FederatedEnv; fsc: TestClient; subs: TestClient[] };

async function world(cn: SideSpec, nSubs: number, node: string): Promise<World> {
  const env = await startFederatedEnv({ cn });
  const fsc = await env.client('fsc', 'svom.fr');
  expect((await fsc.iq('set', FR_PUBSUB, ps(xml('create', { node })), 30_000)).attrs.type).toBe('result');
  const cnServer = env.fed.side('svom.cn').server as unknown as EjabberdServer;
  await cnServer.addUsers(Array.from({ length: nSubs }, (_, i) => ({ user: `obs${i}`, host: 'svom.cn', password: `obs${i}` })));
  const subs: TestClient[] = [];
  for (let i = 0; i < nSubs; i++) {
    const c = await env.client(`obs${i}`, 'svom.cn');
    await c.xmpp.send(xml('presence'));
    const r = await c.iq('set', FR_PUBSUB, ps(xml('subscribe', { node, jid: c.jid })), 30_000);
    expect(r.attrs.type, r.toString()).toBe('result');
    subs.push(c);
  }
  return { env, fsc, subs };
}

async function publishAll(w: World, node: string, ids: string[]) {
  for (const id of ids) {
    const r = await w.fsc.iq('set', FR_PUBSUB, ps(xml('publish', { node }, xml('item', { id }, entry(id)))), 30_000);
    expect(r.attrs.type, r.toString()).toBe('result');
  }
}

async function expectEachOnce(subs: TestClient[], ids: string[]) {
  for (const c of subs) for (const id of ids) await c.waitMessage((m) => itemId(m) === id, 30_000);
  await sleep(500); // a duplicate would arrive now
  for (const c of subs) for (const id of ids) expect(c.messages.filter((m) => itemId(m) === id), `${c.jid} ${id}`).toHaveLength(1);
}

describe.skipIf(!ready)('multicast over s2s: svom.fr broker → svom.cn service capping remote senders at its default 20', () => {
  let w: World;
  beforeAll(async () => {
    w = await world({ multicastRemoteMax: 'default' }, 45, 'grb');
  }, 180_000);
  afterAll(async () => w?.env.stop());

  it('discovers svom.cn service across the link and learns its cap by probing with a full batch', async () => {
    const dir = w.env.brokers['svom.fr'].multicastDirectory;
    expect(await dir.resolve('svom.cn')).toBe('multicast.svom.cn');
    expect(dir.capOf('multicast.svom.cn')).toBe(20);
  }, 60_000);

  it('sends svom.cn its recipients in batches of at most 20 through its service; each gets every notification once', async () => {
    const ids = ['c0', 'c1', 'c2'];
    const written = await capture(w.env, 'svom.fr', () => publishAll(w, 'grb', ids));
    const batches = batchesTo(written, 'multicast.svom.cn');
    expect(batches.length).toBe(ids.length * 3); // 45 = 20 + 20 + 5
    expect(Math.max(...batches)).toBeLessThanOrEqual(20);
    await expectEachOnce(w.subs, ids);
  }, 90_000);

  it('a service that starts refusing after its probe: the refused batches are resent per subscriber and the domain marked', async () => {
    const dir = w.env.brokers['svom.fr'].multicastDirectory;
    expect(await dir.resolve('svom.cn')).toBe('multicast.svom.cn'); // probed: accepted
    const server = w.env.fed.side('svom.cn').server as unknown as EjabberdServer;
    const cfg = parseYaml(readFileSync(server.configFile, 'utf8'));
    cfg.acl.voxnet_multicast_senders = { server: ['pubsub.svom.cn'] }; // pubsub.svom.fr no longer trusted
    writeFileSync(server.configFile, stringifyYaml(cfg));
    await server.api('reload_config');
    expect(dir.serviceFor('svom.cn')).toBe('multicast.svom.cn'); // the broker does not know yet
    const ids = ['r0', 'r1', 'r2'];
    const written = await capture(w.env, 'svom.fr', () => publishAll(w, 'grb', ids));
    await expectEachOnce(w.subs, ids);
    expect(dir.serviceFor('svom.cn')).toBeNull(); // marked: per subscriber from now on
    // Only the first notification went to the refusing service; it was resent per subscriber.
    expect(batchesTo(written, 'multicast.svom.cn').length).toBeLessThanOrEqual(3);
  }, 90_000);
});

describe.skipIf(!ready)('multicast over s2s: a remote service that refuses us, and a Prosody service with a cap', () => {
  let w: World;
  beforeAll(async () => {
    // svom.cn's service trusts only its own broker.
    w = await world({ multicastTrusted: ['pubsub.svom.cn'] }, 5, 'mxt');
  }, 180_000);
  afterAll(async () => w?.env.stop());

  it('probes svom.cn service, is refused, and sends svom.cn its recipients per subscriber', async () => {
    const dir = w.env.brokers['svom.fr'].multicastDirectory;
    expect(await dir.resolve('svom.cn')).toBeNull();
    const ids = ['x0', 'x1'];
    const written = await capture(w.env, 'svom.fr', () => publishAll(w, 'mxt', ids));
    expect(batchesTo(written, 'multicast.svom.cn')).toHaveLength(0);
    await expectEachOnce(w.subs, ids);
  }, 90_000);
});

describe.skipIf(!ready)('multicast over s2s the other way: svom.cn broker (ejabberd) → svom.fr service (Prosody) capped at 10', () => {
  let env: FederatedEnv;
  let wei: TestClient;
  const subs: TestClient[] = [];
  beforeAll(async () => {
    env = await startFederatedEnv({ fr: { multicastMax: 10 } });
    wei = await env.client('wei', 'svom.cn');
    expect((await wei.iq('set', 'pubsub.svom.cn', ps(xml('create', { node: 'gwac' })), 30_000)).attrs.type).toBe('result');
    for (let i = 0; i < 25; i++) {
      const c = await env.client(`obs${i}`, 'svom.fr');
      await c.xmpp.send(xml('presence'));
      expect((await c.iq('set', 'pubsub.svom.cn', ps(xml('subscribe', { node: 'gwac', jid: c.jid })), 30_000)).attrs.type).toBe('result');
      subs.push(c);
    }
  }, 180_000);
  afterAll(async () => env?.stop());

  it("finds Prosody's multicast component among svom.fr's disco items, learns its cap from its refusals, and delivers every notification once", async () => {
    const dir = env.brokers['svom.cn'].multicastDirectory;
    expect(await dir.resolve('svom.fr')).toBe('multicast.svom.fr');
    expect(dir.capOf('multicast.svom.fr')).toBe(10);
    const ids = ['g0', 'g1'];
    const written = await capture(env, 'svom.cn', async () => {
      for (const id of ids) {
        const r = await wei.iq('set', 'pubsub.svom.cn', ps(xml('publish', { node: 'gwac' }, xml('item', { id }, entry(id)))), 30_000);
        expect(r.attrs.type, r.toString()).toBe('result');
      }
    });
    const batches = batchesTo(written, 'multicast.svom.fr');
    expect(batches).toHaveLength(ids.length * 3); // 25 = 10 + 10 + 5
    expect(Math.max(...batches)).toBeLessThanOrEqual(10);
    await expectEachOnce(subs, ids);
  }, 90_000);
});
