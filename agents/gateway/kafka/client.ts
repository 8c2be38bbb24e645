/**
 * A kafkajs client from the gateway's `kafka:` settings: brokers, TLS (system CAs
 * or files), SASL SCRAM-SHA-512 or OAUTHBEARER (OIDC client credentials, see
 * oauth.ts). Credentials come from the file or the environment and are never logged.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Kafka, logLevel, type KafkaConfig, type SASLOptions } from 'kafkajs';
import type { Logger } from '../../lib/log.ts';
import { oauthTokenProvider } from './oauth.ts';

export type KafkaSettings = {
  brokers: string[];
  client_id?: string;
  /** true: TLS with the system CAs; { ca: [files] }: with these CAs too. */
  tls?: boolean | { ca?: string[]; servername?: string };
  sasl?:
    | { mechanism: 'scram-sha-512'; username: string; password?: string }
    | { mechanism: 'oauthbearer'; token_url: string; client_id: string; client_secret?: string; scope?: string };
  /** kafkajs: re-authenticate this long before the session expires (default 10 s). */
  reauthentication_threshold_ms?: number;
};

export const KAFKA_SETTINGS_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['brokers'],
  properties: {
    brokers: { type: 'array', minItems: 1, items: { type: 'string', pattern: '^[^\\s:/]+:[0-9]+$', description: 'host:port' } },
    client_id: { type: 'string', minLength: 1 },
    tls: {
      anyOf: [
        { type: 'boolean' },
        { type: 'object', additionalProperties: false, properties: { ca: { type: 'array', items: { type: 'string' } }, servername: { type: 'string' } } },
      ],
    },
    sasl: {
      type: 'object',
      required: ['mechanism'],
      properties: {
        mechanism: { enum: ['scram-sha-512', 'oauthbearer'] },
        username: { type: 'string' },
        password: { type: 'string' },
        token_url: { type: 'string', pattern: '^https?://' },
        client_id: { type: 'string' },
        client_secret: { type: 'string' },
        scope: { type: 'string' },
      },
      additionalProperties: false,
    },
    reauthentication_threshold_ms: { type: 'integer', minimum: 0 },
  },
} as const;

/**
 * kafkajs re-authenticates a SASL session in place when the broker's session
 * lifetime (KIP-368: the OAUTHBEARER token's expiry, `connections.max.reauth.ms`)
 * nears its end, and Kafka 4.1 answers its in-place SaslHandshake with
 * ILLEGAL_SASL_STATE: the consumer crashes with a non-retriable error, the
 * "stops after an hour" failure of GCN consumers (seen here with 12 s tokens).
 * So kafkajs is told the session never needs re-authentication: the broker
 * closes the connection when the session expires (on its next request) and
 * kafkajs reconnects — a retriable error — authenticating afresh with a token
 * the provider renewed. Proven by test/gateway-gcn.test.ts across several
 * token lifetimes against Kafka's OAuthBearerValidatorCallbackHandler.
 */
type KafkaConnection = { authenticatedAt: unknown; isAuthenticated(): boolean };
let reauthPatched = false;
function reconnectInsteadOfReauthenticating(): void {
  if (reauthPatched) return;
  reauthPatched = true;
  const Connection = createRequire(import.meta.url)('kafkajs/src/network/connection.js') as { prototype: KafkaConnection };
  // A connection stays authenticated until it is closed: kafkajs never re-authenticates in place
  // (the broker closes the connection when the session expires, on its next request, and kafkajs
  // reconnects, authenticating afresh with a token the provider renewed). Patched at the one
  // check every path asks — `authenticate()` and the authentication `send()` does by itself on a
  // pool's second connection — not at `authenticate()`, which `send()` does not call: patched
  // there, a consumer still crashed with ILLEGAL_SASL_STATE once its fetch connection's session
  // neared its end (test/gateway-gcn.test.ts, the heartbeat silence alarm).
  Connection.prototype.isAuthenticated = function (this: KafkaConnection) {
    return this.authenticatedAt != null;
  };
}

/** kafkajs logs → pino, at warn and above (kafkajs is chatty at info). */
function logCreator(log: Logger) {
  return () => ({ level, log: entry }: { level: number; log: { message: string } & Record<string, unknown> }) => {
    const { message, ...rest } = entry;
    delete rest.timestamp;
    delete rest.logger;
    if (level === logLevel.ERROR) log.warn({ kafka: rest }, `kafka: ${message}`);
    else if (level === logLevel.WARN) log.debug({ kafka: rest }, `kafka: ${message}`);
  };
}

export function kafkaClient(s: KafkaSettings, env: NodeJS.ProcessEnv, log: Logger, onToken?: (i: { expiresInMs: number }) => void): Kafka {
  let sasl: SASLOptions | undefined;
  if (s.sasl) reconnectInsteadOfReauthenticating();
  if (s.sasl?.mechanism === 'scram-sha-512') {
    const password = s.sasl.password ?? env.VOXNET_KAFKA_PASSWORD;
    if (!password) throw new Error('kafka.sasl: scram-sha-512 needs a password (kafka.sasl.password or VOXNET_KAFKA_PASSWORD)');
    sasl = { mechanism: 'scram-sha-512', username: s.sasl.username, password };
  } else if (s.sasl?.mechanism === 'oauthbearer') {
    const secret = s.sasl.client_secret ?? env.VOXNET_KAFKA_CLIENT_SECRET;
    if (!secret) throw new Error('kafka.sasl: oauthbearer needs a client secret (kafka.sasl.client_secret or VOXNET_KAFKA_CLIENT_SECRET)');
    const provider = oauthTokenProvider({ tokenUrl: s.sasl.token_url, clientId: s.sasl.client_id, clientSecret: secret, scope: s.sasl.scope, onToken });
    sasl = { mechanism: 'oauthbearer', oauthBearerProvider: provider };
    reconnectInsteadOfReauthenticating();
  }
  const tls = s.tls === true ? true : s.tls ? { ca: s.tls.ca?.map((f) => readFileSync(f, 'utf8')), servername: s.tls.servername } : undefined;
  const cfg: KafkaConfig = {
    clientId: s.client_id ?? 'voxnet-gateway',
    brokers: s.brokers,
    ssl: tls,
    sasl,
    connectionTimeout: 10_000,
    authenticationTimeout: 15_000,
    reauthenticationThreshold: s.reauthentication_threshold_ms ?? 10_000,
    // The gateway keeps retrying on its own (relay()): kafkajs' own retries stay short.
    retry: { initialRetryTime: 300, maxRetryTime: 10_000, retries: 10 },
    logCreator: logCreator(log),
  };
  return new Kafka(cfg);
}
