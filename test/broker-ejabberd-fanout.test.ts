/**
 * mod_voxnet_fanout (config/ejabberd-modules/) on a real ejabberd with the
 * broker attached: the broker finds it as its XEP-0033 service; plain sessions
 * get the notification encoded once and written to their socket (byte for byte
 * what ejabberd writes for the same stanza routed normally); whatever needs
 * more goes through ejabberd's own routing: an offline subscriber gets it on
 * login (mod_offline), a stream-management client (slixmpp) that lost its
 * connection gets it on resumption, CSI-inactive and carbons sessions get it;
 * a user who blocked the service gets nothing; untrusted senders are refused.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Parser, xml, type Element } from '@xmpp/xml';
import { ejabberdAvailable, startEjabberd, type EjabberdServer } from '../broker-component/servers/ejabberd.ts';
import { startBroker, type Broker } from '../broker-component/broker.ts';
import { loadBrokerConfig } from '../broker-component/config.ts';
import { MulticastFanOut } from '../broker-component/delivery/multicast.ts';
import { RawClient } from '../bench/lib/raw-xmpp.ts';
import { connectClient, type TestClient } from './helpers/xmpp.ts';
import { NS, ps, entry } from './helpers/pubsub.ts';
import { runJsonLines, slixmppVersion, type JsonLinesProc } from './helpers/slixmpp.ts';
import { untilValue } from './helpers/until.ts';

const PUBSUB = 'pubsub.svom.fr';
const SERVICE = 'multicast.svom.fr';
const SM_CLIENT = join(import.meta.dirname, 'interop', 'slixmpp_sm_resume.py');

/** Parse one serialized stanza. */
function parse(s: string): Element {
  const p = new Parser();
  let el: Element | undefined;
  p.on('element', (e: Element) => (el = e));
  p.write(`<wrap xmlns="jabber:client">${s}</wrap>`);
  if (!el) throw new Error(`not a stanza: ${s.slice(0, 200)}`);
  return el;
}

/** A raw-socket subscriber that keeps every byte it receives. */
class RawSub {
  bytes = '';
  private constructor(readonly c: RawClient) {
    c.onRaw((chunk) => (this.bytes += chunk.toString('utf8')));
  }
  static async login(server: EjabberdServer, user: string, host: string): Promise<RawSub> {
    await server.addUser(user, host, user);
    return new RawSub(await RawClient.login({ host: '127.0.0.1', port: server.c2sPort, user, domain: host, password: user, resource: 'raw' }));
  }
  get jid(): string {
    return this.c.jid;
  }
  /** The serialized <message/> carrying item `id`, once received. */
  message(id: string): Promise<string> {
    return untilValue(() => [...this.bytes.matchAll(/<message\b[\s\S]*?<\/message>/g)].map((m) => m[0]).find((m) => m.includes(`id='${id}'`) || m.includes(`id="${id}"`)), 20_000, `item ${id} at ${this.jid}`);
  }
}

type Stats = { fast: number; session_fallback: number; routed: number };

