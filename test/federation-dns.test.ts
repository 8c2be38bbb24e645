/** The test DNS server of federated servers (broker-component/servers/dns.ts), checked with Node's own resolver. */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { Resolver } from 'node:dns/promises';
import { startDns, answer, type DnsServer } from '../broker-component/servers/dns.ts';

const RECORDS = { a: { 'svom.fr': '127.0.0.2', 'pubsub.svom.fr': '127.0.0.2' }, s2s: { 'svom.fr': 15269 } };

describe('test DNS server', () => {
  let byName: DnsServer, byAddress: DnsServer;
  const resolver = (d: DnsServer) => {
    const r = new Resolver({ timeout: 2000, tries: 1 });
    r.setServers([`${d.address}:${d.port}`]);
    return r;
  };
  beforeAll(async () => {
    byName = await startDns(RECORDS);
    byAddress = await startDns({ ...RECORDS, srvTargetsAsAddresses: true });
  });
  afterAll(async () => {
    await byName.stop();
    await byAddress.stop();
  });

  it('answers A records of the domains it holds, and NXDOMAIN for others', async () => {
    expect(await resolver(byName).resolve4('pubsub.svom.fr')).toEqual(['127.0.0.2']);
    await expect(resolver(byName).resolve4('svom.cn')).rejects.toMatchObject({ code: 'ENOTFOUND' });
  });

  it('answers the s2s SRV record with the domain, or its address, as target', async () => {
    expect(await resolver(byName).resolveSrv('_xmpp-server._tcp.svom.fr')).toEqual([{ name: 'svom.fr', port: 15269, priority: 0, weight: 0 }]);
    expect(await resolver(byAddress).resolveSrv('_xmpp-server._tcp.svom.fr')).toEqual([{ name: '127.0.0.2', port: 15269, priority: 0, weight: 0 }]);
    await expect(resolver(byName).resolveSrv('_xmpps-server._tcp.svom.fr')).rejects.toMatchObject({ code: 'ENOTFOUND' });
  });

  it('says NOERROR with no answer for a known name without such a record (AAAA)', async () => {
    await expect(resolver(byName).resolve6('svom.fr')).rejects.toMatchObject({ code: 'ENODATA' });
  });

  it('refuses malformed queries without crashing', () => {
    expect(answer(Buffer.alloc(4), RECORDS)).toBeUndefined(); // shorter than a header: ignored
    const bad = Buffer.alloc(14);
    bad.writeUInt16BE(7, 0);
    bad.writeUInt16BE(1, 4); // one question…
    bad[12] = 63; // …whose first label runs past the end
    const r = answer(bad, RECORDS)!;
    expect(r.readUInt16BE(0)).toBe(7);
    expect(r[3]! & 0x0f).toBe(1); // FORMERR
  });
});
