/**
 * The two SvomNet halves on two real federated servers: svom.fr (Prosody by
 * default) on 127.0.0.2 and svom.cn (ejabberd by default) on 127.0.0.3, each
 * with its own VOXnet broker (pubsub.svom.fr, pubsub.svom.cn), its own
 * XEP-0033 service (multicast.<domain>) and optionally its own access policy.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { startFederation, componentUrlFor, type Federation, type FederatedSideOptions, type ServerKind } from '../../broker-component/servers/index.ts';
import { startBroker, type Broker } from '../../broker-component/broker.ts';
import { loadBrokerConfig, type BrokerConfig } from '../../broker-component/config.ts';
import { connectClient, type TestClient } from './xmpp.ts';

export const SECRET = 'test-secret';

export type SideSpec = {
  kind?: ServerKind;
  address?: string;
  /** Access policy (YAML text) of this side's broker. */
  policy?: string;
  /** Senders the side's multicast service accepts (default: both brokers). */
  multicastTrusted?: string[];
  /** Addresses per stanza the multicast service accepts from other servers (ejabberd; 'default': its own unannounced 20). */
  multicastRemoteMax?: number | 'default';
  /** Addresses per stanza the multicast service accepts (Prosody: from anyone). */
  multicastMax?: number;
  /** Broker configuration overrides. */
  broker?: Partial<Record<string, unknown>>;
};

export type FederatedEnv = {
  fed: Federation;
  brokers: Record<string, Broker>;
  configs: Record<string, BrokerConfig>;
  /** Log in as user@domain on that domain's own server (account made on first use; password = user). */
  client(user: string, domain: string, resource?: string): Promise<TestClient>;
  restartBroker(domain: string): Promise<void>;
  stop(): Promise<void>;
};

export function pubsubOf(domain: string): string {
  return `pubsub.${domain}`;
}

export async function startFederatedEnv(spec: { fr?: SideSpec; cn?: SideSpec; auth?: 'certificate' | 'dialback' } = {}): Promise<FederatedEnv> {
  const defs = [
    { domain: 'svom.fr', s: spec.fr ?? {}, kind: spec.fr?.kind ?? 'prosody', address: spec.fr?.address ?? '127.0.0.2' },
    { domain: 'svom.cn', s: spec.cn ?? {}, kind: spec.cn?.kind ?? 'ejabberd', address: spec.cn?.address ?? '127.0.0.3' },
  ] as const;
  const brokersJids = defs.map((d) => pubsubOf(d.domain));
  const sides: FederatedSideOptions[] = defs.map((d) => ({
    kind: d.kind,
    domain: d.domain,
    address: d.address,
    components: [{ domain: pubsubOf(d.domain), secret: SECRET }],
    multicast: {
      domain: `multicast.${d.domain}`,
      trusted: d.s.multicastTrusted ?? brokersJids,
      ...(d.s.multicastRemoteMax ? { remoteMaxAddresses: d.s.multicastRemoteMax } : {}),
      ...(d.s.multicastMax ? { maxAddresses: d.s.multicastMax } : {}),
    },
    logLevel: (process.env.VOXNET_TEST_SERVER_LOG as 'debug' | undefined) ?? 'info',
  }));
  const fed = await startFederation({ sides, auth: spec.auth });
  const dataDir = mkdtempSync(join(tmpdir(), 'voxnet-fed-brokers-'));
  const brokers: Record<string, Broker> = {};
  const configs: Record<string, BrokerConfig> = {};
  const logs: Record<string, Logger> = {};
  try {
    for (const d of defs) {
      const server = fed.side(d.domain).server;
      const dir = join(dataDir, d.domain);
      const config = loadBrokerConfig(undefined, {
        VOXNET_XMPP_URL: componentUrlFor(server, pubsubOf(d.domain)),
        VOXNET_DOMAIN: pubsubOf(d.domain),
        VOXNET_SECRET: SECRET,
        VOXNET_DATA_DIR: dir,
        VOXNET_CREATE_NODES: d.domain,
        VOXNET_LOG_LEVEL: process.env.VOXNET_TEST_LOG ?? 'silent',
        VOXNET_STORAGE_SYNCHRONOUS: 'normal',
      });
      if (d.s.policy) {
        const file = join(dataDir, `${d.domain}.policy.yaml`);
        writeFileSync(file, d.s.policy);
        config.policy_file = file;
      }
      Object.assign(config, d.s.broker ?? {});
      configs[d.domain] = config;
      logs[d.domain] = pino({ level: config.log_level, base: { svc: 'broker', domain: config.domain } });
      brokers[d.domain] = await startBroker(config, { log: logs[d.domain] });
    }
  } catch (e) {
    await Promise.all(Object.values(brokers).map((b) => b.stop().catch(() => {})));
    await fed.stop();
    throw e;
  }
  const clients: TestClient[] = [];
  const made = new Set<string>();
  return {
    fed,
    brokers,
    configs,
    async client(user, domain, resource) {
      const server = fed.side(domain).server;
      const key = `${user}@${domain}`;
      if (!made.has(key)) {
        await server.addUser(user, domain, user);
        made.add(key);
      }
      const c = await connectClient({ service: server.c2sUrl, domain, username: user, password: user, resource, trust: fed.certFiles });
      clients.push(c);
      return c;
    },
    async restartBroker(domain) {
      await brokers[domain].stop();
      brokers[domain] = await startBroker(configs[domain], { log: logs[domain] });
    },
    async stop() {
      await Promise.all(clients.map((c) => c.stop().catch(() => {})));
      await Promise.all(Object.values(brokers).map((b) => b.stop().catch(() => {})));
      await fed.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
