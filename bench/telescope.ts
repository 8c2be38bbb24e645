/**
 * Telescope agent latency: from the alert notification's arrival at the agent to
 * the observation request being posted to the telescope portal.
 *
 *   npx tsx bench/telescope.ts [--alerts N] [--warmup N]
 *
 * A real Prosody + broker (test/helpers/broker-env.ts), a publisher agent, the
 * telescope agent (runTelescope: SDK follow → decide → HTTP action → status), and a
 * local HTTP server playing the portal, all in this process so that one clock
 * (performance.now) times every step. Alerts are the real Swift BAT GRB position
 * 1125809-092 with its IVORN and TrigID changed so that each is a new burst, seen
 * from Kitt Peak at 2022-09-30T11:12:20Z (the burst is up, the sky dark: every
 * alert triggers a RAPID_RESPONSE request). One alert at a time (closed loop).
 *
 * Reported (ms): arrival → POST received by the portal (the agent's own latency:
 * parse, decide with the visibility search, build, HTTP), publish → POST (adds the
 * publisher's IQ, the broker and Prosody), its two parts publish → arrival at the
 * agent and publish → the publisher's IQ result, and the decision alone.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { connectAgent, publishVOEvent } from '../agents/lib/index.ts';
import { runTelescope } from '../agents/telescope/run.ts';
import { rulesFromObject } from '../agents/telescope/rules.ts';
import { Tracker } from '../agents/telescope/tracker.ts';
import { startBrokerEnv, PUBSUB } from '../test/helpers/broker-env.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(name);
  return i !== -1 ? Number(process.argv[i + 1]) : dflt;
};
const N = arg('--alerts', 300);
const WARMUP = arg('--warmup', 30);

const packet = fs.readFileSync(path.resolve(here, '../test/fixtures/voevents/skyportal__SWIFT_1125809-092__BAT_GRB_Pos.xml'), 'utf8');
function variant(i: number): string {
  const trig = String(2000000 + i);
  return packet.replaceAll('BAT_GRB_Pos_1125809-092', `BAT_GRB_Pos_${trig}-092`).replace(/(<Param name="TrigID"\s+value=")1125809(")/, `$1${trig}$2`);
}

function pct(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}
function stats(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b);
  const mean = s.reduce((a, b) => a + b, 0) / s.length;
  return { n: s.length, p50: pct(s, 50), p90: pct(s, 90), p99: pct(s, 99), max: s[s.length - 1]!, mean };
}

async function main() {
  if (!variant(1).includes('TrigID" value="2000001"') && !/TrigID"\s+value="2000001"/.test(variant(1))) throw new Error('could not derive alert variants');
  const env = await startBrokerEnv();
  const posted = new Map<string, number>(); // target name → performance.now() at POST
  let waiting: { name: string; resolve: () => void } | undefined;
  let nextId = 1;
  const portal = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      const t = performance.now();
      const body = JSON.parse(raw);
      const name: string = body.requests[0].configurations[0].target.name;
      posted.set(name, t);
      res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ id: nextId++ }));
      if (waiting?.name === name) waiting.resolve();
    });
  });
  await new Promise<void>((r) => portal.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(portal.address() as AddressInfo).port}/api/requestgroups/`;

  const user = (u: string) => {
    env.prosody.addUser(u, 'svom.fr', u);
    return { jid: `${u}@svom.fr`, password: u, server: env.prosody.c2sUrl, service: PUBSUB, trust: env.prosody.certFiles };
  };
  const fsc = await connectAgent({ ...user('fsc'), name: 'fsc' });
  await publishVOEvent(fsc, 'swift', variant(0)); // creates the node

  const rules = rulesFromObject({
    telescope: { name: 'KP', author_ivorn: 'ivo://voxnet.bench/telescope/KP' },
    site: { name: 'Kitt Peak', latitude: 31.9583, longitude: -111.5967, elevation: 2096 },
    subscribe: { nodes: ['swift'], status_node: 'telescope/kp/status' },
    accept: { streams: [{ stream: 'ivo://nasa.gsfc.gcn/SWIFT', packet_types: [61, 67] }], max_error_radius: 0.5, min_importance: 0.5 },
    observability: { max_airmass: 2, max_sun_altitude: -12, min_moon_distance: 30, window: { end: '12h' } },
    request: { proposal: 'BENCH', instrument_type: '1M0-SCICAM-SINISTRO', exposures: [{ filter: 'rp', exposure_time: 60 }] },
    action: { type: 'http', url },
  }, 'bench');
  const at = Date.parse('2022-09-30T11:12:20Z');
  const arrivals = new Map<string, number>();
  const tel = await runTelescope({
    rules,
    connection: user('tel'),
    tracker: new Tracker(),
    // The agent's clock stands at the trigger time: every alert finds the burst up and the sky dark.
    now: () => new Date(at),
    onHandled: (r, ev) => {
      if (r.receivedAt !== undefined) arrivals.set(`Swift ${ev.ivorn.match(/_(\d+)-092$/)![1]}`, r.receivedAt);
    },
  });

  const published = new Map<string, number>();
  const acked = new Map<string, number>();
  for (let i = 1; i <= N + WARMUP; i++) {
    const name = `Swift ${2000000 + i}`;
    const done = new Promise<void>((resolve) => (waiting = { name, resolve }));
    published.set(name, performance.now());
    await publishVOEvent(fsc, 'swift', variant(i));
    acked.set(name, performance.now());
    await Promise.race([done, new Promise((_, rej) => setTimeout(() => rej(new Error(`no POST for ${name}`)), 15_000))]);
  }
  await tel.agent.idle();

  // The decision alone, on the same packets (in process, no network).
  const { decide } = await import('../agents/telescope/decide.ts');
  const { parse } = await import('../voevent/index.ts');
  const decideMs: number[] = [];
  for (let i = 1; i <= 200; i++) {
    const ev = parse(variant(i));
    const s = performance.now();
    decide(ev, rules, new Date(at));
    decideMs.push(performance.now() - s);
  }

  const agentMs: number[] = [];
  const e2eMs: number[] = [];
  const ackMs: number[] = [];
  const deliveryMs: number[] = [];
  for (let i = WARMUP + 1; i <= N + WARMUP; i++) {
    const name = `Swift ${2000000 + i}`;
    const p = posted.get(name)!;
    const a = arrivals.get(name);
    if (a !== undefined) agentMs.push(p - a);
    e2eMs.push(p - published.get(name)!);
    ackMs.push(acked.get(name)! - published.get(name)!);
    if (a !== undefined) deliveryMs.push(a - published.get(name)!);
  }
  await tel.stop();
  await fsc.stop();
  await env.stop();
  await new Promise<void>((r) => portal.close(() => r()));

  const rows = {
    'arrival → POST': stats(agentMs),
    'publish → POST': stats(e2eMs),
    'publish → arrival': stats(deliveryMs),
    'publish → IQ ack': stats(ackMs),
    'decide() alone': stats(decideMs.slice(20)),
  };
  console.log(`telescope agent latency: ${N} alerts (after ${WARMUP} warm-up), one at a time, Prosody + broker + portal on loopback`);
  console.log('');
  console.log('ms'.padEnd(20) + ['n', 'p50', 'p90', 'p99', 'max', 'mean'].map((h) => h.padStart(8)).join(''));
  for (const [k, s] of Object.entries(rows)) {
    console.log(k.padEnd(20) + String(s.n).padStart(8) + [s.p50, s.p90, s.p99, s.max, s.mean].map((x) => x.toFixed(2).padStart(8)).join(''));
  }
  const outDir = path.resolve(here, 'results');
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, 'telescope.json'), JSON.stringify({ date: new Date().toISOString(), alerts: N, warmup: WARMUP, node: process.version, ms: rows }, null, 2) + '\n');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
