/**
 * An agent's /metrics and /healthz: `voxnet subscribe --metrics-port` against a real
 * Prosody + broker counts the items it handled per node and reports how old the alert
 * was when it arrived (VOEvent Who/Date); the Who/Date reader is checked on real packets.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startBrokerEnv, PUBSUB, type BrokerEnv } from './helpers/broker-env.ts';
import { voxnet, agentEnv, type Proc } from './helpers/agents.ts';
import { connectAgent, publishVOEvent, type Agent } from '../agents/lib/index.ts';
import { alertDate } from '../agents/lib/metrics.ts';
import { xml } from '@xmpp/xml';
import { freePort } from '../broker-component/servers/net.ts';

const FIX = join(import.meta.dirname, 'fixtures/voevents');
const SWIFT = readFileSync(join(FIX, 'fink-mm__swift_voevent_number_392__BAT_GRB_Pos_1118357.xml'), 'utf8');

describe('alertDate', () => {
  it("reads a real packet's Who/Date as UTC", () => {
    const date = /<Date>([^<]+)<\/Date>/.exec(SWIFT)![1]!.trim();
    const packet = (d: string) => xml('voe:VOEvent', { 'xmlns:voe': 'http://www.ivoa.net/xml/VOEvent/v2.0' }, xml('Who', {}, xml('Date', {}, ` ${d} `)));
    expect(alertDate(packet(date))).toBe(Date.parse(date.endsWith('Z') ? date : `${date}Z`));
    expect(alertDate(packet('2026-05-11T06:13:57'))).toBe(Date.UTC(2026, 4, 11, 6, 13, 57));
    expect(alertDate(packet('2026-05-11T06:13:57+02:00'))).toBe(Date.UTC(2026, 4, 11, 4, 13, 57));
    expect(alertDate(packet('yesterday'))).toBeUndefined();
    expect(alertDate(xml('alert', { xmlns: 'urn:x' }))).toBeUndefined();
  });
});

describe('voxnet subscribe --metrics-port', () => {
  let env: BrokerEnv;
  let pub: Agent;
  let sub: Proc;
  let url: string;
  beforeAll(async () => {
    env = await startBrokerEnv();
    env.prosody.addUser('fsc', 'svom.fr', 'fsc');
    pub = await connectAgent({ jid: 'fsc@svom.fr', password: 'fsc', server: env.prosody.c2sUrl, service: PUBSUB, trust: env.prosody.certFiles, name: 'fsc' });
    await publishVOEvent(pub, 'grb', SWIFT.replace(/ivorn="[^"]+"/, 'ivorn="ivo://nasa.gsfc.gcn/SWIFT#m0"'));
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    // A state of its own: a cursor or IVORN remembered from another run must not hide the items.
    sub = voxnet(['subscribe', 'grb', '--format', 'summary', '--metrics-port', String(port), '--no-state'], agentEnv(env, 'reader'));
  }, 60_000);
  afterAll(async () => {
    sub?.child.kill('SIGTERM');
    await sub?.exited;
    await pub?.stop();
    await env?.stop();
  });

  it('counts the items handled, reports their age and says it is connected', async () => {
    const deadline = Date.now() + 30_000;
    let health = 0;
    while (Date.now() < deadline) {
      health = await fetch(`${url}/healthz`).then((r) => r.status, () => 0);
      if (health === 200) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(health).toBe(200);
    // Connected first, then subscribed: publish once the subscription exists.
    const admin = { jid: PUBSUB, bare: PUBSUB };
    while (env.broker.service.nodeInfo(admin, 'grb').subscribers < 1) {
      if (Date.now() > deadline) throw new Error('the subscriber never subscribed');
      await new Promise((r) => setTimeout(r, 100));
    }
    await publishVOEvent(pub, 'grb', SWIFT.replace(/ivorn="[^"]+"/, 'ivorn="ivo://nasa.gsfc.gcn/SWIFT#m1"'));
    await sub.waitLine((l) => l.includes('SWIFT'), 30_000);
    const text = await (await fetch(`${url}/metrics`)).text();
    expect(text).toMatch(/^voxnet_agent_items_total\{node="grb",agent="subscribe"\} 1$/m);
    expect(text).toMatch(/^voxnet_agent_connected\{agent="subscribe"\} 1$/m);
    // The Swift packet is years old: its age is that of its Who/Date.
    const lag = Number(/^voxnet_agent_lag_seconds\{node="grb",agent="subscribe"\} (\S+)$/m.exec(text)?.[1]);
    const who = Date.parse(`${/<Date>([^<]+)<\/Date>/.exec(SWIFT)![1]!.trim().replace(/Z?$/, 'Z')}`);
    expect(Math.abs(lag - (Date.now() - who) / 1000)).toBeLessThan(120);
  }, 90_000);
});
