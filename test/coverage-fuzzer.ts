/**
 * A coverage-guided (greybox) fuzzer for a function of this process: an input that
 * makes the target run a code block no earlier input ran joins the corpus and is
 * mutated further (AFL's loop). The feedback is V8's own block coverage, read through
 * node:inspector (Profiler precise coverage): no instrumentation, no native addon.
 *
 * Written here because @jazzer.js/core, the usual choice, cannot run on this
 * platform: its npm package ships only prebuilt libFuzzer addons (4.0.0's Linux one
 * needs glibc 2.38; Debian 12 has 2.36) and no sources to build them from.
 *
 * Coverage model: V8 reports, per function that ran, the nested ranges whose count
 * differs from the function's; with counters reset at every read, a nested range
 * reported with count 0 is a block that did not run. A block is "covered" the first
 * time a function that contains it runs without listing it as not run. Functions of
 * scripts outside `scope` (the loader, node_modules, the fuzzer itself) are ignored.
 */
import { Session } from 'node:inspector';
import fc from 'fast-check';
import { applyOps, byteOp, type ByteOp } from './voevent-fuzz-ops.ts';
import { prng } from './voevent-helpers.ts';

type Range = { startOffset: number; endOffset: number; count: number };
type ScriptCoverage = { scriptId: string; url: string; functions: { ranges: Range[] }[] };

export type FuzzOptions = {
  /** Starting corpus (real inputs). */
  seeds: Uint8Array[];
  /** The code under test with its properties checked: any throw is a failure (a crash, or a property broken). */
  target: (input: Uint8Array) => void;
  /** Only scripts whose URL matches count for coverage. */
  scope: RegExp;
  /** Number of mutated inputs to run. */
  inputs: number;
  seed: number;
  /** Inputs longer than this are not run (the target's own size limit is tested elsewhere). */
  maxBytes?: number;
  /** Called for each failure and each input slower than `slowMs` (re-timed alone). */
  onFinding?: (kind: 'failure' | 'slow', input: Uint8Array, detail: string) => void;
  slowMs?: number;
};

export type FuzzReport = {
  inputs: number;
  seconds: number;
  corpus: { seeds: number; final: number };
  /** Blocks (function bodies and nested blocks) covered by the seeds alone, and at the end. */
  blocks: { seeds: number; final: number };
  failures: number;
  /** Slowest input, re-timed alone. */
  slowest: { ms: number; bytes: number };
  times: number[];
};

/** Coverage reader over this isolate's V8 block counters. */
class Coverage {
  private readonly session = new Session();
  /** Per function (script:start): its nested ranges seen so far, and whether each has run. */
  private readonly known = new Map<string, Map<string, boolean>>();
  blocks = 0;

  constructor(private readonly scope: RegExp) {
    this.session.connect();
    this.post('Profiler.enable');
    this.post('Profiler.startPreciseCoverage', { callCount: false, detailed: true });
    this.take(); // reset counters: what ran before the first input does not count
  }

  // A session on the same thread answers synchronously: the callback runs inside post().
  private post(method: string, params?: object): unknown {
    let out: unknown;
    let err: Error | null = null;
    this.session.post(method, params, (e, r) => {
      err = e;
      out = r;
    });
    if (err) throw err;
    return out;
  }

  private take(): ScriptCoverage[] {
    return (this.post('Profiler.takePreciseCoverage') as { result: ScriptCoverage[] }).result;
  }

  /** Read (and reset) the counters; returns how many blocks ran for the first time. */
  newBlocks(): number {
    let fresh = 0;
    for (const script of this.take()) {
      if (!this.scope.test(script.url)) continue;
      for (const fn of script.functions) {
        const [whole, ...nested] = fn.ranges;
        if (!whole || whole.count === 0) continue;
        const key = `${script.scriptId}:${whole.startOffset}`;
        let blocks = this.known.get(key);
        if (!blocks) {
          blocks = new Map();
          this.known.set(key, blocks);
          fresh++;
        }
        const notRun = new Set(nested.filter((r) => r.count === 0).map((r) => `${r.startOffset}:${r.endOffset}`));
        for (const r of nested) {
          const id = `${r.startOffset}:${r.endOffset}`;
          if (!blocks.has(id)) blocks.set(id, false);
        }
        for (const [id, ran] of blocks) {
          if (!ran && !notRun.has(id)) {
            blocks.set(id, true);
            fresh++;
          }
        }
      }
    }
    this.blocks += fresh;
    return fresh;
  }

  close(): void {
    this.post('Profiler.stopPreciseCoverage');
    this.session.disconnect();
  }
}

/** Run the coverage-guided loop; never throws for what the target does. */
export function fuzzWithCoverage(o: FuzzOptions): FuzzReport {
  const maxBytes = o.maxBytes ?? 256 * 1024;
  const slowMs = o.slowMs ?? 100;
  const rand = prng(o.seed);
  const cov = new Coverage(o.scope);
  const corpus: Uint8Array[] = [];
  let failures = 0;
  let slowest = { ms: 0, bytes: 0 };
  const times: number[] = [];

  const run = (input: Uint8Array): boolean => {
    const t = performance.now();
    let failed = false;
    try {
      o.target(input);
    } catch (e) {
      failed = true;
      failures++;
      o.onFinding?.('failure', input, e instanceof Error ? (e.stack ?? e.message) : String(e));
    }
    const ms = performance.now() - t;
    times.push(ms);
    if (ms > slowest.ms && !failed) {
      // Timed again alone: a pause of the machine (GC, another process) is not the input's cost.
      const again = performance.now();
      try {
        o.target(input);
      } catch {
        /* counted above */
      }
      const retimed = performance.now() - again;
      if (retimed > slowest.ms) slowest = { ms: retimed, bytes: input.length };
      if (retimed > slowMs) o.onFinding?.('slow', input, `${retimed.toFixed(1)} ms`);
    }
    return cov.newBlocks() > 0;
  };

  for (const s of o.seeds) {
    run(s);
    corpus.push(s);
  }
  const seedBlocks = cov.blocks;
  const t0 = performance.now();
  // Operators come from the same arbitrary as the property tests, drawn in batches.
  const opsBatch = (n: number, k: number): ByteOp[][] => fc.sample(fc.array(byteOp, { minLength: 1, maxLength: 4 }), { numRuns: n, seed: o.seed + k });
  let ops: ByteOp[][] = [];
  for (let i = 0; i < o.inputs; i++) {
    if (!ops.length) ops = opsBatch(1000, i);
    // Newer corpus entries (those that found something) are picked more often.
    const pick = rand() < 0.5 && corpus.length > o.seeds.length ? o.seeds.length + Math.floor(rand() * (corpus.length - o.seeds.length)) : Math.floor(rand() * corpus.length);
    let input = applyOps(corpus[pick]!, ops.pop()!);
    if (rand() < 0.1) {
      // Splice: the head of one input with the tail of another.
      const other = corpus[Math.floor(rand() * corpus.length)]!;
      const cut = Math.floor(rand() * input.length);
      const from = Math.floor(rand() * other.length);
      input = Buffer.concat([input.subarray(0, cut), other.subarray(from)]);
    }
    if (input.length > maxBytes) continue;
    if (run(input)) corpus.push(input);
  }
  const seconds = (performance.now() - t0) / 1000;
  cov.close();
  return { inputs: o.inputs, seconds, corpus: { seeds: o.seeds.length, final: corpus.length }, blocks: { seeds: seedBlocks, final: cov.blocks }, failures, slowest, times };
}
