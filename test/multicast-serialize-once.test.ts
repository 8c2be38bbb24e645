/**
 * mod_voxnet_multicast serializes a notification once per batch and writes the
 * prepared bytes (only 'to' differs) to plain c2s sessions, while sessions and
 * recipients that need Prosody's own routing get it: stream management (slixmpp's
 * xep_0198, resumed after a lost connection), CSI (held per mod_csi_simple's rules),
 * WebSocket (xmpp.js), offline storage, carbons (mod_carbons' own hook still runs).
 * Which path each session took is read from the module's per-batch debug log line.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync, readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Parser } from '@xmpp/xml';
import { startProsody, prosodyModulesDir, type ProsodyServer } from '../broker-component/servers/prosody.ts';
import { xml, type Element } from './helpers/xmpp.ts';
import { connectComponent, canonical, type TestComponent } from './helpers/component.ts';
import { RawClient } from '../bench/lib/raw-xmpp.ts';
import { untilValue } from './helpers/until.ts';
import { runJsonLines, slixmppVersion, type JsonLinesProc } from './helpers/slixmpp.ts';

const NS_ADDRESS = 'http://jabber.org/protocol/address';
const NS_CARBONS = 'urn:xmpp:carbons:2';
const MULTICAST = 'multicast.svom.fr';
const SENDER = 'voxnet.svom.fr';
const SMACKS_SCRIPT = fileURLToPath(new URL('./interop/slixmpp_smacks.py', import.meta.url));
const WS_SCRIPT = fileURLToPath(new URL('./interop/xmppjs-websocket.mjs', import.meta.url));
const slixmpp = slixmppVersion();
if (!slixmpp) console.warn('multicast-serialize-once: stream management part skipped — /usr/bin/python3 cannot import slixmpp (apt-get install -y python3-slixmpp)');

/** A payload with attributes, nesting, entities, non-ASCII text and significant whitespace. */
function payload(tag: string): Element {
  return xml(
    'event',
    { xmlns: 'urn:voxnet:test', id: tag, 'xml:lang': 'fr' },
    xml('VOEvent', { ivorn: `ivo://svom.fr/test#${tag}`, version: '2.0' }, xml('Who', {}, 'Équipe SVOM — 中国科学院 & CNES <ECLAIRs> "q" \'a\''), '\n  ', xml('Description', {}, '  spaces  ')),
  );
}

/** Top-level elements of a c2s stream's text (after its header), parsed by xmpp.js's parser. */
function parseStream(text: string): Element[] {
  const out: Element[] = [];
  const p = new Parser();
  p.on('element', (el: Element) => out.push(el));
  p.on('error', () => {});
  p.write(`<stream xmlns='jabber:client'>`);
  p.write(text);
  return out;
}

/** One stanza given as text, parsed. */
function parseOne(text: string): Element {
  return parseStream(text)[0]!;
}

/** A raw c2s session that keeps every byte it receives and parses the messages among them. */
type RawInbox = { client: RawClient; text(): string; messages(): Element[]; raw(): string[] };

async function rawLogin(prosody: ProsodyServer, user: string, host: string, resource = 'raw'): Promise<RawInbox> {
  const client = await RawClient.login({ host: '127.0.0.1', port: prosody.c2sPort, user, domain: host, password: `pw-${user}`, resource });
  const chunks: Buffer[] = [];
  client.onRaw((c) => chunks.push(Buffer.from(c)));
  // Answered after the initial presence was handled: from now on the session is available.
  const pong = await client.iq(`<iq type='get' id='ID' to='${host}'><ping xmlns='urn:xmpp:ping'/></iq>`);
  expect(pong.type).toBe('result');
  const text = () => Buffer.concat(chunks).toString('utf8');
  const raw = () => [...text().matchAll(/<message\b[\s\S]*?<\/message>/g)].map((m) => m[0]);
  return { client, text, raw, messages: () => parseStream(text()).filter((e) => e.name === 'message') };
}

const isTag = (tag: string) => (m: Element) => m.getChild('event', 'urn:voxnet:test')?.attrs.id === tag;

