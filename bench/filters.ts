/**
 * Filter evaluation cost: 1,000 distinct filters against each alert of the real
 * corpus, as the broker does before fan-out (each item read once into a
 * Subject, then each distinct filter evaluated once).
 *
 *   npx tsx bench/filters.ts [--filters 1000] [--rounds 5] [--seconds 2]
 *
 * Filters are generated from six families seen in practice: role/importance,
 * Param comparisons, regular expressions on Group Params, JSON fields, cones
 * (inside) and sky-map probabilities in cones (prob >= p, the costly kind).
 * Reported: µs per item for all filters (and per filter), per family; the same
 * run also times reading the item alone (subjectOf), the part paid once per item.
 *
 * Fan-out with filters on vs off, in the same run, alternating: the broker's core
 * (SQLite store, synchronous=NORMAL) and notifier publish the corpus to 1,000
 * subscribers — off: no filters; on: 100 distinct filters among them — writing
 * every stanza to a counting sink instead of a server socket (the server's own
 * routing is measured by bench/fanout.ts). Reported: deliveries/s (recipient
 * stanzas serialized) and alerts/s.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { compileFilter, subjectOf, type Filter } from '../filter/index.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { SqliteStore } from '../broker-component/store/sqlite.ts';
import { PubsubService } from '../broker-component/core/service.ts';
import { Notifier } from '../broker-component/delivery/notifier.ts';
import { FilterEngine } from '../broker-component/filters.ts';
import { DEFAULT_SUBSCRIPTION_OPTIONS } from '../pubsub/subscription-options.ts';
import { summarizeVOEvent } from '../broker-component/voevent-rules.ts';

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? def : Number(process.argv[i + 1]);
};
const NF = arg('filters', 1000);
const ROUNDS = arg('rounds', 5);
const SECONDS = arg('seconds', 2);

const fixtures = join(import.meta.dirname, '../test/fixtures');
const payloads = readdirSync(join(fixtures, 'voevents')).filter((f) => f.endsWith('.xml')).map((f) => readFileSync(join(fixtures, 'voevents', f), 'utf8'));
const gw = readFileSync(join(fixtures, 'gcn-json/MS181101ab-preliminary.json'), 'utf8');
const gwItem = `<json xmlns="urn:xmpp:json:0">${gw.replace(/&/g, '&amp;').replace(/</g, '&lt;')}</json>`;

let seed = 42;
const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)]!;
const families: Record<string, () => string> = {
  role: () => `role in ["observation"${rand() < 0.5 ? ', "test"' : ''}] and importance >= ${(rand()).toFixed(2)}`,
  param: () => `param.Packet_Type = ${pick([61, 67, 115, 150, 202, 219, 111, 112])} or param.TrigID > ${Math.floor(rand() * 2e6)}`,
  regex: () => `group.Svom_Identifiers.Burst_Id ~ "^sb26${String(Math.floor(rand() * 12) + 1).padStart(2, '0')}" or alert_type ~ "${pick(['prelim', 'initial', 'update'])}"`,
  json: () => `json.event.far < ${(rand() * 1e-5).toExponential(2)} and json.event.significant`,
  cone: () => `inside(cone(${(rand() * 360).toFixed(1)}, ${(rand() * 180 - 90).toFixed(1)}, ${(1 + rand() * 30).toFixed(1)}))`,
  prob: () => `prob(cone(${(rand() * 360).toFixed(1)}, ${(rand() * 180 - 90).toFixed(1)}, ${(5 + rand() * 30).toFixed(1)})) >= ${(0.1 + rand() * 0.8).toFixed(2)}`,
};
const names = Object.keys(families);
const filters: { family: string; f: Filter }[] = [];
const t0 = Date.now();
for (let i = 0; i < NF; i++) {
  const family = names[i % names.length]!;
  filters.push({ family, f: compileFilter(families[family]!()) });
}
const compileMs = Date.now() - t0;
const items = [...payloads, gwItem];

function timeIt(fn: () => void): number {
  let n = 0;
  const start = process.hrtime.bigint();
  const until = start + BigInt(SECONDS * 1e9);
  let now = start;
  while (now < until) {
    fn();
    n++;
    now = process.hrtime.bigint();
  }
  return Number(now - start) / 1e3 / n; // µs per call
}

// Warm-up: every filter meets every item once (cone MOCs are built on first use).
for (const it of items) {
  const s = subjectOf(it);
  for (const { f } of filters) f.accepts(s);
}

const perFamily = new Map<string, number[]>();
const perItemAll: number[] = [];
const subjectOnly: number[] = [];
let k = 0;
for (let r = 0; r < ROUNDS; r++) {
  // Alternate what runs first each round.
  const order = r % 2 === 0 ? ['subject', 'all', 'families'] : ['families', 'all', 'subject'];
  for (const what of order) {
    if (what === 'subject') subjectOnly.push(timeIt(() => subjectOf(items[k++ % items.length]!)));
    if (what === 'all') perItemAll.push(timeIt(() => {
      const s = subjectOf(items[k++ % items.length]!);
      for (const { f } of filters) f.accepts(s);
    }));
    if (what === 'families') for (const fam of names) {
      const fs = filters.filter((x) => x.family === fam);
      const list = perFamily.get(fam) ?? [];
      list.push(timeIt(() => {
        const s = subjectOf(items[k++ % items.length]!);
        for (const { f } of fs) f.accepts(s);
      }) / fs.length);
      perFamily.set(fam, list);
    }
  }
  process.stderr.write(`round ${r + 1}/${ROUNDS}\n`);
}
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`filter evaluation: ${NF} distinct filters (${names.length} families), ${items.length} real alerts cycled (${payloads.length} VOEvents + 1 igwn JSON with its sky map), ${ROUNDS} alternating rounds of ${SECONDS} s; compile ${compileMs} ms for all`);
console.log(`per item, all ${NF} filters: ${med(perItemAll).toFixed(0)} µs (median of rounds: ${perItemAll.map((x) => x.toFixed(0)).join(', ')}); reading the item alone: ${med(subjectOnly).toFixed(0)} µs`);
console.log(`per item and filter: ${((med(perItemAll) - med(subjectOnly)) / NF).toFixed(2)} µs`);
for (const fam of names) console.log(`  ${fam.padEnd(8)} ${med(perFamily.get(fam)!).toFixed(2)} µs per filter (incl. its share of reading the item)`);

// ------------------------------------------------------------------ fan-out, filters on vs off
const SUBS = 1000;
async function fanout(withFilters: boolean): Promise<{ deliveries: number; alerts: number; ms: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'voxnet-bench-filters-'));
  const store = new SqliteStore(dir, { synchronous: 'normal' });
  let deliveries = 0;
  const transport = { isOnline: () => true, write: async (data: string) => void (deliveries += (data.match(/<message /g) ?? []).length) };
  const notifier = new Notifier({ from: 'pubsub.svom.fr', transport, summarize: summarizeVOEvent });
  const pending: Promise<void>[] = [];
  const service = new PubsubService(store, { admins: ['fsc@svom.fr'], filters: new FilterEngine(), onEvent: (e) => void pending.push(notifier.handle(e)) });
  const admin = { jid: 'fsc@svom.fr', bare: 'fsc@svom.fr' };
  service.createNode(admin, 'alerts', { max_items: 1000 });
  const distinct = filters.filter((f) => f.family !== 'prob').slice(0, 100).map((f) => f.f.text);
  for (let k = 0; k < SUBS; k++) {
    const jid = `user${k}@svom.cn/r`;
    service.subscribe({ jid, bare: `user${k}@svom.cn` }, 'alerts', jid, { ...DEFAULT_SUBSCRIPTION_OPTIONS, filter: withFilters ? distinct[k % distinct.length]! : null });
  }
  const t = process.hrtime.bigint();
  let alerts = 0;
  const until = t + BigInt(SECONDS * 1e9);
  while (process.hrtime.bigint() < until) {
    const payload = payloads[alerts % payloads.length]!;
    service.publish(admin, 'alerts', [{ id: `a${alerts}`, payload }]);
    alerts++;
    await Promise.all(pending.splice(0));
  }
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  store.close();
  rmSync(dir, { recursive: true, force: true });
  return { deliveries, alerts, ms };
}

const on: number[] = [];
const off: number[] = [];
const onAlerts: number[] = [];
const offAlerts: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  for (const f of r % 2 === 0 ? [false, true] : [true, false]) {
    const x = await fanout(f);
    (f ? on : off).push((x.deliveries / x.ms) * 1000);
    (f ? onAlerts : offAlerts).push((x.alerts / x.ms) * 1000);
  }
}
console.log(`fan-out to ${SUBS} subscribers (core + notifier into a counting sink, ${ROUNDS} alternating rounds of ${SECONDS} s):`);
console.log(`  filters off: ${med(off).toFixed(0)} deliveries/s, ${med(offAlerts).toFixed(1)} alerts/s`);
console.log(`  filters on (100 distinct, no prob()): ${med(on).toFixed(0)} deliveries/s, ${med(onAlerts).toFixed(1)} alerts/s (each subscriber gets only what its filter accepts)`);
console.log(`  alerts/s on/off: ${(med(onAlerts) / med(offAlerts)).toFixed(2)}`);
