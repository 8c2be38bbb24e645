/**
 * The telescope agent end to end without XMPP: real packets in order, a local
 * HTTP server playing the telescope portal, status VOEvents captured.
 */
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { TelescopeAgent } from '../agents/telescope/agent.ts';
import { Tracker } from '../agents/telescope/tracker.ts';
import { paramValue, parse, validate } from '../voevent/index.ts';
import { PACKETS, SITES, packet, rules } from './telescope-helpers.ts';

type Hit = { url: string; body: any };
const hits: Hit[] = [];
let failNext = 0;
let nextId = 500;
const server = http.createServer((req, res) => {
  let raw = '';
  req.on('data', (c) => (raw += c));
  req.on('end', () => {
    hits.push({ url: req.url!, body: raw ? JSON.parse(raw) : undefined });
    if (failNext > 0) {
      failNext--;
      res.writeHead(503).end('busy');
      return;
    }
    res.writeHead(req.url!.endsWith('/cancel/') ? 200 : 201, { 'content-type': 'application/json' });
    res.end(JSON.stringify(req.url!.endsWith('/cancel/') ? { state: 'CANCELED' } : { id: nextId++ }));
  });
});
let url = '';
beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/requestgroups/`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));
beforeEach(() => {
  hits.length = 0;
  failNext = 0;
});

function agentAt(site: (typeof SITES)[keyof typeof SITES], clock: { now: Date }, extra: Record<string, any> = {}, tracker?: Tracker) {
  const published: { node: string; xml: string }[] = [];
  const r = rules({ site, action: { type: 'http', url, retry: { attempts: 3, initial: '5ms', max: '20ms' } }, ...extra });
  const agent = new TelescopeAgent({
    rules: r,
    now: () => clock.now,
    publish: async (node, xml) => void published.push({ node, xml }),
    ...(tracker ? { tracker } : {}),
  });
  return { agent, published };
}

describe('telescope agent', () => {
  it('Swift BAT then XRT at Kitt Peak: posts a RAPID_RESPONSE request, then replaces it with the better position', async () => {
    const clock = { now: new Date('2022-09-30T11:12:20Z') };
    const { agent, published } = agentAt(SITES.kittPeak, clock);
    const r1 = await agent.handle(packet(PACKETS.swiftBat));
    expect(r1).toMatchObject({ status: 'triggered', result: { id: '500', attempts: 1 } });
    expect(hits).toHaveLength(1);
    expect(hits[0]!.body).toMatchObject({ observation_type: 'RAPID_RESPONSE', requests: [{ configurations: [{ target: { type: 'ICRS', ra: 64.7373, dec: 13.3517 } }] }] });

    clock.now = new Date('2022-09-30T11:15:10Z');
    const r2 = await agent.handle(packet(PACKETS.swiftXrt));
    expect(r2.status).toBe('updated');
    expect(hits.map((h) => h.url)).toEqual(['/api/requestgroups/', '/api/requestgroups/500/cancel/', '/api/requestgroups/']);
    expect(hits[2]!.body.requests[0].configurations[0].target).toMatchObject({ ra: 64.7149, dec: 13.35 });

    expect(published.map((p) => p.node)).toEqual(['telescope/status', 'telescope/status']);
    const [s1, s2] = published.map((p) => parse(p.xml));
    expect(validate(published[1]!.xml).valid).toBe(true);
    expect(paramValue(s1!, 'Status')).toBe('triggered');
    expect(paramValue(s1!, 'Request_Id')).toBe('500');
    expect(s2!.citations!.eventIVORNs).toEqual([{ ivorn: 'ivo://nasa.gsfc.gcn/SWIFT#XRT_Pos_1125809-104', cite: 'followup' }]);
    expect(paramValue(s2!, 'Status')).toBe('updated');
    expect(paramValue(s2!, 'Request_Id')).toBe('501');
    expect(paramValue(s2!, 'Replaces_Request_Id')).toBe('500');
  });

  it('SVOM wake-up at Xinglong in daylight: schedules a NORMAL request; the retraction cancels it', async () => {
    const clock = { now: new Date('2026-03-04T10:04:01Z') };
    const { agent, published } = agentAt(SITES.xinglong, clock);
    const r1 = await agent.handle(packet(PACKETS.svomWakeupRetracted));
    expect(r1.status).toBe('scheduled');
    expect(hits[0]!.body.observation_type).toBe('NORMAL');
    const w = hits[0]!.body.requests[0].windows[0];
    expect(Date.parse(w.start)).toBeGreaterThan(clock.now.getTime());
    clock.now = new Date('2026-03-04T10:04:02Z');
    const r2 = await agent.handle(packet(PACKETS.svomRetraction));
    expect(r2.status).toBe('cancelled');
    expect(hits.map((h) => h.url)).toEqual(['/api/requestgroups/', `/api/requestgroups/${r1.result!.id}/cancel/`]);
    expect(published.map((p) => paramValue(parse(p.xml), 'Status'))).toEqual(['scheduled', 'cancelled']);
    expect(paramValue(parse(published[1]!.xml), 'Request_Id')).toBe(r1.result!.id);
  });

  it('rejections are published with their reason, ignored packets are not', async () => {
    const clock = { now: new Date('2026-05-11T06:14:20Z') };
    const { agent, published } = agentAt(SITES.kittPeak, clock);
    expect((await agent.handle(packet(PACKETS.svomWakeup))).status).toBe('rejected');
    expect((await agent.handle(packet(PACKETS.lvkPrelim))).decision.action).toBe('ignore'); // role=test
    expect(hits).toHaveLength(0);
    expect(published).toHaveLength(1);
    expect(paramValue(parse(published[0]!.xml), 'Reason')).toMatch(/stays below 30\.0°/);
  });

  it('retries a busy portal, and reports a failure after the last attempt', async () => {
    const clock = { now: new Date('2022-09-30T11:12:20Z') };
    const { agent, published } = agentAt(SITES.kittPeak, clock);
    failNext = 2;
    const ok = await agent.handle(packet(PACKETS.swiftBat));
    expect(ok).toMatchObject({ status: 'triggered', result: { attempts: 3 } });
    const { agent: a2, published: p2 } = agentAt(SITES.kittPeak, clock);
    failNext = 3;
    const bad = await a2.handle(packet(PACKETS.swiftBat));
    expect(bad.status).toBe('failed');
    expect(bad.error).toMatch(/HTTP 503: busy \(after 3 attempts\)/);
    const st = parse(p2[0]!.xml);
    expect(paramValue(st, 'Status')).toBe('failed');
    expect(paramValue(st, 'Reason')).toMatch(/^trigger failed: POST .* HTTP 503/);
    expect(published).toHaveLength(1);
    // The failed request is not active: the XRT followup triggers afresh rather than updating.
    clock.now = new Date('2022-09-30T11:15:10Z');
    hits.length = 0;
    expect((await a2.handle(packet(PACKETS.swiftXrt))).status).toBe('triggered');
    expect(hits.map((h) => h.url)).toEqual(['/api/requestgroups/']);
  });

  it('handles packets in arrival order even when they come together', async () => {
    const clock = { now: new Date('2022-09-30T11:15:10Z') };
    const { agent } = agentAt(SITES.kittPeak, clock);
    const [a, b] = await Promise.all([agent.handle(packet(PACKETS.swiftBat)), agent.handle(packet(PACKETS.swiftXrt))]);
    expect(a.status).toBe('triggered');
    expect(b.status).toBe('updated');
  });

  it('remembers its requests across a restart (state file)', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'voxnet-tel-')), 'state.json');
    const clock = { now: new Date('2026-03-04T10:04:01Z') };
    const first = agentAt(SITES.xinglong, clock, {}, new Tracker({ file }));
    const r1 = await first.agent.handle(packet(PACKETS.svomWakeupRetracted));
    expect(r1.status).toBe('scheduled');
    const second = agentAt(SITES.xinglong, clock, {}, new Tracker({ file }));
    expect((await second.agent.handle(packet(PACKETS.svomWakeupRetracted))).decision.reason).toBe('already handled');
    const r2 = await second.agent.handle(packet(PACKETS.svomRetraction));
    expect(r2.status).toBe('cancelled');
    expect(hits.at(-1)!.url).toBe(`/api/requestgroups/${r1.result!.id}/cancel/`);
  });
});
