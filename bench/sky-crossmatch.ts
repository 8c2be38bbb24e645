/**
 * Crossmatch benchmark: a 19,200-tile LVK multi-order map against 1,000,000
 * synthetic galaxies and against the GLADE+ sample, ours (TypeScript) and the
 * same computation in Python with healpy + numpy (bench/sky-crossmatch.py,
 * spawned with /usr/bin/python3), side by side in one run.
 *
 *   npx tsx bench/sky-crossmatch.ts [--repeats N] [--galaxies N] [--map FILE]
 *
 * Timings are medians after a warm-up. Stages:
 *   prepare catalogue  order-29 indices (+ our sort), once per catalogue
 *   prepare map        tile ranges + greedy credible levels, once per map
 *   crossmatch         tiles, densities, credible levels, dP/dV, scores, top 20
 *   per alert          prepare map + crossmatch (catalogue prepared at start-up)
 *   cold               everything from RA/Dec arrays
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { catalogFromArrays, readCatalogFile, type Catalog } from '../sky/catalog.ts';
import { crossmatchCatalog, prepareCatalog, type PreparedCatalog } from '../sky/crossmatch.ts';
import { radec2nest29Bulk } from '../sky/healpix.ts';
import { readSkyMapBytes } from '../sky/readers.ts';
import { SkyMap, type SkyMapInit } from '../sky/skymap.ts';
import { shr } from '../sky/u64.ts';

const here = dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: { repeats: { type: 'string' }, galaxies: { type: 'string' }, map: { type: 'string' } },
});
const REPEATS = Number(values.repeats ?? 30);
const NGAL = Number(values.galaxies ?? 1_000_000);
const MAP = values.map ?? resolve(here, '../test/fixtures/skymaps/userguide-bayestar.multiorder.fits');
const GLADE = resolve(here, '../test/fixtures/catalogs/skyportal-GLADE+_first100.csv');
const PYTHON = '/usr/bin/python3';
const TOP = 20;

function median(a: number[]): number {
  const s = [...a].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const minima = new Map<number, number>();
/** Median ms after a warm-up; the minimum is remembered in `minima` keyed by the median. */
function timed<T>(fn: () => T, reps = REPEATS): [number, T] {
  let out = fn(); // warm-up
  fn();
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    out = fn();
    ts.push(performance.now() - t0);
  }
  const med = median(ts);
  minima.set(med, Math.min(...ts));
  return [med, out];
}

/** mulberry32 */
function rng(seed: number): () => number {
  // mulberry32, two draws per number so that values use all 53 bits (32-bit
  // values would put positions on a lattice aligned with HEALPix pixel edges)
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
  return () => (next() * 2 ** 21 + (next() >>> 11)) / 2 ** 53;
}

function gauss(r: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
}

/** 20 % of the galaxies within ~5° of (ra0, dec0), the rest uniform; distances uniform in volume to 300 Mpc. */
function syntheticGalaxies(n: number, ra0: number, dec0: number): Catalog {
  const r = rng(42);
  const ra = new Float64Array(n);
  const dec = new Float64Array(n);
  const dist = new Float64Array(n);
  const weight = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    if (i % 5 === 0) {
      dec[i] = Math.max(-90, Math.min(90, dec0 + 5 * gauss(r)));
      ra[i] = (((ra0 + (5 * gauss(r)) / Math.max(0.1, Math.cos((dec[i]! * Math.PI) / 180))) % 360) + 360) % 360;
    } else {
      ra[i] = 360 * r();
      dec[i] = (Math.asin(2 * r() - 1) * 180) / Math.PI;
    }
    dist[i] = 300 * Math.cbrt(r());
    weight[i] = Math.exp(gauss(r));
  }
  return catalogFromArrays({ ra, dec, dist, weight, name: `synthetic-${n}` });
}

function mapInit(map: SkyMap): SkyMapInit {
  const n = map.ntiles;
  const ipixHi = new Uint32Array(n);
  const ipixLo = new Uint32Array(n);
  for (let t = 0; t < n; t++) [ipixHi[t], ipixLo[t]] = shr(map.startHi[t]!, map.startLo[t]!, 2 * (29 - map.order[t]!));
  return {
    order: map.order.slice(),
    ipixHi,
    ipixLo,
    probdensity: map.probdensity.slice(),
    distmu: map.distmu!.slice(),
    distsigma: map.distsigma!.slice(),
    distnorm: map.distnorm!.slice(),
    meta: map.meta,
  };
}

