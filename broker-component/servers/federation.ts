/**
 * Two (or more) real XMPP servers federating over s2s on this machine, each
 * serving one domain from a loopback address of its own (127.0.0.2,
 * 127.0.0.3, ...): e.g. Prosody for svom.fr and ejabberd for svom.cn, as in
 * SvomNet's French and Chinese halves. Nothing in /etc is touched:
 *
 * - names: a small DNS server (dns.ts) holds A and `_xmpp-server._tcp` SRV
 *   records of every side's domain and subdomains; Prosody reaches it through
 *   libunbound's `forward`, ejabberd through ERL_INETRC;
 * - s2s: TLS required; with `auth: 'certificate'` (the default) one test CA
 *   signs every side's certificates and each server trusts it (SASL EXTERNAL);
 *   with `auth: 'dialback'` certificates are self-signed and dialback decides
 *   (untested: ejabberd 23.01 rejects Prosody's self-signed certificate here);
 * - partitions: peers reach each server's s2s listener through a relay
 *   (s2s-proxy.ts) that cut() closes, while both servers keep serving their
 *   own users.
 */
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeCa } from './certs.ts';
import { startDns, type DnsServer } from './dns.ts';
import { startProsody } from './prosody.ts';
import { startEjabberd, type EjabberdOptions } from './ejabberd.ts';
import { freePort } from './net.ts';
import { startS2sProxy, type S2sProxy } from './s2s-proxy.ts';
import type { ServerKind, XmppServer, XmppServerOptions } from './types.ts';

export type FederatedSideOptions = Omit<XmppServerOptions, 'hosts' | 'federation' | 'dir'> & {
  kind: ServerKind;
  /** The side's domain (its only virtual host). */
  domain: string;
  /** Loopback address of its s2s listener. */
  address: string;
  /** ejabberd only: extra top-level configuration. */
  ejabberdExtra?: EjabberdOptions['extra'];
  /** Prosody only: extra global configuration lines. */
  prosodyExtra?: string;
};

export type FederatedSide = {
  domain: string;
  kind: ServerKind;
  server: XmppServer;
  /** The relay peers reach this side's s2s listener through. */
  relay: S2sProxy;
};

export type Federation = {
  sides: FederatedSide[];
  side(domain: string): FederatedSide;
  /** Cut every s2s link between the sides (each keeps serving its own users) until heal(). */
  cut(): void;
  heal(): void;
  /** Every certificate a client of any side must trust. */
  certFiles: string[];
  dir: string;
  stop(): Promise<void>;
};

/** Default addresses of the two SvomNet halves. */
export const FR = { domain: 'svom.fr', address: '127.0.0.2' } as const;
export const CN = { domain: 'svom.cn', address: '127.0.0.3' } as const;

export async function startFederation(o: { sides: FederatedSideOptions[]; auth?: 'certificate' | 'dialback'; dir?: string }): Promise<Federation> {
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), 'voxnet-federation-'));
  mkdirSync(dir, { recursive: true });
  const ca = (o.auth ?? 'certificate') === 'certificate' ? makeCa(dir) : undefined;
  const a: Record<string, string> = {};
  const s2s: Record<string, number> = {};
  const plan = await Promise.all(
    o.sides.map(async (s) => ({ s, s2sPort: await freePort(s.address) })),
  );
  const started: FederatedSide[] = [];
  const dnsServers: DnsServer[] = [];
  try {
    // Relays first: their ports go into the SRV records.
    const relays = await Promise.all(plan.map(({ s, s2sPort }) => startS2sProxy(s.address, { host: s.address, port: s2sPort })));
    plan.forEach(({ s }, i) => {
      const names = [s.domain, ...(s.components ?? []).map((c) => c.domain), ...(s.internalPubsub ?? []), ...(s.multicast ? [s.multicast.domain] : [])];
      // Subdomains (components, services) are reached over the same s2s listener.
      for (const n of names) {
        a[n] = s.address;
        s2s[n] = relays[i].port;
      }
    });
    // Two views of the same records: ejabberd needs SRV targets written as addresses, libunbound names (see dns.ts).
    const byName = await startDns({ a, s2s });
    const byAddress = await startDns({ a, s2s, srvTargetsAsAddresses: true });
    dnsServers.push(byName, byAddress);
    for (const [i, { s, s2sPort }] of plan.entries()) {
      const { kind, domain, address, ejabberdExtra, prosodyExtra, ...common } = s;
      const dns = kind === 'ejabberd' ? byAddress : byName;
      const federation = { address, s2sPort, dns: { address: dns.address, port: dns.port }, ca };
      const sideDir = join(dir, domain);
      const server =
        kind === 'ejabberd'
          ? await startEjabberd({ ...common, hosts: [domain], federation, dir: sideDir, extra: ejabberdExtra })
          : await startProsody({ ...common, hosts: [domain], federation, dir: sideDir, extra: prosodyExtra });
      started.push({ domain, kind, server, relay: relays[i] });
    }
  } catch (e) {
    await Promise.all(started.map((s) => s.server.stop().catch(() => {})));
    await Promise.all(dnsServers.map((d) => d.stop()));
    throw e;
  }
  const side = (domain: string) => {
    const s = started.find((x) => x.domain === domain);
    if (!s) throw new Error(`no federated side for ${domain}`);
    return s;
  };
  return {
    sides: started,
    side,
    cut: () => started.forEach((s) => s.relay.cut()),
    heal: () => started.forEach((s) => s.relay.heal()),
    certFiles: [...new Set(started.flatMap((s) => s.server.certFiles))],
    dir,
    async stop() {
      await Promise.all(started.map((s) => s.server.stop().catch(() => {})));
      await Promise.all(started.map((s) => s.relay.stop()));
      await Promise.all(dnsServers.map((d) => d.stop()));
      if (!o.dir && !process.env.VOXNET_KEEP_TMP) rmSync(dir, { recursive: true, force: true });
    },
  };
}
