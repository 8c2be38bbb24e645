/**
 * Filters evaluated by the broker (subscription option voxnet#filter) against a
 * real Prosody: slixmpp sets the option when subscribing, reads it back, is
 * refused a broken filter with the column; it then receives exactly the
 * published alerts its filter accepts. `voxnet subscribe --filter` does the same
 * from our CLI. Skipped for slixmpp only when /usr/bin/python3 cannot import it.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { xml } from '@xmpp/xml';
import { startBrokerEnv, PUBSUB, type BrokerEnv } from './helpers/broker-env.ts';
import { ps, nodeConfig } from './helpers/pubsub.ts';
import { agentEnv, voxnet } from './helpers/agents.ts';
import { connectAgent, publishVOEvent, itemIdFor, type Agent } from '../agents/lib/index.ts';
import { compileFilter, subjectOf } from '../filter/index.ts';
import { ivornOfPayload } from '../broker-component/voevent-rules.ts';

const PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('./interop/slixmpp_filters.py', import.meta.url));
const slixmpp = existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import slixmpp.plugins.xep_0060'], { timeout: 20_000 }).status === 0;
if (!slixmpp) console.warn(`filter-broker: slixmpp part skipped — ${PYTHON} cannot import slixmpp (apt-get install -y python3-slixmpp)`);

const VOEVENT_NS = 'http://www.ivoa.net/xml/VOEvent/v2.0';
const fx = (f: string) => readFileSync(new URL(`./fixtures/voevents/${f}`, import.meta.url), 'utf8');
const PACKETS = [
  'fink-mm__swift_voevent_number_391__BAT_QuickLook_Pos_1118357.xml',
  'gcn-notice-parser__svom_eclairs_319__sb26051101_eclairs-wakeup.xml',
  'fink-mm__swift_voevent_number_392__BAT_GRB_Pos_1118357.xml',
  'MS181101ab-2-Preliminary.xml',
].map(fx);
const FILTER = 'role = "observation" and inside(cone(225, -69.5, 2))';
const idOf = (p: string) => itemIdFor(ivornOfPayload(p)!);
const accepted = (filter: string) => PACKETS.filter((p) => compileFilter(filter).accepts(subjectOf(p))).map(idOf);

describe('filters evaluated by the broker (voxnet#filter)', () => {
  let env: BrokerEnv;
  let fsc: Agent;
  beforeAll(async () => {
    env = await startBrokerEnv();
    env.prosody.addUser('fsc', 'svom.fr', 'fsc');
    env.prosody.addUser('slixflt', 'svom.cn', 'slixflt');
    fsc = await connectAgent({ jid: 'fsc@svom.fr', password: 'fsc', server: env.prosody.c2sUrl, service: PUBSUB, trust: env.prosody.certFiles, name: 'fsc' });
    for (const node of ['flt', 'flt-cli']) await fsc.iq('set', ps(xml('create', { node }), xml('configure', {}, nodeConfig({ 'pubsub#type': VOEVENT_NS }))));
  }, 120_000);
  afterAll(async () => {
    await fsc?.stop();
    await env?.stop();
  });

  it('the filter accepts two of the four packets (sanity of the fixture choice)', () => {
    expect(accepted(FILTER)).toEqual([idOf(PACKETS[0]!), idOf(PACKETS[2]!)]);
  });

  it.skipIf(!slixmpp)('slixmpp subscribes with voxnet#filter and receives exactly what the filter accepts', async () => {
    const p = spawn(PYTHON, [SCRIPT, '--jid', 'slixflt@svom.cn', '--password', 'slixflt', '--port', String(env.prosody.c2sPort), '--service', PUBSUB,
      '--node', 'flt', '--filter', FILTER, '--bad-filter', 'role = "observation" and', '--expect', '2', '--timeout', '30',
      ...env.prosody.certFiles.flatMap((c) => ['--ca', c])], { stdio: ['ignore', 'pipe', 'pipe'] });
    const steps: { step: string; ok: boolean; detail: unknown }[] = [];
    let err = '';
    p.stderr.on('data', (d) => (err += d));
    let buf = '';
    const ready = new Promise<void>((resolve) => p.stdout.on('data', (d) => {
      buf += d;
      for (;;) {
        const i = buf.indexOf('\n');
        if (i < 0) break;
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (!line.startsWith('{')) continue;
        const s = JSON.parse(line);
        steps.push(s);
        if (s.step === 'ready') resolve();
      }
    }));
    const exited = new Promise<number | null>((r) => p.on('exit', r));
    await Promise.race([ready, exited]);
    expect(steps.map((s) => s.step), err).toContain('ready');
    for (const packet of PACKETS) await publishVOEvent(fsc, 'flt', packet);
    expect(await exited, err).toBe(0);
    const by = Object.fromEntries(steps.map((s) => [s.step, s]));
    expect(by['subscribe-with-filter']).toMatchObject({ ok: true, detail: { state: 'subscribed' } });
    expect(by['options-read-back']).toMatchObject({ ok: true, detail: { 'voxnet#filter': FILTER } });
    expect(by['bad-filter-refused']).toMatchObject({ ok: true, detail: { condition: 'bad-request' } });
    expect((by['bad-filter-refused']!.detail as { text: string }).text).toMatch(/column 25: expected a value/);
    expect(by['received']!.detail).toEqual(accepted(FILTER));
  }, 120_000);

  it('voxnet subscribe --filter receives only accepted alerts; a broken filter is a usage error with the column', async () => {
    const e = agentEnv(env, 'carol');
    const filter = 'param.Packet_Type in [202, 150]';
    const sub = voxnet(['subscribe', 'flt-cli', '--filter', filter, '--count', '2', '--no-state', '--format', 'json'], e);
    // Subscribed once the first catch-up is done: wait until the broker holds the subscription.
    const deadline = Date.now() + 30_000;
    while (!env.broker.service.ownSubscriptions({ jid: 'carol@svom.fr', bare: 'carol@svom.fr' }, 'flt-cli').length) {
      if (Date.now() > deadline) throw new Error(`no subscription; stderr: ${sub.stderr()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const [s] = env.broker.service.ownSubscriptions({ jid: 'carol@svom.fr', bare: 'carol@svom.fr' }, 'flt-cli');
    expect(s!.options.filter).toBe(filter);
    for (const packet of PACKETS) await publishVOEvent(fsc, 'flt-cli', packet);
    expect(await sub.exited, sub.stderr()).toBe(0);
    expect(sub.lines.map((l) => JSON.parse(l).id)).toEqual(accepted(filter));

    const bad = voxnet(['subscribe', 'flt-cli', '--filter', 'param.Packet_Type in 202', '--no-state'], e);
    expect(await bad.exited).toBe(2);
    expect(bad.stderr()).toMatch(/--filter: filter error at column 22: 'in' needs a list/);
  }, 90_000);
});
