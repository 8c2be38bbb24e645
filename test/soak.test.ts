/**
 * Soak, the CI version (issue 20 §2): bench/soak.ts's own run for two minutes, with
 * the policy and the agents on (three heartbeat agents at 1 Hz, the publisher agent
 * fed a real VOEvent every 10 s, a burst of 50 alerts to 200 raw-socket subscribers
 * every 30 s). The same checks as the bench: no acknowledged item lost by any
 * recipient, none delivered twice, every stream carried items. Latency (last burst
 * and last tenth against the first) and the memory slope are recorded, not checked,
 * here: two minutes hold too few samples, and a burst still in delivery when the last
 * tenth starts holds the heartbeats' acknowledgements back (a known problem: see
 * docs/reliability.md "Soak"); the bench-length run checks both.
 */
import { describe, it, expect } from 'vitest';
import { runSoak, formatReport } from '../bench/soak.ts';

describe('soak (two minutes)', () => {
  it('loses and duplicates nothing; latency and memory are recorded', async () => {
    const lines: string[] = [];
    const r = await runSoak({
      durationS: 120,
      burstEveryS: 30,
      burstSize: 50,
      subscribers: 200,
      gcnEveryS: 10,
      sampleEveryS: 5,
      warmupS: 30,
      latencyTolerance: 3, // the bench uses 2; CI machines are noisier and a tenth of two minutes holds few samples
      slopeLimitMBh: undefined,
      inflight: 4,
      log: (l) => lines.push(l),
    });
    const report = formatReport(r);
    console.log(report);
    // Every stream carried traffic, and every acknowledged item reached every recipient once.
    for (const a of r.accounting) {
      expect(a.acknowledged, `${a.stream} acknowledged\n${report}`).toBeGreaterThan(0);
      expect({ stream: a.stream, lost: a.lost, duplicates: a.duplicates, refused: a.refused }).toEqual({ stream: a.stream, lost: 0, duplicates: 0, refused: 0 });
    }
    const burst = r.accounting.find((a) => a.stream.startsWith('burst'))!;
    expect(burst.acknowledged).toBe(3 * 50);
    expect(burst.delivered).toBe(3 * 50 * 200);
    // Heartbeats at 1 Hz on three nodes for two minutes (a beat due while the previous one
    // still waits for its acknowledgement, during a burst, is skipped: not every second is there).
    expect(r.accounting.find((a) => a.stream === 'heartbeat')!.acknowledged).toBeGreaterThan(3 * 60);
    // Memory recorded for the broker, Prosody and each agent.
    expect(r.processes.map((p) => p.name)).toEqual(['broker', 'prosody', 'heartbeat1', 'heartbeat2', 'heartbeat3', 'publisher', 'bench']);
    for (const p of r.processes) expect(p.rssMaxMB, p.name).toBeGreaterThan(1);
    const failed = r.checks.filter((c) => !c.pass && !c.recordedOnly && !c.name.includes('latency'));
    expect(failed, `${report}\n${lines.join('\n')}`).toEqual([]);
    expect(r.checks.map((c) => c.name)).toEqual(expect.arrayContaining(['no acknowledged item lost', 'no item delivered twice', 'burst latency: last burst as first', 'heartbeat latency: last tenth as first']));
  }, 240_000);
});
