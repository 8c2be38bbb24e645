/**
 * A real Prosody with the VOXnet broker attached as a component, plus users on
 * two domains: the fixture every broker integration test starts from.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { startServer, startProsody, componentUrlFor, type ServerKind, type XmppServer } from '../../broker-component/servers/index.ts';
import { startBroker, type Broker } from '../../broker-component/broker.ts';
import { loadBrokerConfig, type BrokerConfig } from '../../broker-component/config.ts';
import { connectClient, type TestClient } from './xmpp.ts';
import { startPostgres, type Postgres } from './postgres.ts';

export const PUBSUB = 'pubsub.svom.fr';
export const SECRET = 'test-secret';

export type BrokerEnv = {
  /** The XMPP server (Prosody unless the test asked for ejabberd); `wsUrl` when asked for `websocket`. */
  prosody: XmppServer;
  kind: ServerKind;
  broker: Broker;
  dataDir: string;
  config: BrokerConfig;
  /** Log in as user@host (the account is created on first use; password = user). */
  client(user: string, host?: string, resource?: string): Promise<TestClient>;
  restartBroker(): Promise<void>;
  stop(): Promise<void>;
};

/** The server a suite runs against: a test file may set globalThis.VOXNET_TEST_SERVER before importing a shared suite. */
export function testServerKind(): ServerKind {
  return ((globalThis as { VOXNET_TEST_SERVER?: ServerKind }).VOXNET_TEST_SERVER ?? process.env.VOXNET_TEST_SERVER ?? 'prosody') as ServerKind;
}

export type BrokerEnvOptions = {
  /** Extra global lines for prosody.cfg.lua (e.g. raised stanza size limits); Prosody only. */
  prosodyExtra?: string;
  /** A multicast service on the server (XEP-0033), trusted for the broker unless `trusted` says otherwise. */
  multicast?: boolean | { trusted: string[] };
  /** A XEP-0045 MUC service on this domain, e.g. conference.svom.fr. */
  muc?: string;
  /** XMPP over WebSocket for browsers: `prosody.wsUrl`. */
  websocket?: boolean;
};

/** `overrides` replace top-level keys of the broker configuration. */
export async function startBrokerEnv(
  overrides: Partial<Record<string, unknown>> = {},
  kind: ServerKind = testServerKind(),
  opts: BrokerEnvOptions = {},
): Promise<BrokerEnv> {
  const components = [{ domain: PUBSUB, secret: SECRET }];
  const multicast = opts.multicast ? { domain: 'multicast.svom.fr', trusted: opts.multicast === true ? [PUBSUB] : opts.multicast.trusted } : undefined;
  if (opts.prosodyExtra !== undefined && kind !== 'prosody') throw new Error(`prosodyExtra needs Prosody, not ${kind}`);
  const muc = opts.muc ? { domain: opts.muc } : undefined;
  const websocket = opts.websocket ? { websocket: true } : {};
  const prosody = opts.prosodyExtra !== undefined ? await startProsody({ components, multicast, muc, extra: opts.prosodyExtra, ...websocket }) : await startServer(kind, { components, multicast, muc, ...websocket });
  const dataDir = mkdtempSync(join(tmpdir(), 'voxnet-broker-'));
  const config = loadBrokerConfig(undefined, {
    VOXNET_XMPP_URL: componentUrlFor(prosody, PUBSUB),
    VOXNET_DOMAIN: PUBSUB,
    VOXNET_SECRET: SECRET,
    VOXNET_DATA_DIR: dataDir,
    VOXNET_CREATE_NODES: 'svom.fr',
    VOXNET_LOG_LEVEL: process.env.VOXNET_TEST_LOG ?? 'silent',
    VOXNET_STORAGE_SYNCHRONOUS: 'normal',
  });
  // VOXNET_TEST_STORAGE=postgres runs the broker of any suite on a PostgreSQL of its own (by hand;
  // a test that takes a fresh data_dir for a fresh store does not hold there).
  let pg: Postgres | undefined;
  if (process.env.VOXNET_TEST_STORAGE === 'postgres' && !('storage' in overrides)) {
    pg = await startPostgres();
    config.storage = { driver: 'postgres', url: pg.url, synchronous: 'full' };
  }
  Object.assign(config, overrides);
  const log = pino({ level: config.log_level });
  let broker = await startBroker(config, { log });
  const clients: TestClient[] = [];
  const made = new Set<string>();
  return {
    prosody,
    kind,
    get broker() {
      return broker;
    },
    dataDir,
    config,
    async client(user, host = 'svom.fr', resource) {
      const key = `${user}@${host}`;
      if (!made.has(key)) {
        await prosody.addUser(user, host, user);
        made.add(key);
      }
      const c = await connectClient({ service: prosody.c2sUrl, domain: host, username: user, password: user, resource, trust: prosody.certFiles });
      clients.push(c);
      return c;
    },
    async restartBroker() {
      await broker.stop();
      broker = await startBroker(config, { log });
    },
    async stop() {
      await Promise.all(clients.map((c) => c.stop()));
      await broker.stop();
      await prosody.stop();
      await pg?.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  } as BrokerEnv;
}