describe('mod_voxnet_multicast: serialized once, Prosody routing where a session needs it', () => {
  let prosody: ProsodyServer;
  let voxnet: TestComponent;
  const raws: RawInbox[] = [];
  const procs: JsonLinesProc[] = [];
  let tmp: string;

  /** Send a multicast and return the canonical form of its payload. */
  async function multicast(id: string, tag: string, to: string[], type = 'headline', extra: Element[] = []): Promise<string> {
    const p = payload(tag);
    const c = canonical(p);
    const addresses = xml('addresses', { xmlns: NS_ADDRESS }, ...to.map((jid) => xml('address', { type: 'bcc', jid })));
    await voxnet.send(xml('message', { to: MULTICAST, from: SENDER, type, id }, p, ...extra, addresses));
    return c;
  }

  /** The module's log line for batch `id`: sessions written the shared bytes, and the others by reason. */
  function batchLog(id: string): Promise<{ once: number; routed: Record<string, number> }> {
    const re = new RegExp(`Multicast ${id} from \\S+ to \\d+ recipient\\(s\\), \\d+ invalid: serialized once for (\\d+) session\\(s\\); routed: (.*)$`, 'm');
    return untilValue(
      () => {
        const m = re.exec(readFileSync(prosody.logFile, 'utf8'));
        if (!m) return undefined;
        const routed: Record<string, number> = {};
        if (m[2] !== 'none') for (const kv of m[2]!.trim().split(' ')) routed[kv.split('=')[0]!] = Number(kv.split('=')[1]);
        return { once: Number(m[1]), routed };
      },
      15_000,
      `the log line of multicast ${id}`,
    );
  }

  /**
   * Client State Indication. Nothing may follow it from the client (mod_csi_simple
   * flushes on any client activity and stays flushing for a while), so the test waits
   * a moment for the server to take it; the batch's log line then shows it did.
   */
  async function setState(r: RawInbox, state: 'active' | 'inactive'): Promise<void> {
    r.client.write(`<${state} xmlns='urn:xmpp:csi:0'/>`);
    await new Promise((res) => setTimeout(res, 500));
  }

  function waitRaw(r: RawInbox, pred: (m: Element) => boolean, what: string): Promise<Element> {
    return untilValue(() => r.messages().find(pred), 15_000, what);
  }

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'voxnet-once-'));
    prosody = await startProsody({
      components: [{ domain: SENDER, secret: 'voxnet-secret' }],
      multicast: { domain: MULTICAST, trusted: [SENDER] },
      modules: ['smacks', 'csi_simple', 'carbons', 'offline', 'mam'],
      websocket: true,
      logLevel: 'debug',
      // A lost slixmpp connection is kept for resumption well beyond the test.
      extra: 'smacks_hibernation_time = 120',
    });
    for (const [u, h] of [['plain', 'svom.fr'], ['twice', 'svom.cn'], ['élève', 'svom.fr'], ['weird', 'svom.fr'], ['smack', 'svom.fr'], ['csi', 'svom.cn'], ['carb', 'svom.fr'], ['off', 'svom.fr'], ['web', 'svom.cn']] as const) {
      prosody.addUser(u, h, `pw-${u}`);
    }
    voxnet = await connectComponent({ service: prosody.componentUrl, domain: SENDER, password: 'voxnet-secret' });
  });

  afterAll(async () => {
    for (const p of procs) p.stop();
    for (const r of raws) r.client.close();
    await voxnet?.stop();
    await prosody?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('writes byte-correct XML to plain sessions: every session of a bare JID, a full JID, non-ASCII, all serialized once', async () => {
    const plain = await rawLogin(prosody, 'plain', 'svom.fr');
    const [t1, t2] = [await rawLogin(prosody, 'twice', 'svom.cn', 'one'), await rawLogin(prosody, 'twice', 'svom.cn', 'two')];
    const eleve = await rawLogin(prosody, 'élève', 'svom.fr');
    raws.push(plain, t1, t2, eleve);
    const sent = await multicast('once1', 'once1', ['plain@svom.fr', 'twice@svom.cn', 'élève@svom.fr', t1.client.jid]);
    const log = await batchLog('once1');
    // plain, twice/one and twice/two through the bare JID, twice/one again through its full JID, élève.
    expect(log).toEqual({ once: 5, routed: {} });
    for (const [r, to] of [[plain, 'plain@svom.fr'], [t2, 'twice@svom.cn'], [eleve, 'élève@svom.fr']] as const) {
      const m = await waitRaw(r, isTag('once1'), `once1 at ${to}`);
      // xml:lang: the sender's stream's (xmpp.js components declare 'en'), as Prosody keeps it.
      expect(m.attrs).toEqual({ to, from: SENDER, type: 'headline', id: 'once1', 'xml:lang': 'en' });
      expect(m.getChildElements()).toHaveLength(1);
      expect(canonical(m.getChildElements()[0]!)).toBe(sent);
    }
    // twice/one is addressed twice: once as the bare JID, once as its full JID.
    await untilValue(() => t1.messages().filter(isTag('once1')).length === 2, 15_000, 'both copies at twice/one');
    expect(t1.messages().filter(isTag('once1')).map((m) => m.attrs.to).sort()).toEqual(['twice@svom.cn', t1.client.jid].sort());
    // Nobody learns who else got it.
    for (const r of [plain, t1, t2, eleve]) expect(r.text()).not.toContain(NS_ADDRESS);
  });

  it("a recipient on another server goes through Prosody's routing (s2s; here disabled, so Prosody's own bounce comes back)", async () => {
    const plain = raws.find((r) => r.client.jid.startsWith('plain@'))!;
    await multicast('remote1', 'remote1', ['someone@elsewhere.example', 'plain@svom.fr']);
    // Never seen by the delivery hook (it runs on local hosts only): only plain counted.
    expect(await batchLog('remote1')).toEqual({ once: 1, routed: {} });
    await waitRaw(plain, isTag('remote1'), 'remote1 at plain');
    const bounce = await voxnet.waitStanza((st) => st.attrs.id === 'remote1' && st.attrs.type === 'error');
    expect(bounce.attrs.from).toBe('someone@elsewhere.example');
    expect(bounce.getChild('error')?.getChild('not-allowed', 'urn:ietf:params:xml:ns:xmpp-stanzas')).toBeTruthy();
  });

  it("escapes the 'to' attribute: a full JID whose resource holds ' & \" < > (nodeprep forbids them in localparts)", async () => {
    const resource = `tel'scope & "co" <1>`;
    const weird = await rawLogin(prosody, 'weird', 'svom.fr', resource);
    raws.push(weird);
    const jid = `weird@svom.fr/${resource}`;
    const sent = await multicast('esc1', 'esc1', [jid]);
    expect(await batchLog('esc1')).toEqual({ once: 1, routed: {} });
    const m = await waitRaw(weird, isTag('esc1'), 'esc1');
    expect(m.attrs.to).toBe(jid);
    expect(canonical(m.getChildElements()[0]!)).toBe(sent);
    expect(weird.raw().find((s) => s.includes('esc1'))).toContain(`to='weird@svom.fr/tel&apos;scope &amp; &quot;co&quot; &lt;1&gt;'`);
  });

  it.skipIf(!slixmpp)('stream management (slixmpp xep_0198): routed through the SM queue, the stanza sent while the connection was lost arrives on resumption', async () => {
    const go = join(tmp, 'go');
    const p = runJsonLines(SMACKS_SCRIPT, ['--jid', 'smack@svom.fr/slix', '--password', 'pw-smack', '--port', String(prosody.c2sPort), '--drop-after', 'sm1', '--go', go]);
    procs.push(p);
    const ready = await p.wait((e) => e.event === 'ready', 30_000, 'slixmpp with stream management');
    expect(ready.sm).toBeTruthy();
    const plain = raws.find((r) => r.client.jid.startsWith('plain@'))!;
    const sent1 = await multicast('sm1', 'sm1', ['smack@svom.fr', 'plain@svom.fr']);
    expect(await batchLog('sm1')).toEqual({ once: 1, routed: { smacks: 1 } });
    const m1 = await p.wait((e) => e.event === 'message' && e.id === 'sm1', 15_000, 'sm1 at slixmpp');
    expect(m1.to).toBe('smack@svom.fr');
    expect(canonical((parseOne(String(m1.xml))).getChild('event', 'urn:voxnet:test')!)).toBe(sent1);
    await waitRaw(plain, isTag('sm1'), 'sm1 at plain');

    // The client drops its connection without closing the stream: Prosody hibernates the session.
    await p.wait((e) => e.event === 'dropped', 15_000, 'the dropped connection');
    await untilValue(() => readFileSync(prosody.logFile, 'utf8').includes('Session going into hibernation'), 15_000, 'hibernation');
    const sent2 = await multicast('sm2', 'sm2', ['smack@svom.fr/slix', 'plain@svom.fr']);
    expect(await batchLog('sm2')).toEqual({ once: 1, routed: { smacks: 1 } });
    await untilValue(() => readFileSync(prosody.logFile, 'utf8').includes('stanza queued'), 15_000, 'sm2 queued for the hibernating session');
    writeFileSync(go, '');
    await p.wait((e) => e.event === 'resumed', 30_000, 'the stream resumed');
    const m2 = await p.wait((e) => e.event === 'message' && e.id === 'sm2', 15_000, 'sm2 after resumption');
    expect(m2.resumed).toBe(true);
    expect(m2.to).toBe('smack@svom.fr/slix');
    expect(canonical((parseOne(String(m2.xml))).getChild('event', 'urn:voxnet:test')!)).toBe(sent2);
    expect(existsSync(go)).toBe(true);
  });

  it('CSI (mod_csi_simple): an inactive client has a headline held until it is active again; a message with a body flushes at once', async () => {
    const csi = await rawLogin(prosody, 'csi', 'svom.cn');
    raws.push(csi);
    await setState(csi, 'inactive');
    const sent1 = await multicast('csi1', 'csi1', ['csi@svom.cn']);
    expect(await batchLog('csi1')).toEqual({ once: 0, routed: { csi: 1 } });
    // Held: what mod_csi_simple does with a headline (never important) for an inactive client.
    await new Promise((r) => setTimeout(r, 1000));
    expect(csi.messages().some(isTag('csi1'))).toBe(false);
    await setState(csi, 'active');
    const m1 = await waitRaw(csi, isTag('csi1'), 'csi1 after <active/>');
    expect(canonical(m1.getChildElements()[0]!)).toBe(sent1);

    await setState(csi, 'inactive');
    // no-store: MAM would otherwise archive it (see the MAM test); here only CSI is looked at.
    await multicast('csi2', 'csi2', ['csi@svom.cn'], 'normal', [xml('body', {}, 'GRB 261206A'), xml('no-store', { xmlns: 'urn:xmpp:hints' })]);
    expect(await batchLog('csi2')).toEqual({ once: 0, routed: { csi: 1 } });
    const m2 = await waitRaw(csi, isTag('csi2'), 'csi2 (important: it has a body) while inactive');
    expect(m2.getChildText('body')).toBe('GRB 261206A');
  });

  it('offline recipients: routed normally, a normal message is stored and delivered on login (a headline is discarded, as Prosody does)', async () => {
    const sent = await multicast('off1', 'off1', ['off@svom.fr'], 'normal');
    expect(await batchLog('off1')).toEqual({ once: 0, routed: { offline: 1 } });
    await multicast('off2', 'off2', ['off@svom.fr'], 'headline');
    expect(await batchLog('off2')).toEqual({ once: 0, routed: { offline: 1 } });
    await untilValue(() => readFileSync(prosody.logFile, 'utf8').includes('Saved to offline storage'), 15_000, 'offline storage');
    const off = await rawLogin(prosody, 'off', 'svom.fr');
    raws.push(off);
    const m = await waitRaw(off, isTag('off1'), 'off1 from offline storage');
    expect(m.attrs.to).toBe('off@svom.fr');
    expect(m.attrs.from).toBe(SENDER);
    expect(m.getChild('delay', 'urn:xmpp:delay')).toBeTruthy();
    expect(canonical(m.getChild('event', 'urn:voxnet:test')!)).toBe(sent);
    await new Promise((r) => setTimeout(r, 500));
    expect(off.messages().some(isTag('off2'))).toBe(false);
  });

  it("carbons: mod_carbons' own hook still copies a chat notification to the user's other carbons-enabled session", async () => {
    const [c1, c2] = [await rawLogin(prosody, 'carb', 'svom.fr', 'c1'), await rawLogin(prosody, 'carb', 'svom.fr', 'c2')];
    raws.push(c1, c2);
    for (const c of [c1, c2]) {
      const r = await c.client.iq(`<iq type='set' id='ID'><enable xmlns='${NS_CARBONS}'/></iq>`);
      expect(r.type).toBe('result');
    }
    // No <body/>: MAM leaves it alone (see the MAM test), carbons copy every chat message.
    const sent = await multicast('carb1', 'carb1', [c1.client.jid], 'chat');
    expect(await batchLog('carb1')).toEqual({ once: 1, routed: {} });
    const m = await waitRaw(c1, isTag('carb1'), 'carb1 at c1');
    expect(m.attrs.to).toBe(c1.client.jid);
    expect(canonical(m.getChild('event', 'urn:voxnet:test')!)).toBe(sent);
    const carbon = await untilValue(() => c2.messages().find((x) => x.getChild('received', NS_CARBONS)), 15_000, 'the carbon at c2');
    const inner = carbon.getChild('received', NS_CARBONS)!.getChild('forwarded', 'urn:xmpp:forward:0')!.getChild('message')!;
    expect(inner.attrs.to).toBe(c1.client.jid);
    expect(canonical(inner.getChild('event', 'urn:voxnet:test')!)).toBe(sent);
  });

  it("a copy another module replaced on its way (MAM, archiving a chat message, adds its <stanza-id/>) is left to mod_message", async () => {
    const plain = raws.find((r) => r.client.jid.startsWith('plain@'))!;
    const sent = await multicast('mam1', 'mam1', ['plain@svom.fr', 'élève@svom.fr'], 'chat', [xml('body', {}, 'GRB 261206A')]);
    expect(await batchLog('mam1')).toEqual({ once: 0, routed: { replaced: 2 } });
    const m = await waitRaw(plain, isTag('mam1'), 'mam1 at plain');
    expect(m.getChild('stanza-id', 'urn:xmpp:sid:0')?.attrs.by).toBe('plain@svom.fr');
    expect(canonical(m.getChild('event', 'urn:voxnet:test')!)).toBe(sent);
    expect(m.getChildText('body')).toBe('GRB 261206A');
  });

  it('WebSocket sessions (xmpp.js over RFC 7395) get the stanza through their own framing', async () => {
    const web = runJsonLines(WS_SCRIPT, [prosody.wsUrl!, 'svom.cn', 'web', 'pw-web'], [process.execPath, ...(typeof (globalThis as { WebSocket?: unknown }).WebSocket === 'undefined' ? ['--experimental-websocket'] : [])]);
    procs.push(web);
    await web.wait((e) => e.event === 'online', 30_000, 'xmpp.js over WebSocket online');
    const sent = await multicast('ws1', 'ws1', ['web@svom.cn', 'plain@svom.fr']);
    expect(await batchLog('ws1')).toEqual({ once: 1, routed: { websocket: 1 } });
    const m = await web.wait((e) => e.event === 'message' && e.id === 'ws1', 15_000, 'ws1 over WebSocket');
    expect(m.to).toBe('web@svom.cn');
    expect(canonical(parseOne(String(m.xml)).getChild('event', 'urn:voxnet:test')!)).toBe(sent);
  });
});