describe.skipIf(!ejabberdAvailable())('mod_voxnet_fanout on ejabberd', () => {
  let server: EjabberdServer;
  let broker: Broker;
  let dataDir: string;
  let alice: TestClient;
  const raws: RawSub[] = [];
  const clients: TestClient[] = [];
  const procs: JsonLinesProc[] = [];

  const stats = async (): Promise<Stats> => {
    const all = { fast: 0, session_fallback: 0, routed: 0 };
    for (const host of server.hosts) {
      const s = (await server.api('voxnet_fanout_stats', { host })) as Stats;
      all.fast += s.fast;
      all.session_fallback += s.session_fallback;
      all.routed += s.routed;
    }
    return all;
  };
  const publish = async (node: string, id: string) => {
    const r = await alice.iq('set', PUBSUB, ps(xml('publish', { node }, xml('item', { id }, entry(`alert ${id} & <more>`)))));
    expect(r.attrs.type).toBe('result');
  };
  const subscribe = async (c: RawClient, node: string) => {
    const bare = c.jid.replace(/\/.*$/, '');
    const r = await c.iq(`<iq type='set' id='ID' to='${PUBSUB}'><pubsub xmlns='${NS.PUBSUB}'><subscribe node='${node}' jid='${bare}'/></pubsub></iq>`);
    expect(r.type).toBe('result');
  };

  beforeAll(async () => {
    server = await startEjabberd({
      components: [{ domain: PUBSUB, secret: 's' }],
      multicast: { domain: SERVICE, trusted: [PUBSUB], module: 'mod_voxnet_fanout' },
      modules: { mod_offline: {}, mod_stream_mgmt: { resume_timeout: 120 }, mod_carboncopy: {}, mod_client_state: {}, mod_privacy: {}, mod_blocking: {} },
      logLevel: (process.env.EJ_LOG as 'debug' | undefined) ?? 'warn',
    });
    dataDir = mkdtempSync(join(tmpdir(), 'voxnet-ejfan-'));
    const cfg = loadBrokerConfig(undefined, {
      VOXNET_XMPP_URL: server.componentUrl, VOXNET_DOMAIN: PUBSUB, VOXNET_SECRET: 's', VOXNET_DATA_DIR: dataDir,
      VOXNET_CREATE_NODES: 'svom.fr', VOXNET_STORAGE_SYNCHRONOUS: 'normal',
    });
    // 'normal' rather than the default 'headline': ejabberd stores those for offline users.
    cfg.notification_type = 'normal';
    broker = await startBroker(cfg, { log: pino({ level: 'silent' }) });
    await server.addUser('alice', 'svom.fr', 'alice');
    alice = await connectClient({ service: server.c2sUrl, domain: 'svom.fr', username: 'alice', password: 'alice', trust: server.certFiles });
    clients.push(alice);
    await untilValue(() => broker.notifier.fanOutStrategy instanceof MulticastFanOut || undefined, 20_000, 'multicast discovery');
  }, 120_000);

  afterAll(async () => {
    for (const p of procs) p.stop();
    for (const r of raws) r.c.close();
    await Promise.all(clients.map((c) => c.stop()));
    await broker?.stop();
    await server?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('is the XEP-0033 service the broker finds, for both domains', async () => {
    expect(broker.notifier.fanOutStrategy).toBeInstanceOf(MulticastFanOut);
    expect(await broker.multicastDirectory.resolve('svom.fr')).toBe(SERVICE);
    expect(await broker.multicastDirectory.resolve('svom.cn')).toBe('multicast.svom.cn');
  });

  it('writes plain sessions the bytes ejabberd writes for the same stanza routed normally', async () => {
    await alice.iq('set', PUBSUB, ps(xml('create', { node: 'plain' })));
    const subs = [await RawSub.login(server, 'p1', 'svom.fr'), await RawSub.login(server, 'p2', 'svom.cn')];
    raws.push(...subs);
    for (const s of subs) await subscribe(s.c, 'plain');
    const before = await stats();
    await publish('plain', 'fast-1');
    const fast = await Promise.all(subs.map((s) => s.message('fast-1')));
    const after = await stats();
    expect(after.fast - before.fast).toBe(2);
    expect(after.session_fallback - before.session_fallback).toBe(0);
    // The same notification as per-subscriber stanzas, which ejabberd routes and encodes itself.
    const multicast = broker.notifier.fanOutStrategy;
    broker.notifier.useFanOut(undefined);
    try {
      await publish('plain', 'routed-1');
    } finally {
      broker.notifier.useFanOut(multicast);
    }
    const routed = await Promise.all(subs.map((s) => s.message('routed-1')));
    for (let i = 0; i < subs.length; i++) {
      const norm = (s: string) => s.replace(/fast-1|routed-1/g, 'ITEM').replace(/ id='[^']*'/, " id='ID'");
      expect(norm(fast[i]!)).toBe(norm(routed[i]!));
      const m = parse(fast[i]!);
      expect(m.attrs.to).toBe(subs[i]!.jid.replace(/\/.*$/, '')); // ejabberd keeps a bare 'to' as addressed
      expect(m.attrs.from).toBe(PUBSUB);
      expect(m.attrs.type ?? 'normal').toBe('normal'); // ejabberd omits the default type
      expect(m.getChild('addresses')).toBeUndefined();
      const item = m.getChild('event', NS.EVENT)?.getChild('items')?.getChild('item');
      expect(item?.attrs.id).toBe('fast-1');
      expect(item?.getChild('entry')?.getChildText('title')).toBe('alert fast-1 & <more>');
      for (const other of subs) if (other !== subs[i]) expect(fast[i]).not.toContain(other.jid.replace(/\/.*$/, ''));
    }
  });

  it('headlines too: identical bytes, every address once, the addresses never shown', async () => {
    const subs = [await RawSub.login(server, 'h1', 'svom.fr'), await RawSub.login(server, 'h2', 'svom.cn')];
    raws.push(...subs);
    const bare = subs.map((s) => s.jid.replace(/\/.*$/, ''));
    const inner = `<event xmlns='${NS.EVENT}'><items node='h'><item id='ITEM'><entry xmlns='urn:example:entry'><title>a &amp; b</title></entry></item></items></event>`;
    const before = await stats();
    // What the broker's link writes: to the service (cc, bcc and a duplicate), then the same per subscriber.
    await broker.link.write(
      `<message from='${PUBSUB}' to='${SERVICE}' type='headline' id='h-mc'><addresses xmlns='http://jabber.org/protocol/address'>` +
        `<address type='bcc' jid='${bare[0]}'/><address type='cc' jid='${bare[1]}'/><address type='bcc' jid='${bare[0]}'/></addresses>${inner.replace('ITEM', 'hl-fast')}</message>`,
    );
    const fast = await Promise.all(subs.map((s) => s.message('hl-fast')));
    expect((await stats()).fast - before.fast).toBe(2);
    await broker.link.write(bare.map((b) => `<message from='${PUBSUB}' to='${b}' type='headline' id='h-mc'>${inner.replace('ITEM', 'hl-routed')}</message>`).join(''));
    const routed = await Promise.all(subs.map((s) => s.message('hl-routed')));
    for (let i = 0; i < subs.length; i++) {
      expect(fast[i]!.replace('hl-fast', 'ITEM')).toBe(routed[i]!.replace('hl-routed', 'ITEM'));
      expect(fast[i]).not.toContain('addresses');
      expect(parse(fast[i]!).attrs.type).toBe('headline');
    }
    await new Promise((r) => setTimeout(r, 300));
    for (const s of subs) expect(s.bytes.split('hl-fast').length - 1).toBe(1); // the duplicate address: once
  });

  it('stores for an offline subscriber through ejabberd (mod_offline): it gets the notification on login', async () => {
    await alice.iq('set', PUBSUB, ps(xml('create', { node: 'offline' })));
    const online = await RawSub.login(server, 'o1', 'svom.fr');
    raws.push(online);
    await subscribe(online.c, 'offline');
    const away = await RawSub.login(server, 'o2', 'svom.cn');
    await subscribe(away.c, 'offline');
    away.c.close();
    await untilValue(async () => ((await server.api('user_resources', { user: 'o2', host: 'svom.cn' })) as string[]).length === 0, 10_000, 'o2 offline');
    const before = await stats();
    await publish('offline', 'while-away');
    await online.message('while-away');
    const after = await untilValue(async () => {
      const s = await stats();
      return s.routed > before.routed ? s : undefined;
    }, 10_000, 'the offline recipient routed');
    expect(after.fast - before.fast).toBe(1);
    expect(after.routed - before.routed).toBe(1);
    const back = await RawSub.login(server, 'o2', 'svom.cn');
    raws.push(back);
    const m = parse(await back.message('while-away'));
    expect(m.attrs.from).toBe(PUBSUB);
    expect(m.getChild('event', NS.EVENT)?.getChild('items')?.getChild('item')?.getChild('entry')?.getChildText('title')).toBe('alert while-away & <more>');
    expect(m.getChild('addresses')).toBeUndefined();
  });

  it('routes normally for sessions that need more: CSI inactive (mod_client_state), carbons enabled', async () => {
    await alice.iq('set', PUBSUB, ps(xml('create', { node: 'stateful' })));
    const inactive = await RawSub.login(server, 'c1', 'svom.fr');
    const carbons = await RawSub.login(server, 'c2', 'svom.fr');
    const plain = await RawSub.login(server, 'c3', 'svom.cn');
    raws.push(inactive, carbons, plain);
    for (const s of [inactive, carbons, plain]) await subscribe(s.c, 'stateful');
    inactive.c.write(`<inactive xmlns='urn:xmpp:csi:0'/>`);
    expect((await carbons.c.iq(`<iq type='set' id='ID'><enable xmlns='urn:xmpp:carbons:2'/></iq>`)).type).toBe('result');
    // CSI state is set in the session's own process: an IQ round trip orders it before the publish.
    expect((await inactive.c.iq(`<iq type='get' id='ID' to='svom.fr'><ping xmlns='urn:xmpp:ping'/></iq>`)).type).toBe('result');
    const before = await stats();
    await publish('stateful', 'stateful-1');
    const got = await Promise.all([inactive, carbons, plain].map((s) => s.message('stateful-1')));
    const after = await stats();
    expect(after.fast - before.fast).toBe(1); // the plain session only
    expect(after.session_fallback - before.session_fallback).toBe(1); // CSI: handled by the session's own routing
    expect(after.routed - before.routed).toBe(1); // carbons: routed by ejabberd as a whole
    for (const m of got.map(parse)) expect(m.getChild('event', NS.EVENT)?.getChild('items')?.getChild('item')?.attrs.id).toBe('stateful-1');
  });

  it.skipIf(!slixmppVersion())('queues for a stream-management session that lost its connection: slixmpp gets it on resumption', async () => {
    await alice.iq('set', PUBSUB, ps(xml('create', { node: 'sm' })));
    // Subscribed from another session of the same account, closed before the publishes.
    const setup = await RawSub.login(server, 'sm1', 'svom.fr');
    await subscribe(setup.c, 'sm');
    setup.c.close();
    const sm = runJsonLines(SM_CLIENT, ['--jid', 'sm1@svom.fr/slix', '--password', 'sm1', '--port', String(server.c2sPort), '--drop-after', 'sm-1', '--offline-seconds', '4', ...server.certFiles.flatMap((c) => ['--ca', c])]);
    procs.push(sm);
    await sm.wait((e) => e.event === 'sm_enabled', 30_000, 'stream management enabled');
    await sm.wait((e) => e.event === 'ready', 30_000, 'available');
    const before = await stats();
    await publish('sm', 'sm-1');
    await sm.wait((e) => e.event === 'message' && e.item === 'sm-1', 20_000, 'sm-1');
    await sm.wait((e) => e.event === 'dropped', 10_000, 'the connection dropped');
    await publish('sm', 'sm-2');
    await sm.wait((e) => e.event === 'resumed', 30_000, 'the session resumed');
    const m = await sm.wait((e) => e.event === 'message' && e.item === 'sm-2', 20_000, 'sm-2 after resumption');
    expect(m.frm).toBe(PUBSUB);
    expect(sm.events.some((e) => e.event === 'session_start')).toBe(false);
    const after = await stats();
    expect(after.session_fallback - before.session_fallback).toBe(2);
    expect(after.fast - before.fast).toBe(0);
  });

  it("applies the session's privacy check on the fast path: a user who blocked the service gets nothing (XEP-0191)", async () => {
    await alice.iq('set', PUBSUB, ps(xml('create', { node: 'blocked' })));
    const blocker = await RawSub.login(server, 'b1', 'svom.fr');
    const reader = await RawSub.login(server, 'b2', 'svom.cn');
    raws.push(blocker, reader);
    for (const s of [blocker, reader]) await subscribe(s.c, 'blocked');
    expect((await blocker.c.iq(`<iq type='set' id='ID'><block xmlns='urn:xmpp:blocking'><item jid='${PUBSUB}'/></block></iq>`)).type).toBe('result');
    const before = await stats();
    await publish('blocked', 'blocked-1');
    await reader.message('blocked-1');
    await new Promise((r) => setTimeout(r, 1000));
    expect(blocker.bytes).not.toContain('blocked-1');
    expect((await stats()).fast - before.fast).toBe(1); // the reader only
  });

  it('refuses untrusted senders with <forbidden/> and delivers nothing', async () => {
    const mallory = await RawSub.login(server, 'mallory', 'svom.fr');
    const victim = await RawSub.login(server, 'victim', 'svom.cn');
    raws.push(mallory, victim);
    const before = await stats();
    mallory.c.write(`<message to='${SERVICE}' id='spam1' type='headline'><addresses xmlns='http://jabber.org/protocol/address'><address type='bcc' jid='victim@svom.cn'/></addresses><body>spam</body></message>`);
    const err = parse(await untilValue(() => /<message\b[^>]*id='spam1'[\s\S]*?<\/message>/.exec(mallory.bytes)?.[0], 10_000, 'the refusal'));
    expect(err.attrs.type).toBe('error');
    expect(err.attrs.from).toBe(SERVICE);
    expect(err.getChild('error')?.getChild('forbidden', 'urn:ietf:params:xml:ns:xmpp-stanzas')).toBeDefined();
    expect(victim.bytes).not.toContain('spam');
    expect(await stats()).toEqual(before);
  });
});
