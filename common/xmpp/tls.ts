/**
 * TLS trust for xmpp.js connections.
 *
 * xmpp.js upgrades STARTTLS sockets with `tls.connect({ socket, host })` and offers
 * no way to pass a CA. Deployments with a private CA (and our local networks with
 * self-signed certificates) need one, so this adds extra trusted certificates to
 * every TLS connection xmpp.js opens in this process. Public CAs stay trusted.
 */
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import Socket from '@xmpp/tls/lib/Socket.js';

const extra = new Set<string>();
let patched = false;

export function trustCertificates(pemFilesOrText: string[]): void {
  for (const p of pemFilesOrText) extra.add(p.includes('-----BEGIN') ? p : readFileSync(p, 'utf8'));
  if (patched) return;
  patched = true;
  const proto = (Socket as unknown as { prototype: { connect: (this: unknown, options: tls.ConnectionOptions, ...rest: unknown[]) => void } }).prototype;
  const original = proto.connect;
  proto.connect = function (this: unknown, options: tls.ConnectionOptions, ...rest: unknown[]) {
    const ca = [...tls.rootCertificates, ...extra];
    return original.call(this, { ...options, ca, servername: options.servername ?? options.host }, ...rest);
  };
}