// ---------------------------------------------------------------- ours
const bytes = readFileSync(MAP);
const [readMs, map0] = timed(() => readSkyMapBytes(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)), Math.max(3, REPEATS >> 2));
if (!map0.hasDistance) throw new Error('benchmark map needs distance layers');
const init = mapInit(map0);
const prepareMap = () => {
  const m = new SkyMap(init);
  m.ranking();
  return m;
};
const [prepMapMs, map] = timed(prepareMap);
const d = map.densest();

const glade = await readCatalogFile(GLADE, { weightColumn: 'B_Abs', weightIsMagnitude: true, name: 'GLADE+ sample' });
// the sample's missing weights would score 0 in both implementations; give them 1
for (let i = 0; i < glade.size; i++) if (!Number.isFinite(glade.weight[i]!)) glade.weight[i] = 1;
const cats = [syntheticGalaxies(NGAL, d.ra, d.dec), glade];

type Row = { n: number; ang2pix29_ms: number; crossmatch_ms: number; per_alert_ms: number; cold_ms: number; top: number[]; score_sum: number; inside90: number; ipix_checksum: bigint | string };
const ours: Record<string, Row & { prepare_catalog_ms: number }> = {};
for (const cat of cats) {
  const crossmatch = (m: SkyMap, p: PreparedCatalog) => {
    const x = crossmatchCatalog(m, p, { rank: '3d' });
    return { x, top: x.top(TOP) };
  };
  const hi = new Uint32Array(cat.size);
  const lo = new Uint32Array(cat.size);
  // the bulk order-29 ang2pix alone (prepareCatalog = this + radix argsort)
  const [a2pMs] = timed(() => radec2nest29Bulk(cat.ra, cat.dec, hi, lo));
  const [prepCatMs, prepared] = timed(() => prepareCatalog(cat));
  const [xmMs, res] = timed(() => crossmatch(map, prepared));
  const [alertMs] = timed(() => crossmatch(prepareMap(), prepared));
  const [coldMs] = timed(() => crossmatch(prepareMap(), prepareCatalog(cat)), Math.max(3, REPEATS >> 2));
  let xor = 0n;
  for (let k = 0; k < cat.size; k++) xor ^= (BigInt(prepared.hi[k]!) << 32n) | BigInt(prepared.lo[k]!);
  ours[cat.name] = {
    n: cat.size,
    ang2pix29_ms: a2pMs,
    prepare_catalog_ms: prepCatMs,
    crossmatch_ms: xmMs,
    per_alert_ms: alertMs,
    cold_ms: coldMs,
    top: res.top,
    score_sum: res.x.scoreSum,
    inside90: res.x.countWithin(0.9),
    ipix_checksum: xor,
  };
}

