/**
 * A TCP relay in front of a server's s2s listener, so that a test can cut the
 * link between two federated servers (and heal it) while both keep serving
 * their own users: cut() drops every relayed connection and refuses new ones.
 * Peers reach the relay through the SRV record of the server's domain.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

export type S2sProxy = {
  address: string;
  port: number;
  /** Drop every connection and refuse new ones until heal(). */
  cut(): void;
  heal(): void;
  readonly isCut: boolean;
  stop(): Promise<void>;
};

export function startS2sProxy(address: string, target: { host: string; port: number }): Promise<S2sProxy> {
  const live = new Set<Socket>();
  let cut = false;
  const server: Server = createServer((inbound) => {
    if (cut) return void inbound.destroy();
    const outbound = connect(target.port, target.host);
    for (const s of [inbound, outbound]) {
      live.add(s);
      s.setNoDelay(true);
      s.on('error', () => {});
      s.on('close', () => {
        live.delete(s);
        inbound.destroy();
        outbound.destroy();
      });
    }
    inbound.pipe(outbound);
    outbound.pipe(inbound);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, address, () => {
      const addr = server.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      resolve({
        address,
        port,
        cut() {
          cut = true;
          for (const s of live) s.destroy();
        },
        heal() {
          cut = false;
        },
        get isCut() {
          return cut;
        },
        stop: () =>
          new Promise<void>((res) => {
            for (const s of live) s.destroy();
            server.close(() => res());
          }),
      });
    });
  });
}
