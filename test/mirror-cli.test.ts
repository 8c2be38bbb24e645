/**
 * `voxnet agent mirror`, the process an operator runs: on two federated servers
 * (svom.fr on Prosody, svom.cn on ejabberd), it copies a French node to a Chinese one
 * with the same item ids (what was there before it started, then live), and stops
 * cleanly on SIGTERM; configuration mistakes are usage errors that name the key.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { xml } from '@xmpp/xml';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serverAvailable } from '../broker-component/servers/index.ts';
import { startFederatedEnv, type FederatedEnv } from './helpers/federation-env.ts';
import { voxnet, type Proc } from './helpers/agents.ts';
import { ps, entry } from './helpers/pubsub.ts';
import type { TestClient } from './helpers/xmpp.ts';
import { loadConfigFile } from '../agents/lib/index.ts';
import { MIRROR_SCHEMA, type MirrorConfig } from '../agents/mirror/cli.ts';

const ready = serverAvailable('prosody') && serverAvailable('ejabberd');
if (!ready) console.warn('mirror-cli: skipped — needs both prosody and ejabberd');
const FR = 'pubsub.svom.fr';
const CN = 'pubsub.svom.cn';

describe('voxnet agent mirror: usage', () => {
  it('the example configuration is valid', () => {
    const cfg = loadConfigFile<MirrorConfig>('config/mirror.example.yaml', MIRROR_SCHEMA);
    expect(cfg.origin).toBe(FR);
    expect(cfg.nodes!.length).toBeGreaterThan(0);
  });

  it('refuses a configuration without origin, or mirroring a service onto itself', async () => {
    const env = { ...process.env, VOXNET_AGENT_JID: 'mirror@svom.cn', VOXNET_AGENT_PASSWORD: 'x' };
    const a = voxnet(['agent', 'mirror', '--local', CN, '--node', 'grb'], env);
    expect(await a.exited).toBe(2);
    expect(a.stderr()).toMatch(/no origin: give --origin JID/);
    const b = voxnet(['agent', 'mirror', '--origin', CN, '--local', CN, '--node', 'grb'], env);
    expect(await b.exited).toBe(2);
    expect(b.stderr()).toMatch(/are the same service/);
  }, 30_000);
});

describe.skipIf(!ready)('voxnet agent mirror across s2s', () => {
  let env: FederatedEnv;
  let fsc: TestClient, mcn: TestClient;
  let proc: Proc | undefined;
  const ids = (c: TestClient, service: string, node: string) =>
    c.iq('get', service, ps(xml('items', { node })), 30_000).then((r) => r.getChild('pubsub')?.getChild('items')?.getChildren('item').map((i) => i.attrs.id!) ?? []);
  const ok = async (p: Promise<import('@xmpp/xml').Element>) => expect((await p).attrs.type).toBe('result');

  beforeAll(async () => {
    env = await startFederatedEnv();
    fsc = await env.client('fsc', 'svom.fr');
    mcn = await env.client('mirror', 'svom.cn');
    await ok(fsc.iq('set', FR, ps(xml('create', { node: 'grb' })), 30_000));
    await ok(mcn.iq('set', CN, ps(xml('create', { node: 'grb-copy' })), 30_000));
    for (const id of ['g1', 'g2']) await ok(fsc.iq('set', FR, ps(xml('publish', { node: 'grb' }, xml('item', { id }, entry(id)))), 30_000));
  }, 180_000);
  afterAll(async () => {
    if (proc && proc.child.exitCode === null) proc.child.kill('SIGKILL');
    await env?.stop();
  });

  it('copies what the node held and what comes after, with the same ids; SIGTERM stops it', async () => {
    proc = voxnet(['agent', 'mirror', '--origin', FR, '--local', CN, '--node', 'grb=grb-copy'], {
      ...process.env,
      VOXNET_AGENT_JID: 'mirror@svom.cn',
      VOXNET_AGENT_PASSWORD: 'mirror',
      VOXNET_AGENT_SERVER: env.fed.side('svom.cn').server.c2sUrl,
      VOXNET_TRUST: env.fed.certFiles.join(':'),
      VOXNET_STATE_DIR: mkdtempSync(join(tmpdir(), 'voxnet-mirror-state-')),
      VOXNET_LOG_LEVEL: 'info',
    });
    const deadline = Date.now() + 90_000;
    const waitIds = async (want: string[]) => {
      for (;;) {
        const got = await ids(mcn, CN, 'grb-copy');
        if (want.every((w) => got.includes(w))) return got;
        if (Date.now() > deadline) throw new Error(`mirror copied ${got.join(',')}, expected ${want.join(',')}\n${proc!.stderr()}`);
        await new Promise((r) => setTimeout(r, 500));
      }
    };
    await waitIds(['g1', 'g2']);
    await ok(fsc.iq('set', FR, ps(xml('publish', { node: 'grb' }, xml('item', { id: 'g3' }, entry('g3')))), 30_000));
    const got = await waitIds(['g1', 'g2', 'g3']);
    expect([...got].sort()).toEqual(['g1', 'g2', 'g3']);
    proc.child.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
  }, 150_000);
});
