/**
 * The HTTP endpoint of a long-running process: `GET /metrics` (Prometheus text format,
 * from a prom-client registry) and `GET /healthz` (200 `ok`, or 503 with the reason).
 * Anything else is 404; only GET and HEAD are answered.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export type Health = { ok: true } | { ok: false; reason: string };

export type MetricsServerOptions = {
  port: number;
  /** Default 127.0.0.1: metrics tell a lot about a deployment; expose them on purpose. */
  host?: string;
  registry: Registry;
  health: () => Health | Promise<Health>;
};

export type MetricsServer = { url: string; port: number; close(): Promise<void> };

export async function serveMetrics(opts: MetricsServerOptions): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    const reply = (status: number, type: string, body: string) => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (path === '/metrics') {
      opts.registry.metrics().then(
        (text) => reply(200, opts.registry.contentType, text),
        (err: Error) => reply(500, 'text/plain; charset=utf-8', `metrics failed: ${err.message}\n`),
      );
    } else if (path === '/healthz') {
      Promise.resolve()
        .then(opts.health)
        .then(
          (h) => (h.ok ? reply(200, 'text/plain; charset=utf-8', 'ok\n') : reply(503, 'text/plain; charset=utf-8', `${h.reason}\n`)),
          (err: Error) => reply(503, 'text/plain; charset=utf-8', `health check failed: ${err.message}\n`),
        );
    } else reply(404, 'text/plain; charset=utf-8', 'not found: try /metrics or /healthz\n');
  });
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.unref();
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    close: () => new Promise((r) => server.close(() => r())),
  };
}
