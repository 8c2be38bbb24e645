/**
 * What tests, benchmarks and the quick start need from a local XMPP server,
 * whichever one runs (Prosody or ejabberd): where to connect, which
 * certificates to trust, how to create accounts and how to stop it.
 */

export type ServerKind = 'prosody' | 'ejabberd';

/** Options every server helper understands. */
export type XmppServerOptions = {
  /** Virtual hosts; the first is the main one. Default svom.fr and svom.cn. */
  hosts?: string[];
  /** External components (XEP-0114) to register, with their secrets. */
  components?: { domain: string; secret: string }[];
  /** Domains of the server's own pubsub service (reference for benchmarks). */
  internalPubsub?: string[];
  /** Directory to run in; a fresh temporary directory when absent (removed by stop()). */
  dir?: string;
  /**
   * An XEP-0033 multicast service on `domain` that only `trusted` senders may
   * use (domains, or bare JIDs). Prosody: our mod_voxnet_multicast;
   * ejabberd: its mod_multicast with an access rule and raised limits, on
   * `domain` and, like ejabberd's default, on multicast.<host> of every other
   * virtual host.
   */
  multicast?: { domain: string; trusted: string[] };
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /** Fixed ports (e.g. the quick start); free ones when absent. */
  c2sPort?: number;
  componentPort?: number;
};

export type XmppServer = {
  dir: string;
  hosts: string[];
  c2sPort: number;
  componentPort: number;
  /** xmpp:// URL of the client port */
  c2sUrl: string;
  /** xmpp:// URL of the component port */
  componentUrl: string;
  /** PEM files of the self-signed certificates, for clients to trust. */
  certFiles: string[];
  /**
   * Create (or reset the password of) an account. Prosody does it
   * synchronously; ejabberd returns a promise: always `await` it.
   */
  addUser(user: string, host: string, password: string): void | Promise<void>;
  stop(): Promise<void>;
  restart(): Promise<void>;
  /** SIGKILL the server (a crash: nothing flushed, no goodbye to anyone); restart() brings it back. */
  kill(): Promise<void>;
  logFile: string;
};