describe('mod_voxnet_multicast with a third-party hook below its own', () => {
  let prosody: ProsodyServer;
  let voxnet: TestComponent;
  let alice: RawInbox;
  const fixtures = fileURLToPath(new URL('./fixtures/prosody-modules', import.meta.url));

  beforeAll(async () => {
    prosody = await startProsody({
      components: [{ domain: SENDER, secret: 'voxnet-secret' }],
      multicast: { domain: MULTICAST, trusted: [SENDER] },
      modules: ['voxnet_test_late_hook'],
      logLevel: 'debug',
      extra: `plugin_paths = { ${JSON.stringify(prosodyModulesDir)}, ${JSON.stringify(fixtures)} }`,
    });
    prosody.addUser('alice', 'svom.fr', 'pw-alice');
    voxnet = await connectComponent({ service: prosody.componentUrl, domain: SENDER, password: 'voxnet-secret' });
    alice = await rawLogin(prosody, 'alice', 'svom.fr');
  });

  afterAll(async () => {
    alice?.client.close();
    await voxnet?.stop();
    await prosody?.stop();
  });

  it('leaves every copy to Prosody so that the other hook runs, and says so', async () => {
    await voxnet.send(xml('message', { to: MULTICAST, from: SENDER, type: 'headline', id: 'late1' }, payload('late1'), xml('addresses', { xmlns: NS_ADDRESS }, xml('address', { type: 'bcc', jid: 'alice@svom.fr' }))));
    await untilValue(() => alice.messages().find(isTag('late1')), 15_000, 'late1 at alice');
    const log = readFileSync(prosody.logFile, 'utf8');
    expect(log).toContain('late hook saw late1 to alice@svom.fr');
    expect(log).toMatch(/Routing each copy normally on svom\.fr: a handler of message\/bare other than mod_message's runs after ours/);
    expect(log).toMatch(/Multicast late1 from \S+ to 1 recipient\(s\), 0 invalid: serialized once for 0 session\(s\); routed: routed=1/);
  });
});
