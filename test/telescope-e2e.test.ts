/**
 * Telescope agents end to end: real Prosody + the VOXnet broker, a science centre
 * publishing real packets, two telescopes (Kitt Peak for Swift, Xinglong for SVOM)
 * following the alert nodes, a local HTTP server playing the observatory portal,
 * and a watcher following the telescopes' status nodes. The agents' clocks are set to the
 * packets' times so that the geometry is that of the real events.
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectAgent, createLogger, publishVOEvent, type Agent, type FollowedItem } from '../agents/lib/index.ts';
import { runTelescope, type RunningTelescope } from '../agents/telescope/run.ts';
import { Tracker } from '../agents/telescope/tracker.ts';
import { getParam, parse, paramValue } from '../voevent/index.ts';
import { startBrokerEnv, PUBSUB, type BrokerEnv } from './helpers/broker-env.ts';
import YAML from 'yaml';
import { PACKETS, REPO_ROOT, SITES, packetXml, rules, rulesDoc } from './telescope-helpers.ts';

async function until(pred: () => boolean, timeoutMs = 15_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

type Hit = { url: string; body: any; telescope: string };

describe('telescope agents through Prosody and the broker', () => {
  let env: BrokerEnv;
  let portal: http.Server;
  let portalUrl = '';
  const hits: Hit[] = [];
  let nextId = 9000;
  let fsc: Agent;
  let watcher: Agent;
  const statuses: FollowedItem[] = [];
  const running: RunningTelescope[] = [];
  const dirs: string[] = [];
  const clocks = { kp: new Date('2022-09-30T11:12:20Z'), xl: new Date('2026-03-04T10:04:01Z') };

  function connection(user: string) {
    env.prosody.addUser(user, 'svom.fr', user);
    return { jid: `${user}@svom.fr`, password: user, server: env.prosody.c2sUrl, service: PUBSUB, trust: env.prosody.certFiles };
  }

  async function telescope(name: 'kp' | 'xl', stateDir: string): Promise<RunningTelescope> {
    const site = name === 'kp' ? SITES.kittPeak : SITES.xinglong;
    const stream = name === 'kp' ? { stream: 'ivo://nasa.gsfc.gcn/SWIFT', packet_types: [61, 67] } : { stream: 'ivo://org.svom/fsc', packet_types: [202, 204] };
    const r = rules({
      telescope: { name: name.toUpperCase(), author_ivorn: `ivo://voxnet.test/telescope/${name}` },
      site,
      subscribe: { nodes: ['svom', 'swift', 'lvk'], status_node: `telescope/${name}/status` },
      accept: { streams: [stream, 'ivo://gwnet/LVC'], max_error_radius: 0.5 },
      action: { type: 'http', url: `${portalUrl}${name}/api/requestgroups/`, retry: { attempts: 3, initial: '20ms', max: '100ms' } },
    });
    const t = await runTelescope({
      rules: r,
      connection: connection(`tel-${name}`),
      tracker: new Tracker({ file: join(stateDir, 'requests.json') }),
      stateDir,
      now: () => clocks[name],
      ...(process.env.TEL_DEBUG ? { log: createLogger(name, 'debug') } : {}),
    });
    running.push(t);
    return t;
  }

  const statusOf = (s: FollowedItem) => {
    const ev = parse(s.xml);
    return { author: ev.who!.authorIVORN!, status: paramValue(ev, 'Status')!, cites: ev.citations!.eventIVORNs, requestId: paramValue(ev, 'Request_Id'), ev };
  };

  beforeAll(async () => {
    env = await startBrokerEnv();
    portal = http.createServer((req, res) => {
      let raw = '';
      req.on('data', (c) => (raw += c));
      req.on('end', () => {
        hits.push({ url: req.url!, body: raw ? JSON.parse(raw) : undefined, telescope: req.url!.split('/')[1]! });
        const cancel = req.url!.endsWith('/cancel/');
        res.writeHead(cancel ? 200 : 201, { 'content-type': 'application/json' });
        res.end(JSON.stringify(cancel ? { state: 'CANCELED' } : { id: nextId++, state: 'PENDING' }));
      });
    });
    await new Promise<void>((r) => portal.listen(0, '127.0.0.1', r));
    portalUrl = `http://127.0.0.1:${(portal.address() as AddressInfo).port}/`;
    fsc = await connectAgent({ ...connection('fsc'), name: 'fsc' });
    // The science centre's nodes exist before anyone follows them (the first publish creates them).
    await publishVOEvent(fsc, 'svom', packetXml('gcn-notice-parser__svom_grm_353__sb26051101_grm-trigger.xml'));
    await publishVOEvent(fsc, 'swift', packetXml('fink-mm__swift_voevent_number_391__BAT_QuickLook_Pos_1118357.xml'));
    await publishVOEvent(fsc, 'lvk', packetXml(PACKETS.lvkEarly));
    for (const n of ['kp', 'xl'] as const) {
      const d = mkdtempSync(join(tmpdir(), `voxnet-tel-${n}-`));
      dirs.push(d);
      await telescope(n, d);
    }
    watcher = await connectAgent({ ...connection('watcher'), name: 'watcher' });
    // Each telescope publishes on its own status node (it creates it and is its owner).
    for (const n of ['kp', 'xl']) await watcher.follow(`telescope/${n}/status`, (it) => void statuses.push(it));
  }, 120_000);

  afterAll(async () => {
    await Promise.all(running.map((t) => t.stop()));
    await fsc?.stop();
    await watcher?.stop();
    await env?.stop();
    await new Promise<void>((r) => (portal ? portal.close(() => r()) : r()));
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('Swift BAT position → Kitt Peak posts a RAPID_RESPONSE request and says so on the status node', async () => {
    await publishVOEvent(fsc, 'swift', packetXml(PACKETS.swiftBat));
    await until(() => statuses.length >= 1, 15_000, 'a status');
    expect(hits).toHaveLength(1);
    expect(hits[0]).toMatchObject({ url: '/kp/api/requestgroups/', body: { observation_type: 'RAPID_RESPONSE', proposal: 'TEST2026A-001' } });
    expect(hits[0]!.body.requests[0].configurations[0].target).toEqual({ name: 'Swift 1125809', type: 'ICRS', ra: 64.7373, dec: 13.3517, epoch: 2000 });
    const s = statusOf(statuses[0]!);
    expect(s).toMatchObject({ author: 'ivo://voxnet.test/telescope/kp', status: 'triggered', requestId: '9000' });
    expect(s.cites).toEqual([{ ivorn: 'ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_1125809-092', cite: 'followup' }]);
    expect(s.ev.role).toBe('utility');
  });

  it('XRT followup → the request is replaced (cancel + new POST), status "updated"', async () => {
    clocks.kp = new Date('2022-09-30T11:15:10Z');
    await publishVOEvent(fsc, 'swift', packetXml(PACKETS.swiftXrt));
    await until(() => statuses.length >= 2, 15_000, 'the update status');
    expect(hits.slice(1).map((h) => h.url)).toEqual(['/kp/api/requestgroups/9000/cancel/', '/kp/api/requestgroups/']);
    expect(hits[2]!.body.requests[0].configurations[0].target).toMatchObject({ ra: 64.7149, dec: 13.35 });
    expect(statusOf(statuses[1]!)).toMatchObject({ status: 'updated', requestId: '9001' });
    expect(paramValue(statusOf(statuses[1]!).ev, 'Replaces_Request_Id')).toBe('9000');
  });

  it('SVOM wake-up → Xinglong schedules for dusk; Kitt Peak ignores it (not its stream)', async () => {
    await publishVOEvent(fsc, 'svom', packetXml(PACKETS.svomWakeupRetracted));
    await until(() => statuses.length >= 3, 15_000, 'the schedule status');
    const s = statusOf(statuses[2]!);
    expect(s).toMatchObject({ author: 'ivo://voxnet.test/telescope/xl', status: 'scheduled', requestId: '9002' });
    const post = hits.at(-1)!;
    expect(post).toMatchObject({ url: '/xl/api/requestgroups/', body: { observation_type: 'NORMAL' } });
    expect(Date.parse(post.body.requests[0].windows[0].start)).toBeGreaterThan(clocks.xl.getTime());
    expect(getParam(s.ev, 'sun', 'Verdicts')?.value).toBe('later');
  });

  it('a role=test LVK alert draws no request and no status', async () => {
    const before = { hits: hits.length, statuses: statuses.length };
    await publishVOEvent(fsc, 'lvk', packetXml(PACKETS.lvkPrelim));
    // A marker after it: once the marker's status is in, the LVK packet was handled too (items are handled in order per node).
    await publishVOEvent(fsc, 'lvk', packetXml(PACKETS.lvkRetraction));
    await new Promise((r) => setTimeout(r, 1500));
    expect(hits.length).toBe(before.hits);
    expect(statuses.length).toBe(before.statuses);
  });

  it('the retraction arrives while Xinglong is down: caught up after the restart, the request is cancelled', async () => {
    const xl = running.find((t) => t.agent.rules.telescope.name === 'XL')!;
    await xl.stop();
    running.splice(running.indexOf(xl), 1);
    clocks.xl = new Date('2026-03-04T10:04:05Z');
    await publishVOEvent(fsc, 'svom', packetXml(PACKETS.svomRetraction));
    await new Promise((r) => setTimeout(r, 300));
    expect(hits.at(-1)!.url).toBe('/xl/api/requestgroups/'); // nothing cancelled yet
    await telescope('xl', dirs[1]!);
    await until(() => statuses.some((s) => statusOf(s).status === 'cancelled'), 20_000, 'the cancel status');
    expect(hits.at(-1)!.url).toBe('/xl/api/requestgroups/9002/cancel/');
    const c = statuses.map(statusOf).find((s) => s.status === 'cancelled')!;
    expect(c).toMatchObject({ author: 'ivo://voxnet.test/telescope/xl', requestId: '9002' });
    expect(c.cites).toEqual([{ ivorn: 'ivo://org.svom/fsc#sb26030408_retraction', cite: 'followup' }]);
    // The wake-up (before the cursor) was not handled a second time.
    expect(hits.filter((h) => h.url === '/xl/api/requestgroups/')).toHaveLength(1);
  }, 60_000);

  it('the voxnet command itself: SVOM wake-up at La Silla with --at → a RAPID_RESPONSE POST and a status; SIGTERM stops it cleanly', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'voxnet-tel-cli-'));
    dirs.push(dir);
    const cfg = join(dir, 'ls.yaml');
    writeFileSync(cfg, YAML.stringify(rulesDoc({
      telescope: { name: 'LS', author_ivorn: 'ivo://voxnet.test/telescope/ls' },
      site: SITES.laSilla,
      subscribe: { nodes: ['svom'], status_node: 'telescope/ls/status' },
      accept: { streams: [{ stream: 'ivo://org.svom/fsc', packet_types: [202, 204] }] },
      action: { type: 'http', url: `${portalUrl}ls/api/requestgroups/` },
      state_file: 'requests.json',
    })));
    const conn = connection('tel-ls');
    const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'voxnet.js'), 'agent', 'telescope', '--config', cfg, '--at', '2026-05-11T06:14:19Z',
      '--jid', conn.jid, '--password', conn.password, '--server', conn.server, '--service', conn.service, '--trust', conn.trust[0]!, '--log-level', 'info'],
    { cwd: REPO_ROOT, env: { ...process.env, VOXNET_STATE_DIR: dir }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b) => (stderr += b));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    try {
      await until(() => stderr.includes('telescope agent running'), 30_000, 'the agent to start');
      await watcher.follow('telescope/ls/status', (it) => void statuses.push(it));
      await publishVOEvent(fsc, 'svom', packetXml(PACKETS.svomWakeup));
      await until(() => hits.some((h) => h.telescope === 'ls'), 15_000, 'the La Silla request');
      const post = hits.find((h) => h.telescope === 'ls')!;
      expect(post.body.observation_type).toBe('RAPID_RESPONSE');
      expect(post.body.requests[0].configurations[0].target).toMatchObject({ name: 'SVOM sb26051101', ra: 197.9295, dec: -33.8525 });
      await until(() => statuses.some((s) => statusOf(s).author === 'ivo://voxnet.test/telescope/ls'), 15_000, 'the La Silla status');
      expect(statuses.map(statusOf).find((s) => s.author === 'ivo://voxnet.test/telescope/ls')).toMatchObject({ status: 'triggered' });
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(stderr).toMatch(/"msg":"alert triggered"/);
  }, 90_000);
});
