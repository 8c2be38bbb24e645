/**
 * Coverage-guided fuzzing of the VOEvent parser and validators (issue 20): the real
 * packets of test/fixtures/voevents are the seed corpus; mutated inputs that run new
 * code blocks of voevent/ (V8 block coverage, test/coverage-fuzzer.ts) join the corpus.
 * Properties, for every input: validate() never throws, and anything it accepts is
 * valid for libxml2 with our XSD (and the official IVOA schema when ../shared is
 * there). Prints inputs/s, corpus and coverage growth, the slowest input (limit 100 ms)
 * and failures (must be 0); findings are written to bench/results/. Then times the
 * worst shapes at the size limit (test/voevent-fuzz-ops.ts largeHostilePackets).
 *
 *   npx tsx bench/fuzz-coverage.ts [--inputs 100000] [--seed 1]
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fuzzWithCoverage } from '../test/coverage-fuzzer.ts';
import { largeHostilePackets, validateWithOracle, VOEVENT_SCOPE } from '../test/voevent-fuzz-ops.ts';
import { validate } from '../voevent/validate.ts';
import { DEFAULT_MAX_BYTES } from '../voevent/tree.ts';
import { FIXTURES, OFFICIAL_XSD, xmlFiles } from '../test/voevent-helpers.ts';

const { values } = parseArgs({ options: { inputs: { type: 'string', default: '100000' }, seed: { type: 'string', default: '1' } } });
const official = fs.existsSync(OFFICIAL_XSD);
fs.mkdirSync('bench/results', { recursive: true });
let found = 0;
const r = fuzzWithCoverage({
  seeds: xmlFiles(FIXTURES).map((f) => fs.readFileSync(path.join(FIXTURES, f))),
  target: (b) => validateWithOracle(b, official ? [OFFICIAL_XSD] : []),
  scope: VOEVENT_SCOPE,
  inputs: Number(values.inputs),
  seed: Number(values.seed),
  onFinding: (kind, input, detail) => {
    const file = `bench/results/fuzz-coverage-${kind}-${++found}.xml`;
    fs.writeFileSync(file, input);
    console.error(`${kind}: ${file}: ${detail.split('\n')[0]}`);
  },
});
const times = r.times.sort((a, b) => a - b);
const q = (p: number) => times[Math.min(times.length - 1, Math.floor(p * times.length))]!.toFixed(3);
console.log(`inputs ${r.inputs} in ${r.seconds.toFixed(1)} s (${Math.round(r.inputs / r.seconds)}/s, coverage reading and oracle checks included)`);
console.log(`corpus ${r.corpus.seeds} seeds → ${r.corpus.final}; code blocks of voevent/ covered: seeds ${r.blocks.seeds} → ${r.blocks.final}`);
console.log(`validate(): p50 ${q(0.5)} ms, p99 ${q(0.99)} ms, slowest ${r.slowest.ms.toFixed(1)} ms (${r.slowest.bytes} bytes; limit 100 ms)`);
console.log(`checked against our XSD${official ? ' and the official schema' : ''}; failures ${r.failures}`);
// The size limit's worst shapes, which mutation rarely reaches: CPU time of validate(), best of 5.
const seedPacket = fs.readFileSync(path.join(FIXTURES, xmlFiles(FIXTURES)[0]!), 'utf8');
let largest = 0;
for (const { name, bytes } of largeHostilePackets(seedPacket, DEFAULT_MAX_BYTES)) {
  let best = Infinity;
  for (let i = 0; i < 5; i++) {
    const c = process.cpuUsage();
    validate(bytes);
    const u = process.cpuUsage(c);
    best = Math.min(best, (u.user + u.system) / 1000);
  }
  largest = Math.max(largest, best);
  console.log(`at the size limit, ${name} (${bytes.length} bytes): validate() ${best.toFixed(1)} ms CPU`);
}
process.exitCode = r.failures || r.slowest.ms > 100 || largest > 100 ? 1 : 0;