// ---------------------------------------------------------------- python
let py: { healpy: string; numpy: string; prepare_map_ms: number; catalogues: Record<string, Row> } | null = null;
let pyNote = '';
if (!existsSync(PYTHON)) pyNote = `${PYTHON} not found`;
else {
  const probe = spawnSync(PYTHON, ['-c', 'import healpy, numpy'], { encoding: 'utf8' });
  if (probe.status !== 0) pyNote = `${PYTHON} lacks healpy/numpy (apt-get install python3-healpy python3-numpy)`;
}
if (!pyNote) {
  const dir = mkdtempSync(join(tmpdir(), 'voxnet-bench-'));
  try {
    const w = (name: string, a: ArrayBufferView) => writeFileSync(join(dir, name), Buffer.from(a.buffer, a.byteOffset, a.byteLength));
    w('map.uniq', BigInt64Array.from({ length: map.ntiles }, (_, t) => map.uniq(t)));
    w('map.probdensity', map.probdensity);
    w('map.distmu', map.distmu!);
    w('map.distsigma', map.distsigma!);
    w('map.distnorm', map.distnorm!);
    cats.forEach((c, k) => {
      w(`cat${k}.ra`, c.ra);
      w(`cat${k}.dec`, c.dec);
      w(`cat${k}.dist`, Float64Array.from(c.dist, (x) => (Number.isFinite(x) ? x : 0)));
      w(`cat${k}.weight`, c.weight);
    });
    writeFileSync(join(dir, 'cats.txt'), cats.map((_, k) => `cat${k}`).join('\n'));
    const p = spawnSync(PYTHON, [resolve(here, 'sky-crossmatch.py'), dir, String(REPEATS)], { encoding: 'utf8', maxBuffer: 1 << 26 });
    if (p.status !== 0) pyNote = `python failed: ${p.stderr.trim().split('\n').slice(-3).join(' | ')}`;
    else py = JSON.parse(p.stdout);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- report
const f = (x: number) => (x < 10 ? x.toFixed(3) : x.toFixed(1));
const fm = (x: number) => `${f(x)} (${f(minima.get(x) ?? x)})`;
const ratio = (p: number | undefined, o: number) => (p === undefined ? '-' : `${(p / o).toFixed(1)}×`);
console.log(`sky crossmatch benchmark — map ${MAP.split('/').pop()} (${map.ntiles} tiles, orders ${map.minOrder}..${map.maxOrder}), median of ${REPEATS} runs`);
console.log(`node ${process.version}${py ? `; python: healpy ${py.healpy}, numpy ${py.numpy}` : `; python: skipped (${pyNote})`}`);
console.log('');
console.log(`read FITS (ours)                       ${fm(readMs)} ms`);
console.log(`prepare map                            ours ${fm(prepMapMs)} ms   healpy/numpy ${py ? f(py.prepare_map_ms) : '-'} ms   python/ours ${ratio(py?.prepare_map_ms, prepMapMs)}`);
console.log('(times are medians; ours also with the minimum in parentheses)');
console.log('');
const header = ['catalogue', 'stage', 'ours ms (min)', 'healpy/numpy ms', 'python/ours'];
const rows: string[][] = [];
let allAgree = true;
for (const c of cats) {
  const o = ours[c.name]!;
  const p = py?.catalogues[`cat${cats.indexOf(c)}`];
  const stages: [string, number, number | undefined][] = [
    ['order-29 ang2pix', o.ang2pix29_ms, p?.ang2pix29_ms],
    ['prepare catalogue (+sort)', o.prepare_catalog_ms, p?.ang2pix29_ms],
    ['crossmatch + top 20', o.crossmatch_ms, p?.crossmatch_ms],
    ['per alert (map+crossmatch)', o.per_alert_ms, p?.per_alert_ms],
    ['cold (from RA/Dec)', o.cold_ms, p?.cold_ms],
  ];
  for (const [name, om, pm] of stages) rows.push([`${c.name} (${o.n})`, name, fm(om), pm === undefined ? '-' : f(pm), ratio(pm, om)]);
  if (p) {
    const sameTop = JSON.stringify(p.top) === JSON.stringify(o.top);
    const sameIdx = BigInt(p.ipix_checksum) === BigInt.asIntN(64, o.ipix_checksum as bigint);
    const sameIn = p.inside90 === o.inside90;
    const relSum = Math.abs(p.score_sum - o.score_sum) / Math.max(1e-300, Math.abs(p.score_sum));
    const agree = sameTop && sameIdx && sameIn && relSum < 1e-9;
    allAgree &&= agree;
    rows.push([`${c.name} (${o.n})`, `agreement: top-20 ${sameTop ? 'same' : 'DIFFER'}, indices ${sameIdx ? 'same' : 'DIFFER'}, in-90% ${o.inside90}/${p.inside90}, Σscore rel.diff ${relSum.toExponential(1)}`, '', '', '']);
  }
}
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (r: string[]) => r.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
console.log(line(header));
for (const r of rows) console.log(r[2] === '' ? `${r[0]!.padEnd(widths[0]!)}  ${r[1]}` : line(r));
const mil = ours[cats[0]!.name]!;
console.log('');
console.log(
  `target ≤ 50 ms per crossmatch of ${NGAL.toLocaleString('en')} galaxies: crossmatch ${f(mil.crossmatch_ms)} ms, per alert ${f(mil.per_alert_ms)} ms, cold ${f(mil.cold_ms)} ms — ${mil.per_alert_ms <= 50 ? 'met' : 'NOT met'}`,
);
if (py && !allAgree) {
  console.log('results differ between the implementations (see agreement rows)');
  process.exitCode = 1;
}
