/** One entry point for the local XMPP servers used by tests, benchmarks and the quick start. */
import { existsSync } from 'node:fs';
import { startProsody } from './prosody.ts';
import { startEjabberd, ejabberdAvailable } from './ejabberd.ts';
import type { ServerKind, XmppServer, XmppServerOptions } from './types.ts';

export type { ServerKind, XmppServer, XmppServerOptions } from './types.ts';
export { startProsody, type ProsodyOptions, type ProsodyServer } from './prosody.ts';
export { startEjabberd, ejabberdAvailable, findEjabberd, type EjabberdOptions, type EjabberdServer } from './ejabberd.ts';

/** Start a Prosody or an ejabberd with the same options and get the same handle back. */
export function startServer(kind: ServerKind, opts: XmppServerOptions = {}): Promise<XmppServer> {
  switch (kind) {
    case 'prosody':
      return startProsody(opts);
    case 'ejabberd':
      return startEjabberd(opts);
    default:
      throw new Error(`unknown XMPP server kind: ${String(kind satisfies never)}`);
  }
}

/** Whether a server of this kind can be started on this machine. */
export function serverAvailable(kind: ServerKind): boolean {
  if (kind === 'ejabberd') return ejabberdAvailable();
  return ['/usr/bin/prosody', '/usr/local/bin/prosody'].some((p) => existsSync(p));
}

/**
 * Where a given component should connect. Prosody takes every component on one
 * port; ejabberd needs one listener per component (see ejabberd.ts).
 */
export function componentUrlFor(server: XmppServer, domain: string): string {
  const urls = (server as { componentUrls?: Record<string, string> }).componentUrls;
  return urls?.[domain] ?? server.componentUrl;
}
export { startFederation, FR, CN, type Federation, type FederatedSide, type FederatedSideOptions } from './federation.ts';
