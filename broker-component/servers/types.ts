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
  multicast?: {
    domain: string;
    trusted: string[];
    /** Most addresses accepted in one stanza (ejabberd: from its own users and components); default 10000. */
    maxAddresses?: number;
    /** ejabberd only: most addresses from senders of other servers (ejabberd's own default is 20, unannounced: 'default'); maxAddresses when absent. */
    remoteMaxAddresses?: number | 'default';
  };
  /**
   * Federate with other servers over s2s (TLS, then certificate or dialback
   * authentication). See federation.ts, which starts such pairs for tests.
   */
  federation?: FederationOptions;
  /**
   * A XEP-0045 multi-user chat service on `domain` whose rooms accounts of the
   * server's hosts may create. Prosody: its MUC component with our
   * mod_voxnet_muc_domains (whole-domain members); ejabberd: mod_muc (which
   * honours domain affiliations itself).
   */
  muc?: { domain: string };
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /** Fixed ports (e.g. the quick start); free ones when absent. */
  c2sPort?: number;
  componentPort?: number;
  /**
   * Serve XMPP over WebSocket (RFC 7395) for browsers, on loopback, as
   * `wsUrl` (Prosody: mod_websocket on its own HTTP port, `true` = a free one;
   * ejabberd: ejabberd_http_ws on its HTTP listener).
   */
  websocket?: boolean | { port?: number };
};

/** How a server meets its peers over s2s without touching /etc or a DNS server. */
export type FederationOptions = {
  /** A loopback address of its own (127.0.0.2, ...) for the s2s listener. */
  address: string;
  /** Port of the s2s listener; 5269 (what peers reach for a domain without SRV record) when absent. */
  s2sPort?: number;
  /**
   * The DNS server through which this server finds its peers (A records and
   * `_xmpp-server._tcp` SRV records; see dns.ts).
   */
  dns: { address: string; port: number };
  /**
   * A CA (PEM, with its key) that signs this server's certificates, and which it
   * trusts for its peers': certificate authentication (SASL EXTERNAL) between them.
   * Without it, certificates are self-signed and peers authenticate by dialback.
   */
  ca?: { cert: string; key: string };
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
  /** ws:// URL of the XMPP-over-WebSocket endpoint, when asked for with `websocket`. */
  wsUrl?: string;
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
