/** Certificates for the local XMPP servers (Prosody and ejabberd alike): self-signed, or signed by a test CA. */
import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * dir/host.crt and dir/host.key for `host` and its subdomains, made with openssl
 * unless already there: self-signed, or signed by `ca` (see makeCa).
 */
export function makeCert(dir: string, host: string, ca?: { cert: string; key: string }): { cert: string; key: string } {
  const cert = join(dir, `${host}.crt`);
  const key = join(dir, `${host}.key`);
  if (existsSync(cert)) return { cert, key };
  const san = `subjectAltName=DNS:${host},DNS:*.${host}`;
  if (!ca) {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '30',
      '-subj', `/CN=${host}`, '-addext', san,
      '-keyout', key, '-out', cert,
    ], { stdio: 'ignore' });
    return { cert, key };
  }
  const csr = join(dir, `${host}.csr`);
  const ext = join(dir, `${host}.ext`);
  // XMPP certificates name the domain as a dNSName (RFC 6120 §13.7.1.2); servers check it on s2s.
  writeFileSync(ext, `${san}\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n`);
  execFileSync('openssl', ['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${host}`, '-keyout', key, '-out', csr], { stdio: 'ignore' });
  execFileSync('openssl', [
    'x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-days', '30', '-extfile', ext, '-out', cert,
  ], { stdio: 'ignore' });
  return { cert, key };
}

/** A certificate authority for tests (dir/ca.crt, dir/ca.key) unless already there. */
export function makeCa(dir: string, name = 'VOXnet test CA'): { cert: string; key: string } {
  const cert = join(dir, 'ca.crt');
  const key = join(dir, 'ca.key');
  if (!existsSync(cert)) {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '30', '-subj', `/CN=${name}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
      '-keyout', key, '-out', cert,
    ], { stdio: 'ignore' });
  }
  return { cert, key };
}
