/**
 * Which multicast service carries which recipients (multicast: auto): each
 * recipient domain's own XEP-0033 service when it has one that accepts us
 * (ejabberd runs one per virtual host, each a process of its own), else the
 * service found on the broker's server; a service that refuses us is never used.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { xml, type Element } from '@xmpp/xml';
import { DirectFanOut } from '../broker-component/delivery/notifier.ts';
import { MulticastFanOut } from '../broker-component/delivery/multicast.ts';
import { serverAvailable, type ServerKind } from '../broker-component/servers/index.ts';
import { startBrokerEnv, PUBSUB, type BrokerEnv } from './helpers/broker-env.ts';
import { NS, ps, entry } from './helpers/pubsub.ts';
import type { TestClient } from './helpers/xmpp.ts';
import { readFileSync, writeFileSync } from 'node:fs';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import type { EjabberdServer } from '../broker-component/servers/ejabberd.ts';

const itemId = (m: Element) => m.getChild('event', NS.EVENT)?.getChild('items')?.getChild('item')?.attrs.id;

/** Everything the broker writes on its link while `fn` runs. */
async function capture(env: BrokerEnv, fn: () => Promise<void>): Promise<string> {
  const link = env.broker.link;
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

/** The recipients of the multicast stanzas sent to each service. */
function addressesByService(written: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const m of written.matchAll(/<message [^>]*to="([^"]+)"[^>]*><addresses [^>]*>(.*?)<\/addresses>/g)) {
    const jids = [...m[2]!.matchAll(/jid="([^"]+)"/g)].map((a) => a[1]!);
    (out[m[1]!] ??= []).push(...jids);
  }
  return out;
}

const cases: { kind: ServerKind; cnService: string | undefined }[] = [
  // ejabberd: mod_multicast on every virtual host.
  { kind: 'ejabberd', cnService: 'multicast.svom.cn' },
  // Prosody: our module is one component, listed under svom.fr only.
  { kind: 'prosody', cnService: undefined },
];

for (const { kind, cnService } of cases) {
  describe.skipIf(!serverAvailable(kind))(`multicast services by recipient domain on ${kind}`, () => {
    let env: BrokerEnv;
    let fsc: TestClient;
    let fr: TestClient;
    let cn: TestClient;
    beforeAll(async () => {
      env = await startBrokerEnv({}, kind, { multicast: true });
      fsc = await env.client('fsc');
      fr = await env.client('obs', 'svom.fr');
      cn = await env.client('obs', 'svom.cn');
      expect((await fsc.iq('set', PUBSUB, ps(xml('create', { node: 'domains' })))).attrs.type).toBe('result');
      for (const c of [fr, cn]) expect((await c.iq('set', PUBSUB, ps(xml('subscribe', { node: 'domains', jid: c.jid })))).attrs.type).toBe('result');
    });
    afterAll(async () => {
      await env?.stop();
    });

    it(`resolves svom.cn to ${cnService ?? 'no service of its own'}`, async () => {
      expect(env.broker.notifier.fanOutStrategy).toBeInstanceOf(MulticastFanOut);
      expect(await env.broker.multicastDirectory.resolve('svom.cn')).toBe(cnService);
    });

    it('sends each domain its recipients through the right service, and everyone gets the notification once', async () => {
      await env.broker.multicastDirectory.resolve('svom.cn');
      const written = await capture(env, async () => {
        const r = await fsc.iq('set', PUBSUB, ps(xml('publish', { node: 'domains' }, xml('item', { id: 'by-domain' }, entry('by domain')))));
        expect(r.attrs.type).toBe('result');
      });
      const byService = addressesByService(written);
      if (cnService) expect(byService).toEqual({ 'multicast.svom.fr': [fr.jid], [cnService]: [cn.jid] });
      else expect(byService).toEqual({ 'multicast.svom.fr': [fr.jid, cn.jid] });
      for (const c of [fr, cn]) await c.waitMessage((m) => itemId(m) === 'by-domain');
      await new Promise((r) => setTimeout(r, 200));
      for (const c of [fr, cn]) expect(c.messages.filter((m) => itemId(m) === 'by-domain')).toHaveLength(1);
    });
  });

  describe.skipIf(!serverAvailable(kind))(`a multicast service that refuses the broker, on ${kind}`, () => {
    let env: BrokerEnv;
    beforeAll(async () => {
      env = await startBrokerEnv({}, kind, { multicast: { trusted: ['someone-else.svom.fr'] } });
    });
    afterAll(async () => {
      await env?.stop();
    });

    it('is probed and not used: notifications go per subscriber and arrive', async () => {
      expect(await env.broker.multicastDirectory.probe('multicast.svom.fr', 'svom.fr')).toBe('forbidden');
      expect(env.broker.notifier.fanOutStrategy).toBeInstanceOf(DirectFanOut);
      const fsc = await env.client('fsc');
      const obs = await env.client('obs', 'svom.cn');
      expect((await fsc.iq('set', PUBSUB, ps(xml('create', { node: 'refused' })))).attrs.type).toBe('result');
      expect((await obs.iq('set', PUBSUB, ps(xml('subscribe', { node: 'refused', jid: obs.jid })))).attrs.type).toBe('result');
      expect((await fsc.iq('set', PUBSUB, ps(xml('publish', { node: 'refused' }, xml('item', { id: 'direct' }, entry('direct')))))).attrs.type).toBe('result');
      await obs.waitMessage((m) => itemId(m) === 'direct');
    });
  });
}

