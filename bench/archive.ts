/**
 * Archive queries over 1,000,000 stored items (one node), through the core
 * (PubsubService.queryArchive: the privilege check, then the SQLite store).
 *
 *   npx tsx bench/archive.ts [--items 1000000] [--rounds 5] [--queries 200] [--keep DIR]
 *
 * Items: one a second (11.6 days), ten publishers, a unique IVORN each, ~400-byte
 * VOEvent-like payloads. Queries, each with random parameters, in alternating rounds:
 *   time-1h      a one-hour window (3,600 items), first page of 50, with RSM count/index
 *   time-1d      a one-day window (86,400 items), first page of 50 (count past 10,000 omitted)
 *   ivorn        one item by IVORN
 *   newest-10    the newest 10 (RSM <before/>)
 *   with+time    one publisher in a one-hour window
 * Reference (same rounds): the same time-range and IVORN SQL forced onto the
 * schema-1 index (node, seq), i.e. what the store could do before the archive
 * indexes; and XEP-0060 "newest 10" (getItems max_items=10) on the same store.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteStore } from '../broker-component/store/sqlite.ts';
import { PubsubService } from '../broker-component/core/service.ts';
import type { ArchiveQuery } from '../broker-component/store/store.ts';

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? def : Number(process.argv[i + 1]);
};
const N = arg('items', 1_000_000);
const ROUNDS = arg('rounds', 5);
const Q = arg('queries', 200);
const REF_Q = Math.max(3, Math.round(Q / 20));
const keepAt = process.argv.indexOf('--keep');
const dir = keepAt !== -1 ? process.argv[keepAt + 1]! : mkdtempSync(join(tmpdir(), 'voxnet-bench-archive-'));
const T0 = Date.parse('2026-01-01T00:00:00Z');
const NODE = 'svom/eclairs/public';
const ADMIN = { jid: 'bench@svom.fr', bare: 'bench@svom.fr' };
const ivornOf = (i: number) => `ivo://org.svom/fsc#sb${String(i).padStart(8, '0')}_eclairs`;

const store = new SqliteStore(dir, { synchronous: 'normal' });
// A second connection for the reference SQL (the store keeps its database to itself).
const raw = new Database(join(dir, 'voxnet.sqlite'));
const service = new PubsubService(store, { admins: [ADMIN.bare] });
if (!service.hasNode(NODE)) {
  service.createNode(ADMIN, NODE, { max_items: Infinity });
  const t = Date.now();
  const BATCH = 10_000;
  for (let b = 0; b < N; b += BATCH) {
    const items = [];
    for (let i = b; i < Math.min(N, b + BATCH); i++) {
      const ivorn = ivornOf(i);
      const payload = `<voe:VOEvent xmlns:voe="http://www.ivoa.net/xml/VOEvent/v2.0" ivorn="${ivorn}" role="observation" version="2.0"><Who><Date>${new Date(T0 + i * 1000).toISOString()}</Date></Who><What><Param name="Packet_Type" value="202"/><Param name="Burst_Id" value="sb${i}"/></What><WhereWhen/></voe:VOEvent>`;
      items.push({ id: `i${i}`, payload, publisher: `pub${i % 10}@svom.fr`, published: T0 + i * 1000, ivorn });
    }
    store.publishItems(NODE, items, Infinity);
    if ((b / BATCH) % 10 === 0) process.stderr.write(`\rstored ${b + items.length} items (${((Date.now() - t) / 1000).toFixed(0)} s)`);
  }
  process.stderr.write(`\rstored ${N} items in ${((Date.now() - t) / 1000).toFixed(0)} s\n`);
  raw.exec('ANALYZE');
}

const rnd = (n: number) => Math.floor(Math.random() * n);
const span = N * 1000;
type Case = { name: string; run: () => number };
const archive = (q: ArchiveQuery) => service.queryArchive(ADMIN, NODE, q).items.length;
const db = raw;
const refTime = db.prepare('SELECT * FROM items INDEXED BY items_node_seq WHERE node = ? AND published >= ? AND published <= ? ORDER BY seq LIMIT 50');
const refIvorn = db.prepare('SELECT * FROM items INDEXED BY items_node_seq WHERE node = ? AND payload LIKE ? LIMIT 1');

const ours: Case[] = [
  { name: 'time-1h', run: () => { const s = T0 + rnd(span - 3_600_000); return archive({ start: s, end: s + 3_600_000, max: 50 }); } },
  { name: 'time-1d', run: () => { const s = T0 + rnd(span - 86_400_000); return archive({ start: s, end: s + 86_400_000, max: 50 }); } },
  { name: 'ivorn', run: () => archive({ ivorn: ivornOf(rnd(N)), max: 50 }) },
  { name: 'newest-10', run: () => archive({ before: '', max: 10 }) },
  { name: 'with+time', run: () => { const s = T0 + rnd(span - 3_600_000); return archive({ publisher: `pub${rnd(10)}@svom.fr`, start: s, end: s + 3_600_000, max: 50 }); } },
];
const reference: Case[] = [
  { name: 'time-1h (schema-1 index)', run: () => { const s = T0 + rnd(span - 3_600_000); return refTime.all(NODE, s, s + 3_600_000).length; } },
  { name: 'ivorn (schema-1 index, payload scan)', run: () => refIvorn.all(NODE, `%ivorn="${ivornOf(rnd(N))}"%`).length },
  { name: 'newest-10 (XEP-0060 items)', run: () => service.getItems(ADMIN, NODE, { max: 10 }).items.length },
];

const samples = new Map<string, number[]>();
function measure(c: Case, n: number): void {
  const list = samples.get(c.name) ?? [];
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    const got = c.run();
    list.push(Number(process.hrtime.bigint() - t) / 1e6);
    if (got === 0 && c.name !== 'ivorn') throw new Error(`${c.name}: empty result`);
  }
  samples.set(c.name, list);
}
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

for (let r = 0; r < ROUNDS; r++) {
  // Alternate: ours then the reference, then the other way round.
  const order = r % 2 === 0 ? [ours, reference] : [reference, ours];
  for (const group of order) for (const c of group) measure(c, group === ours ? Q : REF_Q);
  process.stderr.write(`round ${r + 1}/${ROUNDS} done\n`);
}

console.log(`archive queries over ${N.toLocaleString('en')} items, ${ROUNDS} alternating rounds (${Q} queries per case per round; reference ${REF_Q}); SQLite ${String(db.prepare('select sqlite_version()').pluck().get())}, WAL, synchronous=NORMAL`);
console.log('case'.padEnd(40), 'n'.padStart(6), 'p50 ms'.padStart(10), 'p99 ms'.padStart(10));
for (const [name, xs] of samples) console.log(name.padEnd(40), String(xs.length).padStart(6), pct(xs, 50).toFixed(3).padStart(10), pct(xs, 99).toFixed(3).padStart(10));
const ratio = (a: string, b: string) => (pct(samples.get(b)!, 50) / pct(samples.get(a)!, 50)).toFixed(0);
console.log(`p50 ratios: time-1h ${ratio('time-1h', 'time-1h (schema-1 index)')}× faster than the schema-1 plan; ivorn ${ratio('ivorn', 'ivorn (schema-1 index, payload scan)')}× faster; newest-10 archive / XEP-0060 items p50: ${(pct(samples.get('newest-10')!, 50) / pct(samples.get('newest-10 (XEP-0060 items)')!, 50)).toFixed(2)}`);
raw.close();
store.close();
if (keepAt === -1) rmSync(dir, { recursive: true, force: true });
