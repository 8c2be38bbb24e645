/** The Grafana dashboard in docs/ only queries metrics that the broker and the agents really export. */
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { BrokerMetrics } from '../broker-component/metrics.ts';
import { AgentMetrics } from '../agents/lib/metrics.ts';

describe('docs/grafana-voxnet.json', () => {
  it('is a dashboard whose every query names exported metrics', async () => {
    const dash = JSON.parse(readFileSync('docs/grafana-voxnet.json', 'utf8')) as { panels: { title: string; targets: { expr: string }[] }[] };
    const exported = new Set<string>();
    const broker = new BrokerMetrics({ subscribers: () => [], releaseQueue: () => ({ depth: 0 }) });
    for (const m of await broker.registry.getMetricsAsJSON()) exported.add(m.name);
    for (const m of await new AgentMetrics('test').registry.getMetricsAsJSON()) exported.add(m.name);
    expect(dash.panels.length).toBeGreaterThan(8);
    for (const p of dash.panels) {
      expect(p.targets.length, p.title).toBeGreaterThan(0);
      for (const t of p.targets) {
        const names = t.expr.match(/voxnet_[a-z_]+/g) ?? [];
        expect(names.length, `${p.title}: ${t.expr}`).toBeGreaterThan(0);
        for (const n of names) expect(exported.has(n.replace(/_(bucket|count|sum)$/, '')), `${p.title}: ${n}`).toBe(true);
      }
    }
  });
});
