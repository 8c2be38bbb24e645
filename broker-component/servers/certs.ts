/** Self-signed certificates for the local XMPP servers (Prosody and ejabberd alike). */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** dir/host.crt and dir/host.key for `host` and its subdomains, made with openssl unless already there. */
export function makeCert(dir: string, host: string): { cert: string; key: string } {
  const cert = join(dir, `${host}.crt`);
  const key = join(dir, `${host}.key`);
  if (!existsSync(cert)) {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '30',
      '-subj', `/CN=${host}`, '-addext', `subjectAltName=DNS:${host},DNS:*.${host}`,
      '-keyout', key, '-out', cert,
    ], { stdio: 'ignore' });
  }
  return { cert, key };
}
