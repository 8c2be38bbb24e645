/**
 * Coverage-guided fuzzing of the VOEvent parser and validators, bounded for CI
 * (bench/fuzz-coverage.ts runs the long campaigns): mutants of the real packets that
 * run new code of voevent/ join the corpus; validate() must never throw and must never
 * accept what libxml2 with our XSD refuses.
 */
import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { fuzzWithCoverage } from './coverage-fuzzer.ts';
import { validateWithOracle, VOEVENT_SCOPE } from './voevent-fuzz-ops.ts';
import { FIXTURES, xmlFiles } from './voevent-helpers.ts';

const INPUTS = Number(process.env.VOXNET_FUZZ_RUNS ?? 1500);

describe('coverage-guided fuzzing of validate()', () => {
  it(`runs ${INPUTS} mutants guided by V8 block coverage: no failure, and the corpus grows with new code reached`, () => {
    const findings: string[] = [];
    const r = fuzzWithCoverage({
      seeds: xmlFiles(FIXTURES).map((f) => fs.readFileSync(path.join(FIXTURES, f))),
      target: (b) => void validateWithOracle(b),
      scope: VOEVENT_SCOPE,
      inputs: INPUTS,
      seed: 20261206,
      onFinding: (kind, input, detail) => {
        if (kind === 'failure') findings.push(`${detail.split('\n')[0]}\n${Buffer.from(input).toString('utf8').slice(0, 300)}`);
      },
    });
    expect(findings).toEqual([]);
    expect(r.failures).toBe(0);
    // The feedback works: the seeds reach the parser and validators, and mutants reach more.
    expect(r.blocks.seeds).toBeGreaterThan(50);
    expect(r.blocks.final).toBeGreaterThan(r.blocks.seeds);
    expect(r.corpus.final).toBeGreaterThan(r.corpus.seeds);
  }, 240_000);
});
