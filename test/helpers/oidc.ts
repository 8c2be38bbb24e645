/**
 * A local OIDC token endpoint for tests: OAuth 2.0 client credentials
 * (`POST /oauth2/token`, HTTP Basic or form client_id/client_secret) issuing
 * short-lived RS256 JWTs, and the JWKS Kafka's OAuthBearerValidatorCallbackHandler
 * checks them against (`GET /.well-known/jwks.json`). Counts the tokens it issued.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKeyPairSync, sign, randomUUID } from 'node:crypto';

export type Oidc = {
  tokenUrl: string;
  jwksUrl: string;
  issuer: string;
  audience: string;
  /** Tokens issued so far. */
  issued: () => number;
  stop(): Promise<void>;
};

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

export async function startOidc(opts: { clients: Record<string, string>; lifetimeS: number; audience?: string }): Promise<Oidc> {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = randomUUID();
  const jwk = { ...(publicKey.export({ format: 'jwk' }) as object), kid, alg: 'RS256', use: 'sig' };
  const audience = opts.audience ?? 'kafka';
  let issued = 0;
  let issuer = '';
  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/.well-known/jwks.json') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
      return;
    }
    if (req.method !== 'POST' || req.url !== '/oauth2/token') {
      res.writeHead(404).end();
      return;
    }
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (body += d));
    req.on('end', () => {
      const form = new URLSearchParams(body);
      let id = form.get('client_id') ?? '';
      let secret = form.get('client_secret') ?? '';
      const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '');
      if (basic) {
        const [u, p] = Buffer.from(basic[1]!, 'base64').toString('utf8').split(':');
        id = decodeURIComponent(u ?? '');
        secret = decodeURIComponent(p ?? '');
      }
      if (form.get('grant_type') !== 'client_credentials' || opts.clients[id] === undefined || opts.clients[id] !== secret) {
        res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'invalid_client' }));
        return;
      }
      const now = Math.floor(Date.now() / 1000);
      const header = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid }));
      const claims = b64url(JSON.stringify({ iss: issuer, aud: audience, sub: id, iat: now, nbf: now, exp: now + opts.lifetimeS, scope: form.get('scope') ?? 'kafka' }));
      const sig = sign('sha256', Buffer.from(`${header}.${claims}`), privateKey);
      issued++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({ access_token: `${header}.${claims}.${b64url(sig)}`, token_type: 'Bearer', expires_in: opts.lifetimeS }),
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  issuer = base;
  return {
    tokenUrl: `${base}/oauth2/token`,
    jwksUrl: `${base}/.well-known/jwks.json`,
    issuer,
    audience,
    issued: () => issued,
    stop: () => new Promise((r) => server.close(() => r())),
  };
}
