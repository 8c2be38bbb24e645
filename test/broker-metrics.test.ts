/**
 * The broker's /metrics and /healthz against a real Prosody: the counters an operator
 * watches move with what clients do (publishes, refusals by reason, items, deliveries
 * by fan-out path, subscribers per node, the link), and /healthz turns 503 when the
 * component link is down.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startBrokerEnv, PUBSUB, type BrokerEnv } from './helpers/broker-env.ts';
import { ps, entry, errorOf } from './helpers/pubsub.ts';
import { xml } from './helpers/xmpp.ts';
import { untilValue } from './helpers/until.ts';
import type { TestClient } from './helpers/xmpp.ts';

/** Value of one series in Prometheus text (0 when absent). */
function series(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-z_]+)(\{[^}]*\})?\s+(\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[3]);
  }
  return 0;
}

describe('broker metrics and health', () => {
  let env: BrokerEnv;
  let alice: TestClient;
  let bob: TestClient;
  let base: string;
  const scrape = async () => (await fetch(`${base}/metrics`)).text();

  beforeAll(async () => {
    env = await startBrokerEnv({ metrics_port: 0 }, 'prosody', { multicast: true });
    base = env.broker.metricsServer!.url;
    alice = await env.client('alice');
    bob = await env.client('bob', 'svom.cn');
  }, 60_000);
  afterAll(async () => env?.stop());

  it('serves on loopback only by default, and /healthz says ok', async () => {
    expect(base).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const h = await fetch(`${base}/healthz`);
    expect(h.status).toBe(200);
    expect(await h.text()).toBe('ok\n');
    expect((await fetch(`${base}/nope`)).status).toBe(404);
  });

  it('counts publishes, refusals by reason, items, deliveries by path and subscribers', async () => {
    const before = await scrape();
    expect(series(before, 'voxnet_fanout_path', { path: 'multicast', service: 'multicast.svom.fr' })).toBe(1);
    expect(series(before, 'voxnet_link_up')).toBe(1);
    await alice.iq('set', PUBSUB, ps(xml('create', { node: 'grb' })));
    await bob.iq('set', PUBSUB, ps(xml('subscribe', { node: 'grb', jid: bob.jid })));
    for (let i = 0; i < 3; i++) await alice.iq('set', PUBSUB, ps(xml('publish', { node: 'grb' }, xml('item', { id: `i${i}` }, entry(`GRB ${i}`)))));
    const refused = await bob.iq('set', PUBSUB, ps(xml('publish', { node: 'grb' }, xml('item', { id: 'x' }, entry('not allowed')))));
    expect(refused.attrs.type).toBe('error');
    // bob may not create nodes: publishing to one that does not exist is refused.
    const missing = await bob.iq('set', PUBSUB, ps(xml('publish', { node: 'missing' }, xml('item', {}, entry('nowhere')))));
    const missingCondition = errorOf(missing)?.condition;
    expect(missingCondition).toBeDefined();
    const after = await untilValue(async () => {
      const t = await scrape();
      return series(t, 'voxnet_publish_routed_seconds_count') - series(before, 'voxnet_publish_routed_seconds_count') >= 3 ? t : undefined;
    }, 20_000, 'three publishes routed', 50);
    const d = (name: string, labels: Record<string, string> = {}) => series(after, name, labels) - series(before, name, labels);
    expect(d('voxnet_publishes_total', { result: 'ok' })).toBe(3);
    expect(d('voxnet_publishes_total', { result: 'forbidden' })).toBe(missingCondition === 'forbidden' ? 2 : 1);
    if (missingCondition !== 'forbidden') expect(d('voxnet_publishes_total', { result: missingCondition! })).toBe(1);
    expect(d('voxnet_refusals_total', { op: 'publish', condition: 'forbidden' })).toBe(1);
    expect(d('voxnet_items_stored_total')).toBe(3);
    expect(d('voxnet_deliveries_total', { path: 'multicast' })).toBe(3);
    expect(series(after, 'voxnet_subscribers', { node: 'grb' })).toBe(1);
    expect(after).toMatch(/^process_cpu_seconds_total /m);
  }, 60_000);

  it('/healthz is 503 with the reason while the server is away, and the reconnect is counted', async () => {
    const reconnects = series(await scrape(), 'voxnet_link_reconnects_total');
    // Watch /healthz while Prosody restarts: the link drops, then comes back.
    const seen: { status: number; text: string }[] = [];
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const r = await fetch(`${base}/healthz`);
        seen.push({ status: r.status, text: await r.text() });
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    await env.prosody.restart();
    await untilValue(async () => series(await scrape(), 'voxnet_link_up') === 1, 60_000, 'the link up again', 50);
    watching = false;
    await watcher;
    const down = seen.find((s) => s.status === 503);
    expect(down, 'a 503 while the link was down').toBeDefined();
    expect(down!.text).toMatch(/^component link to xmpp:\/\/127\.0\.0\.1:\d+ is down/);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect(series(await scrape(), 'voxnet_link_reconnects_total')).toBe(reconnects + 1);
  }, 120_000);
});

describe('a broker without a multicast service', () => {
  let env: BrokerEnv;
  afterAll(async () => env?.stop());
  it('reports the direct path', async () => {
    env = await startBrokerEnv({ metrics_port: 0 }, 'prosody', { multicast: false });
    const t = await (await fetch(`${env.broker.metricsServer!.url}/metrics`)).text();
    expect(series(t, 'voxnet_fanout_path', { path: 'direct', service: '' })).toBe(1);
    expect(series(t, 'voxnet_fanout_path', { path: 'multicast' })).toBe(0);
  }, 60_000);
});
