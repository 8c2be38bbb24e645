/**
 * Interop with an independent XEP-0060 client (issue 2): slixmpp's xep_0060
 * plugin (test/interop/slixmpp_pubsub.py) drives every use case against the
 * broker behind a real Prosody. Each step of the script is one JSON line; every
 * step must pass. Skipped only when /usr/bin/python3 cannot import slixmpp
 * (Debian: apt-get install -y python3-slixmpp).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startBrokerEnv, PUBSUB, type BrokerEnv } from './helpers/broker-env.ts';

const PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('./interop/slixmpp_pubsub.py', import.meta.url));

function slixmppVersion(): string | undefined {
  if (!existsSync(PYTHON)) return undefined;
  const r = spawnSync(PYTHON, ['-c', 'import slixmpp; print(slixmpp.__version__)'], { encoding: 'utf8', timeout: 20_000 });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

const version = slixmppVersion();
if (!version) console.warn(`interop-slixmpp: skipped — ${PYTHON} cannot import slixmpp (apt-get install -y python3-slixmpp)`);

type Step = { step: string; ok: boolean; detail: unknown; ms?: number; features?: string[]; advertised?: string[] };

/** The steps the script must report, in order: a missing step is a failure too. */
const EXPECTED_STEPS = [
  'connect',
  'disco-info',
  'create-refused-for-other-domain',
  'create-node-with-config',
  'get-config',
  'set-config',
  'set-config-invalid-refused',
  'config-refused-for-non-owner',
  'disco-items-nodes',
  'subscribe',
  'publish-with-id-and-notify',
  'publish-without-id',
  'retrieve-all-items',
  'retrieve-item-by-id',
  'retrieve-max-items',
  'archive-query',
  'publish-refused-for-subscriber',
  'retract-with-notify',
  'get-affiliations',
  'modify-affiliation-publisher',
  'manage-subscriptions',
  'outcast-removes-subscription',
  'unsubscribe',
  'purge',
  'delete-node',
  'instant-node',
  'retrieve-default-config',
  'auto-create-and-publish-options',
  'node-meta-data',
  'multi-items-and-rsm-paging',
  'last-published-on-subscribe',
  'multi-subscribe',
  'subscription-options',
  'whitelist-and-member',
  'publish-only-affiliation',
  'authorize-and-get-pending',
  'collections',
  'ping',
];

function runScript(args: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(PYTHON, [SCRIPT, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('error', reject);
    p.on('exit', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

describe.skipIf(!version)(`interop: slixmpp ${version ?? ''} xep_0060 against the broker`, () => {
  let env: BrokerEnv;
  beforeAll(async () => {
    env = await startBrokerEnv();
    env.prosody.addUser('slixowner', 'svom.fr', 'owner-pw');
    env.prosody.addUser('slixsub', 'svom.cn', 'sub-pw');
  });
  afterAll(async () => env?.stop());

  it('passes every XEP-0060 use case driven by slixmpp', async () => {
    const { code, stdout, stderr } = await runScript(
      [
        '--owner', 'slixowner@svom.fr', '--owner-password', 'owner-pw',
        '--subscriber', 'slixsub@svom.cn', '--subscriber-password', 'sub-pw',
        '--host', '127.0.0.1', '--port', String(env.prosody.c2sPort),
        '--service', PUBSUB, '--node', 'slixmpp-interop',
        ...env.prosody.certFiles.flatMap((c) => ['--ca', c]),
      ],
      150_000,
    );
    const steps: Step[] = stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Step & { summary?: boolean })
      .filter((s) => !s.summary);
    const failed = steps.filter((s) => !s.ok).map((s) => `${s.step}: ${JSON.stringify(s.detail)}`);
    const missing = EXPECTED_STEPS.filter((name) => !steps.some((s) => s.step === name));
    const context = `\nfailed steps:\n  ${failed.join('\n  ') || '(none)'}\nmissing steps: ${missing.join(', ') || '(none)'}\nexit code ${code}\nstderr (tail):\n${stderr.split('\n').slice(-15).join('\n')}`;
    expect(failed, context).toEqual([]);
    expect(missing, context).toEqual([]);
    expect(steps.map((s) => s.step), context).toEqual(EXPECTED_STEPS);
    expect(code, context).toBe(0);

    // Every feature the service advertises was exercised by a passing step of this
    // independent client: a feature added to disco#info without a slixmpp step fails here.
    const advertised = steps.find((s) => s.step === 'disco-info')?.advertised ?? [];
    expect(advertised.length, 'the disco step reports the advertised features').toBeGreaterThan(10);
    const exercised = new Set(steps.filter((s) => s.ok).flatMap((s) => s.features ?? []));
    expect(advertised.filter((f) => !exercised.has(f)), 'advertised in disco#info but used by no slixmpp step').toEqual([]);
  }, 240_000);
});
