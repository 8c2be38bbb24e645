/**
 * What a store call costs, SQLite against PostgreSQL, the same calls in the same run:
 *
 *   npx tsx bench/store.ts [--rounds 5] [--ops 300]
 *
 * Both in their default configuration as the broker uses them: SQLite in a folder
 * on the local disk (WAL, synchronous=FULL: an fsync per commit), PostgreSQL 15 from
 * Debian started by test/helpers/postgres.ts (fsync on, synchronous_commit on, one
 * connection over loopback TCP through pg-native). Each round runs both, in
 * alternating order, on fresh stores:
 *
 *   publish       publishItems of one real VOEvent (max_items 1000), as a publish IQ does
 *   publish+jobs  the same inside atomically() with two release jobs (a source node under an access policy)
 *   last page     getItems, the newest 20 (a subscriber's catch-up)
 *   by IVORN      queryArchive by IVORN (an XEP-0313 lookup)
 *
 * Prints the median µs per call over the rounds and the ratio PostgreSQL / SQLite.
 * Timings are wall clock on a machine shared with other work: read ratios.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../broker-component/store/sqlite.ts';
import { PostgresStore } from '../broker-component/store/postgres.ts';
import type { Store } from '../broker-component/store/store.ts';
import { DEFAULT_NODE_CONFIG } from '../pubsub/node-config.ts';
import { startPostgres } from '../test/helpers/postgres.ts';
import { median } from './lib/stats.ts';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(name);
  return i !== -1 ? Number(process.argv[i + 1]) : dflt;
};
const ROUNDS = arg('--rounds', 5);
const OPS = arg('--ops', 300);

const packet = readFileSync(new URL('../test/fixtures/voevents/gcn-notice-parser__svom_mxt_52__sb26051101_mxt-initial_qf4.xml', import.meta.url), 'utf8');
const ivorn = (i: number) => `ivo://bench/store#${i}`;
const payload = (i: number) => packet.replace(/ivorn="[^"]*"/, `ivorn="${ivorn(i)}"`);

type Op = 'publish' | 'publish+jobs' | 'last page' | 'by IVORN';
const OPS_ORDER: Op[] = ['publish', 'publish+jobs', 'last page', 'by IVORN'];

/** µs per call of each operation on a fresh store. */
function measure(store: Store): Record<Op, number> {
  const T0 = Date.now();
  store.createNode({ id: 'n', config: { ...DEFAULT_NODE_CONFIG, max_items: 1000 }, created: T0, creator: 'b@x' }, 'b@x');
  store.createNode({ id: 'src', config: { ...DEFAULT_NODE_CONFIG, max_items: 1000 }, created: T0, creator: 'b@x' }, 'b@x');
  const out = {} as Record<Op, number>;
  const time = (op: Op, fn: (i: number) => void) => {
    const t = performance.now();
    for (let i = 0; i < OPS; i++) fn(i);
    out[op] = ((performance.now() - t) * 1000) / OPS;
  };
  time('publish', (i) => store.publishItems('n', [{ id: `i${i}`, payload: payload(i), publisher: 'p@x', published: T0 + i, ivorn: ivorn(i) }], 1000));
  time('publish+jobs', (i) =>
    store.atomically(() => {
      store.publishItems('src', [{ id: `s${i}`, payload: payload(i), publisher: 'p@x', published: T0 + i, ivorn: ivorn(i) }], 1000);
      store.putReleaseJobs(['collab', 'public'].map((target) => ({ source: 'src', itemId: `s${i}`, target, published: T0 + i, dueAt: T0 + i + 3600_000, payload: payload(i), publisher: 'p@x' })));
    }),
  );
  time('last page', () => store.getItems('n', { max: 20 }));
  time('by IVORN', (i) => store.queryArchive('n', { ivorn: ivorn(i), max: 10 }));
  return out;
}

const pg = await startPostgres();
const results: Record<'sqlite' | 'postgres', Record<Op, number>[]> = { sqlite: [], postgres: [] };
try {
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? (['sqlite', 'postgres'] as const) : (['postgres', 'sqlite'] as const);
    for (const which of order) {
      if (which === 'sqlite') {
        const dir = mkdtempSync(join(process.env.VOXNET_BENCH_DIR ?? tmpdir(), 'voxnet-bench-store-'));
        const s = new SqliteStore(dir);
        results.sqlite.push(measure(s));
        s.close();
        rmSync(dir, { recursive: true, force: true });
      } else {
        const s = new PostgresStore(await pg.createDatabase());
        results.postgres.push(measure(s));
        s.close();
      }
    }
    console.error(`round ${round + 1}/${ROUNDS} done`);
  }
} finally {
  await pg.close();
}

console.log(`store calls, ${ROUNDS} rounds of ${OPS} calls each, alternating; median µs per call (machine shared: read the ratios)`);
console.log('| call | SQLite (WAL, synchronous=FULL) | PostgreSQL 15 (fsync on, loopback) | PostgreSQL / SQLite |');
console.log('|---|---|---|---|');
for (const op of OPS_ORDER) {
  const a = median(results.sqlite.map((r) => r[op]));
  const b = median(results.postgres.map((r) => r[op]));
  console.log(`| ${op} | ${a.toFixed(0)} | ${b.toFixed(0)} | ${(b / a).toFixed(2)} |`);
}
