/**
 * SIGKILL under load with exact accounting (issue 20, part 4): every long-running
 * process killed at a random instant of a stream, restarted, and every item
 * accounted for (see bench/lib/kills.ts). Prints a table; exits 1 on any loss or
 * duplicate.
 *
 *   npx tsx bench/kills.ts [--rounds 20] [--only broker,prosody,...]
 */
import { parseArgs } from 'node:util';
import { TARGETS, runKills, p50max, type Tally, type Target } from './lib/kills.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '20' }, only: { type: 'string' } } });
const rounds = Number(values.rounds);
const only = (values.only?.split(',') ?? [...TARGETS]) as Target[];
for (const t of only) if (!TARGETS.includes(t)) throw new Error(`--only: unknown process ${t} (known: ${TARGETS.join(', ')})`);

const tallies: Tally[] = [];
for (const target of only) {
  const started = Date.now();
  try {
    tallies.push(await runKills(target, { rounds, log: (s) => console.error(s) }));
  } catch (e) {
    console.error(`${target}: the scenario failed: ${(e as Error).stack}`);
    tallies.push({ target, rounds: -1, items: 0, lost: [`scenario failed: ${(e as Error).message}`], duplicated: [], restartMs: [] });
  }
  console.error(`${target}: ${Math.round((Date.now() - started) / 1000)} s`);
}

console.log('| process | rounds | items | lost | duplicated | restart→serving p50 | max |');
console.log('|---|---:|---:|---:|---:|---:|---:|');
for (const t of tallies) {
  const { p50, max } = p50max(t.restartMs);
  console.log(`| ${t.target} | ${t.rounds} | ${t.items} | ${t.lost.length} | ${t.duplicated.length} | ${(p50 / 1000).toFixed(2)} s | ${(max / 1000).toFixed(2)} s |`);
}
for (const t of tallies) for (const x of [...t.lost.map((l) => `lost ${l}`), ...t.duplicated.map((d) => `duplicated ${d}`)].slice(0, 20)) console.log(`${t.target}: ${x}`);
process.exit(tallies.some((t) => t.lost.length || t.duplicated.length) ? 1 : 0);
