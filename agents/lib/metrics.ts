/**
 * An agent's Prometheus metrics: items handled per node, how old the newest alert was
 * when it arrived (its VOEvent Who/Date to now: the lag an operator watches), and
 * whether the agent is connected. Served with /healthz when the agent is given
 * --metrics-port (VOXNET_METRICS_PORT).
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Element } from '@xmpp/xml';
import type { PubsubItem } from './xml.ts';

/** The VOEvent's Who/Date (ms since epoch), when the payload is a VOEvent that has one. */
export function alertDate(payload: Element | undefined): number | undefined {
  if (!payload || payload.name.replace(/^.*:/, '') !== 'VOEvent') return undefined;
  const who = payload.getChildElements().find((c) => c.name.replace(/^.*:/, '') === 'Who');
  const date = who?.getChildElements().find((c) => c.name.replace(/^.*:/, '') === 'Date')?.text().trim();
  if (!date) return undefined;
  // VOEvent dates are UTC, often without the zone designator.
  const t = Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(date) ? date : `${date}Z`);
  return Number.isFinite(t) ? t : undefined;
}

export class AgentMetrics {
  readonly registry = new Registry();
  private readonly items: Counter<'node'>;
  private readonly lag: Gauge<'node'>;
  private readonly connected: Gauge;

  constructor(agentName: string, private readonly now: () => number = Date.now) {
    const r = this.registry;
    r.setDefaultLabels({ agent: agentName });
    collectDefaultMetrics({ register: r });
    this.items = new Counter({ name: 'voxnet_agent_items_total', help: 'items handed to the agent, by node', labelNames: ['node'], registers: [r] });
    this.lag = new Gauge({ name: 'voxnet_agent_lag_seconds', help: "age of the newest alert when it reached the agent (its VOEvent Who/Date to arrival)", labelNames: ['node'], registers: [r] });
    this.connected = new Gauge({ name: 'voxnet_agent_connected', help: '1 when the agent is connected to its server', registers: [r] });
    this.connected.set(0);
  }

  itemHandled(item: PubsubItem): void {
    this.items.inc({ node: item.node });
    const date = alertDate(item.payload);
    if (date !== undefined) this.lag.set({ node: item.node }, Math.max(0, (this.now() - date) / 1000));
  }

  setConnected(up: boolean): void {
    this.connected.set(up ? 1 : 0);
  }
}
