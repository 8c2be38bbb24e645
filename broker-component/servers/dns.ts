/**
 * A tiny authoritative DNS server on loopback for federated test servers: A
 * records of the test domains (and SRV records for s2s when a port is given),
 * nothing else. Erlang's resolver, which ejabberd's s2s uses, reads no hosts
 * file (inet_res asks DNS only), so ejabberd is pointed at this server through
 * ERL_INETRC. Prosody resolves through libunbound's hosts file instead.
 *
 * Queries are parsed defensively (bounded names, no compression pointers in
 * questions); anything not understood gets FORMERR, unknown names NXDOMAIN.
 */
import { createSocket, type Socket } from 'node:dgram';

export type DnsRecords = {
  /** domain -> IPv4 address */
  a: Record<string, string>;
  /** domain -> port of its s2s listener: an `_xmpp-server._tcp` SRV record. */
  s2s?: Record<string, number>;
  /**
   * SRV targets written as the domain's address ("127.0.0.3") instead of its
   * name. ejabberd resolves SRV targets with the system's getaddrinfo, which
   * never asks this server (it reads /etc/hosts); an address needs no lookup.
   * libunbound (Prosody) does not treat such a name as an address: it needs names.
   */
  srvTargetsAsAddresses?: boolean;
};

export type DnsServer = { address: string; port: number; set(records: DnsRecords): void; stop(): Promise<void> };

const TYPE_A = 1;
const TYPE_SRV = 33;

function encodeName(name: string): Buffer {
  const parts = name.split('.').filter(Boolean).map((l) => {
    const b = Buffer.from(l, 'ascii');
    return Buffer.concat([Buffer.from([b.length]), b]);
  });
  return Buffer.concat([...parts, Buffer.from([0])]);
}

/** The question's name, type and end offset, or undefined if malformed. */
function readQuestion(msg: Buffer): { name: string; type: number; end: number } | undefined {
  let off = 12;
  const labels: string[] = [];
  for (;;) {
    if (off >= msg.length) return undefined;
    const len = msg[off++];
    if (len === 0) break;
    if (len > 63 || off + len > msg.length || labels.length > 32) return undefined;
    labels.push(msg.toString('ascii', off, off + len));
    off += len;
  }
  if (off + 4 > msg.length) return undefined;
  return { name: labels.join('.').toLowerCase(), type: msg.readUInt16BE(off), end: off + 4 };
}

function rr(name: string, type: number, data: Buffer): Buffer {
  const head = Buffer.alloc(10);
  head.writeUInt16BE(type, 0);
  head.writeUInt16BE(1, 2); // IN
  head.writeUInt32BE(5, 4); // TTL: tests change records
  head.writeUInt16BE(data.length, 8);
  return Buffer.concat([encodeName(name), head, data]);
}

export function answer(msg: Buffer, records: DnsRecords): Buffer | undefined {
  if (msg.length < 12 || msg.length > 512) return undefined;
  const id = msg.readUInt16BE(0);
  const rd = msg[2] & 1;
  const q = msg.readUInt16BE(4) === 1 ? readQuestion(msg) : undefined;
  const header = (rcode: number, ancount: number) => {
    const h = Buffer.alloc(12);
    h.writeUInt16BE(id, 0);
    h[2] = 0x84 | rd; // QR, AA
    h[3] = 0x80 | rcode; // RA
    h.writeUInt16BE(q ? 1 : 0, 4);
    h.writeUInt16BE(ancount, 6);
    return h;
  };
  if (!q) return header(1, 0); // FORMERR
  const question = msg.subarray(12, q.end);
  const answers: Buffer[] = [];
  const srv = /^_xmpp-server\._tcp\.(.+)$/.exec(q.name);
  const literal = /^\d{1,3}(\.\d{1,3}){3}$/.test(q.name) ? q.name : undefined;
  const address = records.a[q.name] ?? literal;
  if (q.type === TYPE_A && address) {
    answers.push(rr(q.name, TYPE_A, Buffer.from(address.split('.').map(Number))));
  } else if (q.type === TYPE_SRV && srv && records.s2s?.[srv[1]]) {
    const data = Buffer.alloc(6);
    data.writeUInt16BE(0, 0); // priority
    data.writeUInt16BE(0, 2); // weight
    data.writeUInt16BE(records.s2s[srv[1]], 4);
    answers.push(rr(q.name, TYPE_SRV, Buffer.concat([data, encodeName((records.srvTargetsAsAddresses && records.a[srv[1]]) || srv[1])])));
  }
  // A known name without a record of the asked type (AAAA) exists: NOERROR. Anything else (e.g. the
  // direct-TLS `_xmpps-server` SRV) is NXDOMAIN, which libunbound handles better than an empty NOERROR.
  const known = !!address;
  return Buffer.concat([header(answers.length || known ? 0 : 3, answers.length), question, ...answers]);
}

/** Serve `records` over UDP on address:port (a free port when 0). */
export function startDns(records: DnsRecords, address = '127.0.0.1', port = 0): Promise<DnsServer> {
  let current = records;
  const sock: Socket = createSocket('udp4');
  sock.on('message', (msg, rinfo) => {
    const out = answer(msg, current);
    if (out) sock.send(out, rinfo.port, rinfo.address);
  });
  return new Promise((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(port, address, () => {
      sock.off('error', reject);
      sock.on('error', () => {});
      sock.unref();
      resolve({
        address,
        port: sock.address().port,
        set: (r) => void (current = r),
        stop: () => new Promise<void>((res) => sock.close(() => res())),
      });
    });
  });
}
