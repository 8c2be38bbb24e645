/**
 * A long fuzzing campaign on the VOEvent parser and validators (issue 20): N hostile
 * mutations of the real packets (test/voevent-fuzz-ops.ts), each through validate();
 * every input the fast validator accepts is checked against libxml2 with our XSD (and
 * with the official IVOA schema when ../shared is there). Prints inputs/s, the slowest
 * input's time, crashes and disagreements (both must be 0).
 *
 *   npx tsx bench/fuzz-voevent.ts [--inputs 100000] [--seed 1]
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import fc from 'fast-check';
import { validate } from '../voevent/validate.ts';
import { xsdIsValid } from '../voevent/xsd.ts';
import { FIXTURES, OFFICIAL_XSD, xmlFiles } from '../test/voevent-helpers.ts';
import { mutatedPackets } from '../test/voevent-fuzz-ops.ts';

const { values } = parseArgs({ options: { inputs: { type: 'string', default: '100000' }, seed: { type: 'string', default: '1' } } });
const N = Number(values.inputs);
const packets = xmlFiles(FIXTURES).map((f) => fs.readFileSync(path.join(FIXTURES, f)));
const official = fs.existsSync(OFFICIAL_XSD);
const gen = mutatedPackets(packets);

let crashes = 0;
let disagreements = 0;
let valid = 0;
let slowest = { ms: 0, bytes: 0 };
const times: number[] = [];
const t0 = performance.now();
const batch = 1000;
for (let done = 0; done < N; done += batch) {
  for (const bytes of fc.sample(gen, { numRuns: Math.min(batch, N - done), seed: Number(values.seed) + done })) {
    const s = performance.now();
    let r;
    try {
      r = validate(bytes);
    } catch (e) {
      crashes++;
      console.error(`crash: ${(e as Error).stack}`);
      continue;
    }
    const ms = performance.now() - s;
    times.push(ms);
    if (ms > slowest.ms) {
      // Timed again alone: a pause of the machine (GC, another process) is not the input's cost.
      const again = performance.now();
      validate(bytes);
      const retimed = performance.now() - again;
      if (retimed > slowest.ms) {
        slowest = { ms: retimed, bytes: bytes.length };
        fs.writeFileSync('bench/results/fuzz-slowest.xml', bytes);
      }
    }
    if (r.valid) {
      valid++;
      const text = Buffer.from(bytes).toString('utf8');
      if (!xsdIsValid(text) || (official && !xsdIsValid(text, OFFICIAL_XSD))) {
        disagreements++;
        fs.writeFileSync(`bench/results/fuzz-disagreement-${disagreements}.xml`, bytes);
      }
    }
  }
}
const secs = (performance.now() - t0) / 1000;
times.sort((a, b) => a - b);
const q = (p: number) => times[Math.min(times.length - 1, Math.floor(p * times.length))]!.toFixed(3);
console.log(`inputs ${N} in ${secs.toFixed(1)} s (${Math.round(N / secs)}/s, validation and oracle checks included)`);
console.log(`validate(): p50 ${q(0.5)} ms, p99 ${q(0.99)} ms, slowest ${slowest.ms.toFixed(1)} ms (${slowest.bytes} bytes; limit 100 ms)`);
console.log(`accepted as valid ${valid}; checked with our XSD${official ? ' and the official schema' : ''}: disagreements ${disagreements}; crashes ${crashes}`);
process.exitCode = crashes || disagreements || slowest.ms > 100 ? 1 : 0;
