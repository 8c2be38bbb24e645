/**
 * `voxnet web`: serves the page (built with esbuild at start) and a
 * config.json telling it where the XMPP WebSocket and the pubsub service are.
 * Static files only, from a fixed list: no state, no alerts, no credentials.
 */
import { createServer, type Server } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { buildWeb, WEB_DIST } from './build.ts';

export type WebOptions = {
  /** ws:// or wss:// URL of the XMPP server's WebSocket endpoint (RFC 7395). */
  websocket: string;
  /** The pubsub service's JID, e.g. pubsub.svom.fr. */
  pubsub: string;
  title?: string;
  host?: string;
  /** 0 = a free port. */
  port?: number;
  /** Where the built page goes (default web/dist). */
  outDir?: string;
};

export type WebServer = { url: string; port: number; server: Server; stop(): Promise<void> };

const TYPES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'app.js.map': 'application/json; charset=utf-8',
};

export async function startWeb(opts: WebOptions): Promise<WebServer> {
  if (!/^wss?:\/\//.test(opts.websocket)) throw new Error(`--websocket must be a ws:// or wss:// URL, got '${opts.websocket}'`);
  if (!opts.pubsub) throw new Error('--pubsub (the pubsub service JID) is required');
  const dir = await buildWeb(opts.outDir ?? WEB_DIST);
  const files = new Map(Object.keys(TYPES).map((f) => [f, readFileSync(join(dir, f))]));
  const config = Buffer.from(JSON.stringify({ websocket: opts.websocket, pubsub: opts.pubsub, ...(opts.title ? { title: opts.title } : {}) }));
  const wsOrigin = new URL(opts.websocket).origin.replace(/^http/, 'ws');
  const headers = {
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'x-frame-options': 'DENY',
    // the page talks only to its own origin, the XMPP WebSocket, and sky-map URLs of alerts (https)
    'content-security-policy': `default-src 'self'; connect-src 'self' ${wsOrigin} https: http:; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'`,
  };
  const server = createServer((req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', ...headers }).end();
      return;
    }
    const path = new URL(req.url ?? '/', 'http://x').pathname.replace(/^\/+/, '') || 'index.html';
    const body = path === 'config.json' ? config : files.get(path);
    if (!body) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', ...headers }).end('not found\n');
      return;
    }
    const type = path === 'config.json' ? 'application/json; charset=utf-8' : TYPES[path]!;
    res.writeHead(200, { 'content-type': type, 'content-length': body.length, 'cache-control': 'no-cache', ...headers });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.listen(opts.port ?? 0, host, () => res());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}/`,
    port,
    server,
    stop: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}
