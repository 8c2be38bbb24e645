/**
 * `voxnet devnet --federated`: SvomNet's two halves on this machine — svom.fr on
 * Prosody (127.0.0.2) and svom.cn on ejabberd (127.0.0.3; Prosody when ejabberd
 * is not installed), federated over s2s with TLS and certificates from a devnet
 * CA, each with its own VOXnet broker (pubsub.svom.fr with the example policy,
 * pubsub.svom.cn) and multicast service, and a mirror agent on svom.cn that
 * copies svom.fr's ECLAIRs collaboration level to pubsub.svom.cn — until Ctrl-C.
 */
import { mkdirSync, existsSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pino } from 'pino';
import { startFederation, serverAvailable, componentUrlFor, type ServerKind } from '../broker-component/servers/index.ts';
import { xml } from '@xmpp/xml';
import { startBroker, type Broker } from '../broker-component/broker.ts';
import { loadBrokerConfig } from '../broker-component/config.ts';
import { startMirror } from '../agents/mirror/mirror.ts';
import { connectAgent } from '../agents/lib/connect.ts';

const USERS = [
  { user: 'alice', host: 'svom.fr', role: 'French science centre (publisher, admin)' },
  { user: 'bob', host: 'svom.cn', role: 'Chinese collaboration member' },
  { user: 'mirror', host: 'svom.cn', role: "svom.cn's mirror of svom.fr" },
];
const MIRRORED = 'svom/eclairs/collaboration';

export async function federatedDevnet(dirOption: string): Promise<number> {
  const dir = resolve(dirOption, 'federated');
  rmSync(dir, { recursive: true, force: true }); // servers' state is regenerated; brokers keep theirs under brokers/
  mkdirSync(dir, { recursive: true });
  const secret = process.env.VOXNET_SECRET ?? 'devnet-secret';
  const cnKind: ServerKind = serverAvailable('ejabberd') ? 'ejabberd' : 'prosody';
  const sides = [
    { kind: 'prosody' as ServerKind, domain: 'svom.fr', address: '127.0.0.2' },
    { kind: cnKind, domain: 'svom.cn', address: '127.0.0.3' },
  ].map((s) => ({
    ...s,
    components: [{ domain: `pubsub.${s.domain}`, secret }],
    multicast: { domain: `multicast.${s.domain}`, trusted: ['pubsub.svom.fr', 'pubsub.svom.cn'] },
  }));
  const fed = await startFederation({ sides, dir: join(dir, 'servers') });
  for (const u of USERS) await fed.side(u.host).server.addUser(u.user, u.host, u.user);
  const log = pino({ level: process.env.VOXNET_LOG_LEVEL ?? 'info' });
  const brokers: Broker[] = [];
  const policy = resolve('config/policy.example.yaml');
  for (const s of sides) {
    const domain = `pubsub.${s.domain}`;
    const cfg = loadBrokerConfig(undefined, {
      ...process.env,
      VOXNET_XMPP_URL: componentUrlFor(fed.side(s.domain).server, domain),
      VOXNET_DOMAIN: domain,
      VOXNET_SECRET: secret,
      VOXNET_DATA_DIR: resolve(dirOption, 'brokers', s.domain),
      VOXNET_ADMINS: s.domain === 'svom.fr' ? 'alice@svom.fr' : 'mirror@svom.cn',
      VOXNET_CREATE_NODES: s.domain,
      ...(s.domain === 'svom.fr' && existsSync(policy) ? { VOXNET_POLICY_FILE: policy } : {}),
    });
    brokers.push(await startBroker(cfg, { log: log.child({ svc: 'broker', domain }) }));
  }
  const connection = { jid: 'mirror@svom.cn', password: 'mirror', server: fed.side('svom.cn').server.c2sUrl, trust: fed.certFiles, log: log.child({ svc: 'mirror' }) };
  // The mirror owns its local copy of the node (created once, kept by the broker's store).
  const setup = await connectAgent({ ...connection, service: 'pubsub.svom.cn', name: 'mirror-setup' });
  const existing = await setup.getItems(MIRRORED, { max: 1 }).then(() => true, () => false);
  if (!existing) await setup.iq('set', xml('pubsub', { xmlns: 'http://jabber.org/protocol/pubsub' }, xml('create', { node: MIRRORED })));
  await setup.stop();
  const mirror = await startMirror({ connection, origin: 'pubsub.svom.fr', local: 'pubsub.svom.cn', nodes: [{ from: MIRRORED, to: MIRRORED }], mirrors: ['mirror@svom.fr', 'mirror@svom.cn'] });
  const fr = fed.side('svom.fr').server;
  const cn = fed.side('svom.cn').server;
  console.log(`
VOXnet federated devnet is up (s2s over TLS, certificates from ${join(dir, 'servers', 'ca.crt')}).
  svom.fr  Prosody on 127.0.0.2 — clients ${fr.c2sUrl}; broker pubsub.svom.fr (config/policy.example.yaml)
  svom.cn  ${cnKind} on 127.0.0.3 — clients ${cn.c2sUrl}; broker pubsub.svom.cn
  accounts ${USERS.map((u) => `${u.user}@${u.host} / ${u.user}`).join(', ')}
  mirror   mirror@svom.cn copies pubsub.svom.fr ${MIRRORED} to pubsub.svom.cn ${MIRRORED}
  try      node bin/voxnet.js subscribe --server ${cn.c2sUrl} --jid bob@svom.cn --password bob --trust ${join(dir, 'servers', 'ca.crt')} --service pubsub.svom.fr ${MIRRORED}
Ctrl-C stops everything.`);
  await new Promise<void>((r) => {
    process.once('SIGINT', () => r());
    process.once('SIGTERM', () => r());
  });
  await mirror.stop();
  for (const b of brokers) await b.stop();
  await fed.stop();
  return 0;
}
