/**
 * SvomNet's two halves on two real federated servers (issue 15): Prosody
 * serving svom.fr on 127.0.0.2 and ejabberd serving svom.cn on 127.0.0.3, s2s
 * over TLS with certificate authentication (a test CA), each side with its own
 * VOXnet broker. bob@svom.cn, a slixmpp client on ejabberd, subscribes to a node
 * of pubsub.svom.fr across the link, receives every notification once and pages
 * through the node's items with RSM; the French policy decides what svom.cn's
 * users may see.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { xml, type Element } from '@xmpp/xml';
import { serverAvailable } from '../broker-component/servers/index.ts';
import { startFederatedEnv, type FederatedEnv } from './helpers/federation-env.ts';
import { NS, ps, errorOf, parseXml } from './helpers/pubsub.ts';
import type { TestClient } from './helpers/xmpp.ts';

const MXT = readFileSync(new URL('./fixtures/voevents/gcn-notice-parser__svom_mxt_52__sb26051101_mxt-initial_qf4.xml', import.meta.url), 'utf8');
const PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('./interop/slixmpp_federated.py', import.meta.url));
const slixmpp = spawnSync(PYTHON, ['-c', 'import slixmpp'], { timeout: 20_000 }).status === 0;
const ready = serverAvailable('prosody') && serverAvailable('ejabberd');
if (!ready) console.warn('federation: skipped — needs both prosody and ejabberd (apt-get install prosody ejabberd)');
if (!slixmpp) console.warn(`federation: slixmpp step skipped — ${PYTHON} cannot import slixmpp (apt-get install python3-slixmpp)`);

// The French policy: svom.cn's bob is in the collaboration, carl only in the community (redacted).
const FR_POLICY = `
version: 1
mission: SVOM
levels:
  - id: pi
    members: { jids: [pi@svom.fr] }
  - id: collaboration
    members: { domains: [svom.fr], jids: [bob@svom.cn] }
  - id: community
    members: { jids: [carl@svom.cn] }
products:
  - id: mxt
    publishers: [fsc@svom.fr]
    levels:
      pi: {}
      collaboration: {}
      community:
        redact: { groups: [Satellite_Info] }
`;

const items = (m: Element) => m.getChild('event', NS.EVENT)?.getChild('items');
const itemsOf = (c: TestClient, node: string) => c.messages.filter((m) => items(m)?.attrs.node === node).map((m) => items(m)!.getChild('item')!);

describe.skipIf(!ready)('federation: Prosody (svom.fr) and ejabberd (svom.cn) over s2s', () => {
  let env: FederatedEnv;
  let fsc: TestClient;

  beforeAll(async () => {
    env = await startFederatedEnv({ fr: { policy: FR_POLICY } });
    fsc = await env.client('fsc', 'svom.fr');
  }, 120_000);
  afterAll(async () => env?.stop());

  const publish = async (id: string) => {
    const r = await fsc.iq('set', 'pubsub.svom.fr', ps(xml('publish', { node: 'mxt/source' }, xml('item', { id }, await parseXml(MXT)))), 30_000);
    expect(errorOf(r), r.toString()).toBeUndefined();
  };

  it('carries chat messages both ways between the two servers', async () => {
    const alice = await env.client('alice', 'svom.fr');
    const wang = await env.client('wang', 'svom.cn');
    await alice.xmpp.send(xml('presence'));
    await wang.xmpp.send(xml('presence'));
    await alice.xmpp.send(xml('message', { to: 'wang@svom.cn', type: 'chat' }, xml('body', {}, 'bonjour')));
    await wang.xmpp.send(xml('message', { to: 'alice@svom.fr', type: 'chat' }, xml('body', {}, 'nihao')));
    const got = await wang.waitMessage((m) => m.getChildText('body') === 'bonjour', 30_000);
    expect(got.attrs.from).toMatch(/^alice@svom\.fr\//);
    expect((await alice.waitMessage((m) => m.getChildText('body') === 'nihao', 30_000)).attrs.from).toMatch(/^wang@svom\.cn\//);
  }, 60_000);

  it('lets svom.cn users subscribe to pubsub.svom.fr; the French policy decides what each may see', async () => {
    const carl = await env.client('carl', 'svom.cn');
    await carl.xmpp.send(xml('presence'));
    const sub = (node: string) => carl.iq('set', 'pubsub.svom.fr', ps(xml('subscribe', { node, jid: 'carl@svom.cn' })), 30_000);
    // XEP-0060 §6.1.3.4: not on the whitelist of a level node.
    expect(errorOf(await sub('mxt/collaboration'))).toMatchObject({ condition: 'not-allowed', pubsub: 'closed-node' });
    expect(errorOf(await sub('mxt/community'))).toBeUndefined();
    await publish('mxt-carl-1');
    await carl.waitMessage((m) => items(m)?.attrs.node === 'mxt/community', 30_000);
    const payload = itemsOf(carl, 'mxt/community')[0].toString();
    expect(payload).toContain('VOEvent');
    expect(payload).not.toContain('Satellite_Info'); // redacted by the French policy
    expect(MXT).toContain('Satellite_Info');
    expect(itemsOf(carl, 'mxt/collaboration')).toHaveLength(0);
  }, 90_000);

  it.skipIf(!slixmpp)('slixmpp bob@svom.cn on ejabberd gets every notification of a pubsub.svom.fr node once and pages through its items', async () => {
    const cn = env.fed.side('svom.cn').server;
    await cn.addUser('bob', 'svom.cn', 'bob');
    const bundle = join(env.fed.dir, 'ca-bundle.pem');
    writeFileSync(bundle, env.fed.certFiles.map((f) => readFileSync(f, 'utf8').trim()).join('\n') + '\n');
    const N = 5;
    const before = new Set((await fsc.iq('get', 'pubsub.svom.fr', ps(xml('items', { node: 'mxt/collaboration' })), 30_000)).getChild('pubsub')?.getChild('items')?.getChildren('item').map((i) => i.attrs.id) ?? []);
    const proc = spawn(PYTHON, [SCRIPT, '--jid', 'bob@svom.cn', '--password', 'bob', '--port', String(cn.c2sPort), '--ca', bundle,
      '--service', 'pubsub.svom.fr', '--node', 'mxt/collaboration', '--forbidden-node', 'mxt/pi', '--expect', String(N), '--page', '2', '--timeout', '90'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const steps: Record<string, { ok: boolean; ids?: string[]; pages?: { ids: string[] }[] }> = {};
    let stderr = '';
    proc.stderr.on('data', (d) => (stderr += d));
    const readySeen = new Promise<void>((res, rej) => {
      createInterface({ input: proc.stdout }).on('line', (line) => {
        const s = JSON.parse(line);
        steps[s.step] = s;
        if (s.step === 'ready') res();
      });
      proc.once('exit', () => rej(new Error(`slixmpp exited early: ${JSON.stringify(steps)}\n${stderr}`)));
    });
    const exited = new Promise<number | null>((res) => proc.once('exit', res));
    await readySeen;
    expect(steps.subscribe.ok).toBe(true);
    expect(steps.forbidden.ok, JSON.stringify(steps.forbidden)).toBe(true); // mxt/pi is not bob's level
    for (let i = 0; i < N; i++) await publish(`mxt-bob-${i}`);
    const code = await exited;
    expect(steps.notifications, stderr).toBeDefined();
    expect(new Set(steps.notifications.ids).size, JSON.stringify(steps.notifications)).toBe(N);
    expect(steps.notifications.ids).toHaveLength(N);
    expect(steps.paging.ok, JSON.stringify(steps.paging)).toBe(true);
    expect(steps.paging.pages!.length).toBeGreaterThanOrEqual(Math.ceil((N + before.size) / 2));
    expect(code, stderr).toBe(0);
  }, 150_000);
});

