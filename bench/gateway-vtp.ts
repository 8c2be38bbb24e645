/**
 * VTP broker throughput and latency: our VTP broker role against Comet's, side by
 * side in one run, alternating rounds.
 *
 *   npx tsx bench/gateway-vtp.ts [--events N] [--rounds R] [--subscribers S] [--inflight K]
 *
 * Paths measured:
 *   ours-e2e: publishVOEvent (K in flight) → Prosody → VOXnet broker (validate, store)
 *             → gateway follower → spool (SQLite, synchronous=FULL) → VTP broker → S subscribers
 *   ours-vtp: the VTP broker role alone: event into the spool (durable) → S subscribers
 *   comet:    VTP author connection per event (K in flight; Comet's receiver: XSD + IVOID +
 *             previously-seen validators, then its broadcaster) → S subscribers
 * Comet 3.1.0 in its default configuration (`twistd comet --receive --broadcast`), except that
 * the hourly test event is off. The S subscribers are the same for both: VtpSubscriber
 * (agents/gateway/vtp) acking each event at once. Reported: events/s (first submit → last
 * event at every subscriber), submit → arrival latency p50/p99 (ms), and ratios ours/Comet.
 * Run it on a quiet machine; the figures in the README were taken on a shared one.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectAgent, publishVOEvent, silentLogger } from '../agents/lib/index.ts';
import { BridgeLedger, SeenStore } from '../agents/gateway/lib/index.ts';
import { VtpBroker } from '../agents/gateway/vtp/broker.ts';
import { FrameDecoder, encodeFrame } from '../agents/gateway/vtp/framing.ts';
import { followNodes } from '../agents/gateway/vtp/outbound.ts';
import { Spool } from '../agents/gateway/vtp/spool.ts';
import { VtpSubscriber } from '../agents/gateway/vtp/subscriber.ts';
import { startBrokerEnv, PUBSUB } from '../test/helpers/broker-env.ts';
import { cometMissing, startComet } from '../test/helpers/comet.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(name);
  return i !== -1 ? Number(process.argv[i + 1]) : dflt;
};
const N = arg('--events', 300);
const ROUNDS = arg('--rounds', 3);
const S = arg('--subscribers', 3);
const K = arg('--inflight', 4);

const packet = fs.readFileSync(path.resolve(here, '../test/fixtures/voevents/fink-mm__swift_voevent_number_392__BAT_GRB_Pos_1118357.xml'), 'utf8');
const variant = (tag: string) => packet.replace(/ivorn="[^"]+"/, `ivorn="ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_1118357-${tag}"`);

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

type Result = { perSec: number; p50: number; p99: number };

/** S subscribers on a broker port; resolves each event's arrival times (ivorn → times at each subscriber). */
async function subscribers(port: number) {
  const arrivals = new Map<string, number[]>();
  const subs: VtpSubscriber[] = [];
  let ready = 0;
  for (let i = 0; i < S; i++) {
    const s = new VtpSubscriber({
      host: '127.0.0.1', port, localIvo: `ivo://bench.test/sub${i}-${Date.now()}`,
      onEvent: async (ev) => {
        const t = performance.now();
        const a = arrivals.get(ev.ivorn);
        if (a) a.push(t);
        else arrivals.set(ev.ivorn, [t]);
        return { accepted: true };
      },
    });
    s.once('authenticate', () => ready++);
    s.start();
    subs.push(s);
  }
  while (ready < S) await new Promise((r) => setTimeout(r, 20));
  return { arrivals, stop: () => Promise.all(subs.map((s) => s.stop())) };
}

async function measure(submit: (xml: string) => Promise<void>, port: number, tag: string): Promise<Result> {
  const subs = await subscribers(port);
  await new Promise((r) => setTimeout(r, 300));
  const sent = new Map<string, number>();
  const ivorns = Array.from({ length: N }, (_, i) => `${tag}-${i}`);
  const t0 = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: K }, async () => {
    while (next < N) {
      const t = ivorns[next++]!;
      sent.set(`ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_1118357-${t}`, performance.now());
      await submit(variant(t));
    }
  }));
  const complete = () => [...sent.keys()].every((iv) => (subs.arrivals.get(iv)?.length ?? 0) >= S);
  const deadline = Date.now() + 300_000;
  while (!complete()) {
    if (Date.now() > deadline) throw new Error(`${tag}: not every event reached every subscriber`);
    await new Promise((r) => setTimeout(r, 10));
  }
  let last = 0;
  const lat: number[] = [];
  for (const [iv, t] of sent) for (const a of subs.arrivals.get(iv)!) {
    lat.push(a - t);
    last = Math.max(last, a);
  }
  await subs.stop();
  lat.sort((a, b) => a - b);
  return { perSec: N / ((last - t0) / 1000), p50: pct(lat, 50), p99: pct(lat, 99) };
}