/**
 * ejabberd's mod_multicast relays the recipients of another domain to that
 * domain's own service once it has discovered it, keeping us as the sender. When
 * that service refuses us, the relayed copies are refused too and only an error
 * comes back: sending such a domain's recipients through our server's service
 * lost every notification after the first (checked before the fix: i1..i5 never
 * arrived). They get per-subscriber stanzas instead.
 */
describe.skipIf(!serverAvailable('ejabberd'))('a recipient domain whose own multicast service refuses the broker, on ejabberd', () => {
  let env: BrokerEnv;
  let fsc: TestClient;
  let fr: TestClient;
  let cn: TestClient;
  beforeAll(async () => {
    env = await startBrokerEnv({}, 'ejabberd', { multicast: true });
    fsc = await env.client('fsc');
    fr = await env.client('obs', 'svom.fr');
    cn = await env.client('obs', 'svom.cn');
    expect((await fsc.iq('set', PUBSUB, ps(xml('create', { node: 'relay' })))).attrs.type).toBe('result');
    for (const c of [fr, cn]) expect((await c.iq('set', PUBSUB, ps(xml('subscribe', { node: 'relay', jid: c.jid })))).attrs.type).toBe('result');
    // svom.cn's service stops trusting us (its own access rule), the others still do.
    const server = env.prosody as unknown as EjabberdServer;
    const cfg = parseYaml(readFileSync(server.configFile, 'utf8'));
    cfg.host_config['svom.cn'].access_rules = { voxnet_multicast: { deny: 'all' } };
    writeFileSync(server.configFile, stringifyYaml(cfg));
    await server.api('reload_config');
    env.broker.multicastDirectory.clear();
  }, 60_000);
  afterAll(async () => {
    await env?.stop();
  });

  it('resolves svom.cn to per-subscriber stanzas, svom.fr still to its service', async () => {
    expect(await env.broker.multicastDirectory.probe('multicast.svom.cn', 'svom.cn')).toBe('forbidden');
    expect(await env.broker.multicastDirectory.resolve('svom.cn')).toBeNull();
    expect(await env.broker.multicastDirectory.resolve('svom.fr')).toBe('multicast.svom.fr');
  });

  it('delivers every notification to svom.cn exactly once, none of them through a multicast service', async () => {
    const ids = ['i0', 'i1', 'i2', 'i3', 'i4', 'i5'];
    const written = await capture(env, async () => {
      for (const id of ids) {
        const r = await fsc.iq('set', PUBSUB, ps(xml('publish', { node: 'relay' }, xml('item', { id }, entry(id)))));
        expect(r.attrs.type).toBe('result');
        // Time for ejabberd's services to discover svom.cn's (it relays once it knows it).
        await new Promise((res) => setTimeout(res, 300));
      }
    });
    const byService = addressesByService(written);
    expect(Object.values(byService).flat()).not.toContain(cn.jid);
    expect(byService['multicast.svom.fr']).toEqual(ids.map(() => fr.jid));
    for (const c of [fr, cn]) for (const id of ids) await c.waitMessage((m) => itemId(m) === id);
    await new Promise((res) => setTimeout(res, 300));
    for (const c of [fr, cn]) for (const id of ids) expect(c.messages.filter((m) => itemId(m) === id)).toHaveLength(1);
  });
});
