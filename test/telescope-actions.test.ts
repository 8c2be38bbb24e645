/** Telescope actions: HTTP POST to a local server playing the telescope, and commands; retries with backoff. */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ActionError, retryDelay, CommandAction, createAction, HttpAction, withRetry, type ActionInput } from '../agents/telescope/actions.ts';
import { decide } from '../agents/telescope/decide.ts';
import { buildRequestGroup } from '../agents/telescope/requests.ts';
import { PACKETS, SITES, packet, rules } from './telescope-helpers.ts';

type Hit = { method: string; url: string; headers: http.IncomingHttpHeaders; body: any; at: number };

/** A telescope portal: answers from a script of status codes, records every request. */
function portal() {
  const hits: Hit[] = [];
  let script: number[] = [];
  let nextId = 1000;
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      hits.push({ method: req.method!, url: req.url!, headers: req.headers, body: raw ? JSON.parse(raw) : undefined, at: Date.now() });
      const code = script.shift() ?? (req.url!.endsWith('/cancel/') ? 200 : 201);
      if (code === 0) return req.socket.destroy(); // drop the connection
      if (code === -1) return; // never answer
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(code < 300 ? JSON.stringify(req.url!.endsWith('/cancel/') ? { state: 'CANCELED' } : { id: nextId++, state: 'PENDING' }) : JSON.stringify({ detail: `status ${code}` }));
    });
  });
  return {
    hits,
    set script(s: number[]) {
      script = [...s];
    },
    async start() {
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      return `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/requestgroups/`;
    },
    stop: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

const bat = packet(PACKETS.swiftBat);
const r = rules({ site: SITES.kittPeak });
const decision = decide(bat, r, new Date('2022-09-30T11:12:20Z'));
const group = buildRequestGroup(decision, r);
const submit: ActionInput = { kind: 'submit', event: bat, decision, requestGroup: group };
const retry = { attempts: 4, initial: 20, max: 80, factor: 2 };

describe('backoff', () => {
  it('doubles from the initial delay up to the maximum', () => {
    expect([1, 2, 3, 4, 5].map((n) => retryDelay({ attempts: 9, initial: 500, max: 3000, factor: 2 }, n))).toEqual([500, 1000, 2000, 3000, 3000]);
  });

  it('retries retryable errors, gives up on the others at once', async () => {
    const slept: number[] = [];
    const sleep = async (ms: number) => void slept.push(ms);
    let n = 0;
    const ok = await withRetry(async () => { if (++n < 3) throw new Error('flaky'); return 'done'; }, retry, { sleep });
    expect(ok).toEqual({ value: 'done', attempts: 3 });
    expect(slept).toEqual([20, 40]);
    await expect(withRetry(async () => { throw new ActionError('HTTP 400', false); }, retry, { sleep })).rejects.toMatchObject({ attempts: 1, message: 'HTTP 400 (after 1 attempt)' });
    await expect(withRetry(async () => { throw new Error('down'); }, retry, { sleep })).rejects.toMatchObject({ attempts: 4, message: 'down (after 4 attempts)' });
  });
});

describe('LCO-shaped request group', () => {
  it('has the observation-portal fields', () => {
    expect(group).toEqual({
      name: 'T1 Swift 1125809',
      proposal: 'TEST2026A-001',
      ipp_value: 1.05,
      operator: 'SINGLE',
      observation_type: 'RAPID_RESPONSE',
      requests: [{
        configurations: [{
          type: 'EXPOSE',
          instrument_type: '1M0-SCICAM-SINISTRO',
          target: { name: 'Swift 1125809', type: 'ICRS', ra: 64.7373, dec: 13.3517, epoch: 2000 },
          constraints: { max_airmass: 2, min_lunar_distance: 30 },
          instrument_configs: [{ exposure_time: 60, exposure_count: 3, optical_elements: { filter: 'rp' } }],
          acquisition_config: { mode: 'OFF' },
          guiding_config: { mode: 'ON', optional: true },
        }],
        windows: [{ start: '2022-09-30T11:12:20Z', end: decision.window!.end.toISOString().replace(/\.\d{3}Z$/, 'Z') }],
        location: { telescope_class: '1m0' },
      }],
    });
  });

  it('maps a min_altitude onto max_airmass', () => {
    const r2 = rules({ site: SITES.kittPeak, observability: { max_airmass: undefined, min_altitude: 45 } });
    const d = decide(bat, r2, new Date('2022-09-30T11:12:20Z'));
    expect(buildRequestGroup(d, r2).requests[0]!.configurations[0]!.constraints.max_airmass).toBeCloseTo(Math.SQRT2, 3);
  });
});

describe('http action', () => {
  const p = portal();
  let url = '';
  beforeAll(async () => {
    url = await p.start();
  });
  afterAll(() => p.stop());

  it('POSTs the request group as JSON with the token and returns the portal id', async () => {
    p.hits.length = 0;
    const a = createAction({ type: 'http', url, headers: { 'x-site': 'kp' }, tokenEnv: 'TEL_TOKEN', timeout: 2000, retry }, { env: { TEL_TOKEN: 's3cret' } });
    const res = await a.perform(submit);
    expect(res.id).toMatch(/^\d+$/);
    expect(res.attempts).toBe(1);
    expect(p.hits).toHaveLength(1);
    expect(p.hits[0]).toMatchObject({ method: 'POST', url: '/api/requestgroups/', body: group });
    expect(p.hits[0]!.headers).toMatchObject({ authorization: 'Token s3cret', 'content-type': 'application/json', 'x-site': 'kp' });
  });

  it('refuses to start without the token it was told to use', () => {
    expect(() => createAction({ type: 'http', url, tokenEnv: 'TEL_TOKEN', headers: {}, timeout: 2000, retry }, { env: {} })).toThrow(/TEL_TOKEN is not set/);
  });

  it('retries 503s and dropped connections with growing delays, then succeeds', async () => {
    p.hits.length = 0;
    p.script = [503, 0, 429];
    const retries: number[] = [];
    const a = new HttpAction({ url, timeout: 2000, retry, onRetry: (_e, _n, delay) => retries.push(delay) });
    const res = await a.perform(submit);
    expect(res.attempts).toBe(4);
    expect(retries).toEqual([20, 40, 80]);
    const gaps = p.hits.slice(1).map((h, i) => h.at - p.hits[i]!.at);
    expect(gaps[0]).toBeGreaterThanOrEqual(18);
    expect(gaps[1]).toBeGreaterThanOrEqual(38);
    expect(gaps[2]).toBeGreaterThanOrEqual(78);
  });

  it('does not retry a 400, and reports the portal answer', async () => {
    p.hits.length = 0;
    p.script = [400];
    const a = new HttpAction({ url, timeout: 2000, retry });
    const err = await a.perform(submit).catch((e) => e);
    expect(err).toBeInstanceOf(ActionError);
    expect(err.message).toMatch(/HTTP 400: \{"detail":"status 400"\} \(after 1 attempt\)/);
    expect(p.hits).toHaveLength(1);
  });

  it('gives up after the last attempt when the portal stays down, and times out a silent one', async () => {
    p.hits.length = 0;
    p.script = [500, 500, 500, 500];
    const err = await new HttpAction({ url, timeout: 2000, retry }).perform(submit).catch((e) => e);
    expect(err.message).toMatch(/HTTP 500.*\(after 4 attempts\)/);
    expect(p.hits).toHaveLength(4);
    p.script = [-1];
    const slow = await new HttpAction({ url, timeout: 100, retry: { ...retry, attempts: 1 } }).perform(submit).catch((e) => e);
    expect(slow.message).toMatch(/no answer within 100 ms/);
  });

  it('cancels with POST {url}{id}/cancel/ and updates by cancelling then submitting', async () => {
    p.hits.length = 0;
    const a = new HttpAction({ url, timeout: 2000, retry });
    await a.perform({ kind: 'cancel', event: bat, decision, previousId: '1000' });
    expect(p.hits.map((h) => h.url)).toEqual(['/api/requestgroups/1000/cancel/']);
    p.hits.length = 0;
    const res = await a.perform({ kind: 'update', event: bat, decision, requestGroup: group, previousId: '1000' });
    expect(p.hits.map((h) => h.url)).toEqual(['/api/requestgroups/1000/cancel/', '/api/requestgroups/']);
    expect(res.id).toBeDefined();
    // A request the portal no longer knows is already gone: not an error.
    p.hits.length = 0;
    p.script = [404];
    await expect(a.perform({ kind: 'cancel', event: bat, decision, previousId: '999' })).resolves.toMatchObject({ response: 'not found' });
    // Without an id there is nothing to cancel over HTTP.
    await expect(a.perform({ kind: 'cancel', event: bat, decision })).rejects.toThrow(/no id/);
  });
});

describe('command action', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'voxnet-cmd-'));
  const script = path.join(dir, 'observe.mjs');
  fs.writeFileSync(script, `
import fs from 'node:fs';
let input = '';
process.stdin.on('data', (c) => (input += c));
process.stdin.on('end', () => {
  const msg = JSON.parse(input);
  const countFile = process.argv[2];
  const n = fs.existsSync(countFile) ? Number(fs.readFileSync(countFile, 'utf8')) + 1 : 1;
  fs.writeFileSync(countFile, String(n));
  fs.writeFileSync(countFile + '.last.json', input);
  if (n <= Number(process.env.FAIL_TIMES ?? 0)) { console.error('dome closed'); process.exit(3); }
  console.log(JSON.stringify({ id: 'obs-' + n, action: msg.action, env: process.env.VOXNET_ACTION }));
});
`);

  it('gives the event, the decision and the request group as JSON on standard input', async () => {
    const count = path.join(dir, 'a');
    const a = new CommandAction({ command: [process.execPath, script, count], timeout: 5000, retry });
    const res = await a.perform(submit);
    expect(res).toMatchObject({ id: 'obs-1', attempts: 1, response: { action: 'submit', env: 'submit' } });
    const got = JSON.parse(fs.readFileSync(count + '.last.json', 'utf8'));
    expect(got.action).toBe('submit');
    expect(got.event.ivorn).toBe(bat.ivorn);
    expect(got.event.whereWhen.position).toMatchObject({ ra: 64.7373, dec: 13.3517 });
    expect(got.decision.action).toBe('trigger');
    expect(got.request_group).toEqual(group);
  });

  it('retries a failing command and reports its standard error when it keeps failing', async () => {
    const count = path.join(dir, 'b');
    const ok = await new CommandAction({ command: [process.execPath, script, count], env: { FAIL_TIMES: '2' }, timeout: 5000, retry }).perform(submit);
    expect(ok).toMatchObject({ id: 'obs-3', attempts: 3 });
    const count2 = path.join(dir, 'c');
    const err = await new CommandAction({ command: [process.execPath, script, count2], env: { FAIL_TIMES: '9' }, timeout: 5000, retry }).perform(submit).catch((e) => e);
    expect(err.message).toMatch(/exited with 3: dome closed \(after 4 attempts\)/);
  });

  it('does not retry a program that does not exist', async () => {
    const err = await new CommandAction({ command: [path.join(dir, 'missing')], timeout: 5000, retry }).perform(submit).catch((e) => e);
    expect(err.message).toMatch(/ENOENT.*\(after 1 attempt\)/);
  });

  it('kills a command that runs past its timeout', async () => {
    const err = await new CommandAction({ command: [process.execPath, '-e', 'setTimeout(() => {}, 10000)'], timeout: 200, retry: { ...retry, attempts: 1 } }).perform(submit).catch((e) => e);
    expect(err.message).toMatch(/no exit within 200 ms/);
  });
});