/** One VTP author submission to Comet's receiver: connect, send, wait for the ack, close. */
function authorSend(port: number, xml: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port });
    const d = new FrameDecoder();
    s.on('connect', () => s.write(encodeFrame(xml)));
    s.on('data', (c: Buffer) => {
      for (const f of d.push(c)) if (f.kind === 'frame') {
        const ok = /role="ack"/.test(f.data.toString());
        s.destroy();
        return ok ? resolve() : reject(new Error(`Comet refused: ${f.data.toString()}`));
      }
    });
    s.on('error', reject);
  });
}

async function main() {
  const missing = cometMissing();
  if (missing) throw new Error(missing);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'voxnet-bench-vtp-'));
  const env = await startBrokerEnv({ create_nodes: ['*'] });
  const conn = (user: string) => {
    env.prosody.addUser(user, 'svom.fr', user);
    return connectAgent({ jid: `${user}@svom.fr`, password: user, server: env.prosody.c2sUrl, service: PUBSUB, trust: env.prosody.certFiles, name: user, stateDir: tmp });
  };
  const pub = await conn('bench-pub');
  await publishVOEvent(pub, 'bench/vtp', variant('init'));
  const gwAgent = await conn('bench-gw');
  const spool = new Spool(path.join(tmp, 'spool.sqlite'));
  const broker = new VtpBroker({ host: '127.0.0.1', port: 0, localIvo: 'ivo://bench.test/voxnet', spool, log: silentLogger() });
  const ourPort = await broker.listen();
  const seen = new SeenStore(path.join(tmp, 'seen.sqlite'));
  const ledger = new BridgeLedger(seen, ['ivo://bench.test/voxnet']);
  const followers = await followNodes({ agent: gwAgent, nodes: ['bench/vtp'], spool, broker, ledger, network: 'vtp:bench', gateway: 'ivo://bench.test/voxnet', log: silentLogger() });
  const comet = await startComet({ broker: true });
  comet.proc.stdout!.removeAllListeners('data'); // its log is not kept during the run

  console.log(`VTP broker: ${N} events/round, ${S} subscribers, ${K} submissions in flight, ${ROUNDS} rounds each, alternating; ${os.cpus().length} cores (shared machine)`);
  const TARGETS = ['ours-e2e', 'ours-vtp', 'comet'] as const;
  type Target = (typeof TARGETS)[number];
  const results: Record<Target, Result[]> = { 'ours-e2e': [], 'ours-vtp': [], comet: [] };
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 === 0 ? TARGETS : [...TARGETS].reverse();
    for (const target of order) {
      const tag = `${target}-${r}`;
      const res = target === 'ours-e2e'
        ? await measure(async (xml) => void (await publishVOEvent(pub, 'bench/vtp', xml)), ourPort, tag)
        : target === 'ours-vtp'
          ? await measure(async (xml) => {
            spool.append(/ivorn="([^"]+)"/.exec(xml)![1]!, 'bench/vtp', xml);
            broker.notify();
            await new Promise((r) => setImmediate(r));
          }, ourPort, tag)
          : await measure((xml) => authorSend(comet.receivePort!, xml), comet.broadcastPort!, tag);
      results[target].push(res);
      console.log(`round ${r + 1} ${target.padEnd(8)} ${res.perSec.toFixed(0).padStart(6)} events/s   p50 ${res.p50.toFixed(1)} ms   p99 ${res.p99.toFixed(1)} ms`);
    }
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const m = (t: Target, k: keyof Result) => med(results[t].map((x) => x[k]));
  for (const t of TARGETS) console.log(`median ${t.padEnd(8)} ${m(t, 'perSec').toFixed(0).padStart(6)} events/s   p50 ${m(t, 'p50').toFixed(1)} ms   p99 ${m(t, 'p99').toFixed(1)} ms`);
  for (const t of ['ours-e2e', 'ours-vtp'] as const) {
    console.log(`ratio ${t}/comet: throughput ×${(m(t, 'perSec') / m('comet', 'perSec')).toFixed(2)}, p50 latency ×${(m(t, 'p50') / m('comet', 'p50')).toFixed(2)}, p99 latency ×${(m(t, 'p99') / m('comet', 'p99')).toFixed(2)}`);
  }

  for (const f of followers) await f.stop();
  await broker.close();
  spool.close();
  seen.close();
  await Promise.all([pub.stop(), gwAgent.stop()]);
  await comet.stop();
  await env.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
}

main().then(() => process.exit(0), (e) => {
  console.error(e);
  process.exit(1);
});
