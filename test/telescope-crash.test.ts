/**
 * The telescope agent killed between sending a request and recording it (found
 * by bench/kills.ts: a SIGKILL in that window sent the request twice after the
 * restart). The intent is written ahead; the restarted agent asks the portal
 * (LCO's `GET /api/requestgroups/?name=`) and adopts the request it finds.
 * test/kills.test.ts kills the real `voxnet agent telescope` process.
 */
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { TelescopeAgent } from '../agents/telescope/agent.ts';
import { Tracker } from '../agents/telescope/tracker.ts';
import { buildRequestGroup } from '../agents/telescope/requests.ts';
import { decide } from '../agents/telescope/decide.ts';
import { PACKETS, SITES, packet, rules } from './telescope-helpers.ts';

const posts: any[] = [];
const groups: { id: number; name: string; state: string }[] = [];
let lookups = true;
const server = http.createServer((req, res) => {
  let raw = '';
  req.on('data', (c) => (raw += c));
  req.on('end', () => {
    const u = new URL(req.url!, 'http://portal');
    res.setHeader('content-type', 'application/json');
    if (req.method === 'GET') {
      if (!lookups) return void res.writeHead(405).end('{}');
      const results = groups.filter((g) => g.name === u.searchParams.get('name'));
      return void res.end(JSON.stringify({ count: results.length, results }));
    }
    const body = JSON.parse(raw);
    posts.push(body);
    const g = { id: 700 + groups.length, name: body.name, state: 'PENDING' };
    groups.push(g);
    res.writeHead(201).end(JSON.stringify(g));
  });
});
let url = '';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'voxnet-tel-crash-'));
beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/requestgroups/`;
});
afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  fs.rmSync(tmp, { recursive: true, force: true });
});
beforeEach(() => {
  posts.length = 0;
  groups.length = 0;
  lookups = true;
});

const at = new Date('2022-09-30T11:12:20Z');
const r = () => rules({ site: SITES.kittPeak, action: { type: 'http', url, retry: { attempts: 2, initial: '5ms', max: '10ms' } } });
const agentWith = (file: string) => new TelescopeAgent({ rules: r(), now: () => at, tracker: new Tracker({ file }) });

/** What the killed agent had done: the intent saved, then (maybe) the POST sent; nothing recorded. */
async function crashAfter(file: string, posted: boolean): Promise<void> {
  const ev = packet(PACKETS.swiftBat);
  new Tracker({ file }).begin(ev.ivorn, 'submit', at);
  if (posted) await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(buildRequestGroup(decide(ev, r(), at, undefined), r())) });
}

describe('telescope agent restarted after a crash mid-action', () => {
  it('the request reached the portal before the crash: adopted, not sent again', async () => {
    const file = path.join(tmp, 'a.json');
    await crashAfter(file, true);
    expect(posts).toHaveLength(1);
    const res = await agentWith(file).handle(packet(PACKETS.swiftBat));
    expect(res).toMatchObject({ status: 'triggered', result: { id: '700', attempts: 0 } });
    expect(posts).toHaveLength(1);
    // Recorded: the intent is gone and the request is tracked.
    const again = new Tracker({ file });
    expect(again.pendingFor(packet(PACKETS.swiftBat).ivorn)).toBeUndefined();
    expect([...again.requestIds()]).toEqual(['700']);
  });

  it('the crash came before the POST: the request is sent once', async () => {
    const file = path.join(tmp, 'b.json');
    await crashAfter(file, false);
    const res = await agentWith(file).handle(packet(PACKETS.swiftBat));
    expect(res).toMatchObject({ status: 'triggered', result: { id: '700', attempts: 1 } });
    expect(posts).toHaveLength(1);
  });

  it('a portal that cannot be asked: the request is sent again (at least once, never lost)', async () => {
    const file = path.join(tmp, 'c.json');
    await crashAfter(file, true);
    lookups = false;
    const res = await agentWith(file).handle(packet(PACKETS.swiftBat));
    expect(res.status).toBe('triggered');
    expect(posts).toHaveLength(2);
  });

  it('no crash: no lookup, one POST, no intent left behind', async () => {
    const file = path.join(tmp, 'd.json');
    const res = await agentWith(file).handle(packet(PACKETS.swiftBat));
    expect(res).toMatchObject({ status: 'triggered', result: { attempts: 1 } });
    expect(posts).toHaveLength(1);
    expect(JSON.parse(fs.readFileSync(file, 'utf8')).pending).toBeUndefined();
  });
});
