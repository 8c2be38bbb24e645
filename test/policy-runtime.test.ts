/**
 * The policy runtime in memory (no servers): the service, the SQLite store in a
 * temporary folder and the policy file; publications on a source node become
 * releases on its level nodes.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { PubsubService } from '../broker-component/core/service.ts';
import { SqliteStore } from '../broker-component/store/sqlite.ts';
import { PolicyRuntime, type PolicyAudit } from '../broker-component/policy/runtime.ts';
import { mxtPolicy } from './helpers/policies.ts';
import { untilValue } from './helpers/until.ts';

const SERVICE = 'pubsub.svom.fr';
const POLICY = mxtPolicy();
const PAYLOAD = '<entry xmlns="urn:test">one</entry>';

type Env = { service: PubsubService; store: SqliteStore; policy: PolicyRuntime; audits: PolicyAudit[]; close(): void };

function open(dir: string, opts: { policy?: string; now?: () => number } = {}): Env {
  const file = join(dir, 'policy.yaml');
  writeFileSync(file, opts.policy ?? POLICY);
  const store = new SqliteStore(join(dir, 'data'));
  let policy: PolicyRuntime | undefined;
  const service = new PubsubService(store, { admins: [SERVICE], onDomainEvent: (ev) => policy?.onDomainEvent(ev), now: opts.now });
  const audits: PolicyAudit[] = [];
  policy = PolicyRuntime.open({ file, service, store, serviceJid: SERVICE, log: pino({ level: 'silent' }), audit: (a) => audits.push(a), watch: false, now: opts.now });
  policy.start();
  return { service, store, policy, audits, close: () => (policy!.stop(), store.close()) };
}

/** The store reaches the state `fn` looks for (checked every 10 ms). */
const until = <T>(what: string, fn: () => T | undefined | false, ms = 5000): Promise<T> => untilValue(fn, ms, what, 10);

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('policy releases (in memory)', () => {
  const admin = { jid: SERVICE, bare: SERVICE };
  const fsc = { jid: 'fsc@svom.fr/inbox', bare: 'fsc@svom.fr' };

  it('a publication on a source node is released to every level', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'voxnet-policy-rt-'));
    dirs.push(dir);
    const env = open(dir);
    try {
      env.service.publish(fsc, 'mxt/source', [{ id: 'a1', payload: PAYLOAD }]);
      await until('the releases', () => env.store.getItem('mxt/public', 'a1'));
      expect(env.store.getItem('mxt/collaboration', 'a1')?.payload).toBe(PAYLOAD);
    } finally {
      env.close();
    }
  });

  it('a source node with notifications off (nobody listens to it) still releases to its levels', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'voxnet-policy-rt-'));
    dirs.push(dir);
    const env = open(dir);
    try {
      env.service.configure(admin, 'mxt/source', { deliver_notifications: false });
      env.service.publish(fsc, 'mxt/source', [{ id: 'q1', payload: PAYLOAD }]);
      await until('the releases', () => env.store.getItem('mxt/public', 'q1'));
      expect(env.store.getItem('mxt/collaboration', 'q1')?.payload).toBe(PAYLOAD);
      // Retracting from the quiet source retracts everywhere too.
      env.service.retract(fsc, 'mxt/source', ['q1'], false);
      await until('the retractions', () => !env.store.getItem('mxt/public', 'q1') && !env.store.getItem('mxt/collaboration', 'q1'));
    } finally {
      env.close();
    }
  });

  it('an embargoed release waits in the store, survives a restart, and goes out when due', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'voxnet-policy-rt-'));
    dirs.push(dir);
    let now = Date.UTC(2026, 4, 11, 6, 0, 0);
    const embargoed = mxtPolicy('{ embargo: 1h }');
    let env = open(dir, { policy: embargoed, now: () => now });
    env.service.publish(fsc, 'mxt/source', [{ id: 'e1', payload: PAYLOAD }]);
    await until('the collaboration release', () => env.store.getItem('mxt/collaboration', 'e1'));
    expect(env.store.getItem('mxt/public', 'e1')).toBeUndefined();
    expect(env.policy.queue.all()).toMatchObject([{ itemId: 'e1', target: 'mxt/public', dueAt: now + 3_600_000 }]);
    // The broker stops with the job pending and starts again after the embargo.
    env.close();
    now += 3_600_000;
    env = open(dir, { policy: embargoed, now: () => now });
    try {
      await until('the public release', () => env.store.getItem('mxt/public', 'e1'));
      expect(env.policy.queue.all()).toEqual([]);
      expect(env.audits.find((a) => a.op === 'release' && a.node === 'mxt/public')).toMatchObject({ decision: 'grant' });
    } finally {
      env.close();
    }
  });
});
