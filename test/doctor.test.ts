/**
 * `voxnet doctor` against real deployments: a healthy one (Prosody + broker + multicast
 * module), one without the multicast module, one whose broker is down, a wrong password
 * and a server that is not there. Each failure names its fix; the exit status counts failures.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startBrokerEnv, PUBSUB, type BrokerEnv } from './helpers/broker-env.ts';
import { voxnet, agentEnv } from './helpers/agents.ts';
import { freePort } from '../broker-component/servers/net.ts';

async function doctor(env: NodeJS.ProcessEnv, args: string[] = []) {
  const p = voxnet(['doctor', '--timeout', '8s', ...args], env);
  const code = await p.exited;
  return { code, out: p.lines.join('\n'), err: p.stderr() };
}

describe('voxnet doctor on a healthy deployment, then with the broker down', () => {
  let env: BrokerEnv;
  beforeAll(async () => {
    env = await startBrokerEnv({}, 'prosody', { multicast: true });
  }, 60_000);
  afterAll(async () => env?.stop());

  it('passes every check, with the multicast service and a round trip', async () => {
    const r = await doctor(agentEnv(env, 'ops'));
    expect(r.err).toBe('');
    expect(r.out).toMatch(/^ok +server reachable: 127\.0\.0\.1:\d+/m);
    expect(r.out).toMatch(/^ok +login: ops@svom\.fr\//m);
    expect(r.out).toMatch(new RegExp(`^ok +pubsub component: ${PUBSUB.replace(/\./g, '\\.')} answers`, 'm'));
    expect(r.out).toMatch(/^ok +fan-out path: XEP-0033 multicast at multicast\.svom\.fr/m);
    expect(r.out).toMatch(/^ok +publish round trip: voxnet\/doctor: acknowledged in \d+ ms, notified in \d+ ms/m);
    expect(r.out).toMatch(/^ok +clock: [+-]\d+\.\d s against svom\.fr/m);
    expect(r.out).toMatch(/all checks passed$/);
    expect(r.code).toBe(0);
  }, 60_000);

  it('a wrong password fails at login with the fix, and stops there', async () => {
    const e = agentEnv(env, 'ops2');
    const r = await doctor({ ...e, VOXNET_AGENT_PASSWORD: 'wrong' });
    expect(r.out).toMatch(/^FAIL +login: .*authentication failed/m);
    expect(r.out).toMatch(/fix: wrong JID or password/);
    expect(r.out).not.toMatch(/pubsub component/);
    expect(r.code).toBe(1);
  }, 60_000);

  it('an untrusted certificate is reported once, with --trust as the fix', async () => {
    const e = agentEnv(env, 'ops3');
    const r = await doctor({ ...e, VOXNET_TRUST: '' });
    expect(r.out).toMatch(/^FAIL +login: .*(self[- ]signed|certificate)/m);
    expect(r.out).toMatch(/fix: the server's certificate is not trusted: pass its CA with --trust FILE/);
    expect(r.code).toBe(1);
  }, 60_000);

  it('with the broker stopped, the component check fails and says where to look', async () => {
    await env.broker.stop();
    try {
      const r = await doctor(agentEnv(env, 'ops'));
      expect(r.out).toMatch(/^FAIL +pubsub component: pubsub\.svom\.fr: /m);
      expect(r.out).toMatch(/fix: the broker is not connected to the server as pubsub\.svom\.fr/);
      expect(r.out).not.toMatch(/publish round trip/);
      expect(r.code).toBe(1);
    } finally {
      await env.restartBroker().catch(() => {});
    }
  }, 60_000);
});

describe('voxnet doctor on a deployment without the multicast module', () => {
  let env: BrokerEnv;
  beforeAll(async () => {
    env = await startBrokerEnv({}, 'prosody', { multicast: false });
  }, 60_000);
  afterAll(async () => env?.stop());

  it('warns that fan-out is per subscriber and names the module; the round trip still passes', async () => {
    const r = await doctor(agentEnv(env, 'ops'));
    expect(r.out).toMatch(/^WARN +fan-out path: svom\.fr offers no XEP-0033 multicast service/m);
    expect(r.out).toMatch(/fix: Prosody: load mod_voxnet_multicast/);
    expect(r.out).toMatch(/^ok +publish round trip/m);
    expect(r.code).toBe(0);
  }, 60_000);
});

describe('voxnet doctor with no server', () => {
  it('says the server is not reachable and exits 1', async () => {
    const port = await freePort();
    const r = await doctor({ ...process.env, VOXNET_AGENT_JID: 'ops@svom.fr', VOXNET_AGENT_PASSWORD: 'x', VOXNET_AGENT_SERVER: `xmpp://127.0.0.1:${port}` });
    expect(r.out).toMatch(new RegExp(`^FAIL +server reachable: 127\\.0\\.0\\.1:${port}: ECONNREFUSED`, 'm'));
    expect(r.out).toMatch(/fix: is the XMPP server running/);
    expect(r.code).toBe(1);
  }, 30_000);
});
