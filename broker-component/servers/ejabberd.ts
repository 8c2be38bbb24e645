/**
 * Start a real ejabberd (the Debian package) on loopback for tests and
 * benchmarks, the same way prosody.ts starts Prosody: generated ejabberd.yml,
 * self-signed certificates, a private Mnesia spool, free ports, several
 * virtual hosts and external components registered with their secrets.
 *
 * ejabberd runs as the current user (root is fine) straight from `erl`, not
 * through ejabberdctl (which switches to the `ejabberd` system user and needs
 * an Erlang distribution node). The VM is started without distribution
 * (node nonode@nohost), so no epmd daemon is left behind and any number of
 * instances can run side by side: each has its own config, spool and ports.
 *
 * Components: ejabberd's ejabberd_service listener routes *every* domain in
 * its `hosts` option to whichever component authenticates on it (and lets it
 * send from any of them), so two components sharing one listener could read
 * and forge each other's traffic. Each component therefore gets a listener of
 * its own: `componentUrls[domain]` (or componentUrlFor() in index.ts);
 * `componentUrl` is the first component's.
 *
 * Accounts are created over ejabberd's ReST API (mod_http_api) on a loopback
 * HTTP port that only accepts 127.0.0.0/8, a few milliseconds each and
 * concurrently for bulk creation (ejabberdctl takes about a second per call).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, existsSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { makeCert } from './certs.ts';
import { freePort, killNow, waitForPort } from './net.ts';
import type { FederationOptions, XmppServer, XmppServerOptions } from './types.ts';

export type EjabberdOptions = XmppServerOptions & {
  multicast?: {
    domain: string;
    trusted: string[];
    /** Addresses per stanza for local and remote senders (mod_multicast limits). Default 10000. */
    maxAddresses?: number;
    /** Addresses per stanza for senders of other servers (ejabberd's own default: 20, unannounced: 'default'); maxAddresses when absent. */
    remoteMaxAddresses?: number | 'default';
    /**
     * The XEP-0033 service: ejabberd's mod_multicast (default) or VOXnet's
     * mod_voxnet_fanout (config/ejabberd-modules/, built here with erlc), which
     * encodes each notification once (docs/ejabberd-fanout.md).
     */
    module?: 'mod_multicast' | 'mod_voxnet_fanout';
  };
  /** Port of the loopback ReST API (mod_http_api); a free one when absent. */
  httpPort?: number;
  /** Extra top-level configuration merged into ejabberd.yml (replaces keys it names). */
  extra?: Record<string, unknown>;
  /** More modules on every virtual host (e.g. mod_offline, mod_stream_mgmt), with their options. */
  modules?: Record<string, unknown>;
  /** Items kept per node by the internal pubsub service. Default 100000. */
  pubsubMaxItems?: number;
  /**
   * Start the VM as a distributed Erlang node (a cluster member, see
   * ejabberd-cluster.ts): its long node name, the cluster's cookie, and the port of
   * the epmd it registers with (the cluster's own, not the system's 4369).
   */
  distribution?: { node: string; cookie: string; epmdPort: number };
};

/** Distribution buffer busy limit of cluster nodes (KB): see the launch below. */
export const DIST_BUFFER_KB = 262_144;

export type EjabberdUser = { user: string; host: string; password: string };

export type EjabberdServer = Omit<XmppServer, 'addUser'> & {
  httpPort: number;
  /** Base URL of the ReST API, e.g. http://127.0.0.1:PORT/api */
  apiUrl: string;
  /** Call an ejabberd API command (https://docs.ejabberd.im/developer/ejabberd-api/admin-api/). */
  api(command: string, args?: Record<string, unknown>): Promise<unknown>;
  addUser(user: string, host: string, password: string): Promise<void>;
  /** Create many accounts, `concurrency` requests at a time. */
  addUsers(users: EjabberdUser[], concurrency?: number): Promise<void>;
  /** The generated configuration file. */
  configFile: string;
  /** One listener per component (see above): domain -> port / xmpp:// URL. */
  componentPorts: Record<string, number>;
  componentUrls: Record<string, string>;
};

export class EjabberdApiError extends Error {
  constructor(
    readonly command: string,
    readonly status: number,
    readonly body: unknown,
  ) {
    super(`ejabberd API ${command} failed (${status}): ${typeof body === 'string' ? body : JSON.stringify(body)}`);
  }
}

type Installation = { erl: string; erlLibs: string; version: string };

let installation: Installation | null | undefined;

/**
 * Where the installed ejabberd lives: the `erl` binary and the ERL_LIBS
 * directory holding ejabberd-VERSION/ebin. Null when ejabberd is not installed.
 */
export function findEjabberd(): Installation | null {
  if (installation !== undefined) return installation;
  const erl = ['/usr/bin/erl', '/usr/local/bin/erl'].find((p) => existsSync(p));
  const candidates: string[] = [];
  for (const ctl of ['/usr/sbin/ejabberdctl', '/usr/local/sbin/ejabberdctl', '/opt/ejabberd/bin/ejabberdctl']) {
    try {
      const m = /ERL_LIBS=['"]?([^'"\s]+)/.exec(readFileSync(ctl, 'utf8'));
      if (m) candidates.push(m[1]);
    } catch {
      /* not there */
    }
  }
  candidates.push('/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib/erlang/lib', '/usr/local/lib/erlang/lib', '/usr/lib');
  installation = null;
  if (!erl) return installation;
  for (const dir of candidates) {
    let entries: string[];
    try {
      entries = readdirSync(dir);
    } catch {
      continue;
    }
    const app = entries.filter((e) => /^ejabberd-\d/.test(e)).find((e) => existsSync(join(dir, e, 'ebin', 'ejabberd.beam')));
    if (app) {
      installation = { erl, erlLibs: dir, version: app.slice('ejabberd-'.length) };
      break;
    }
  }
  return installation;
}

export function ejabberdAvailable(): boolean {
  return findEjabberd() !== null;
}

/** The virtual host a service domain belongs to: the one it is a subdomain of, else the main host. */
function parentHost(domain: string, hosts: string[]): string {
  return hosts.find((h) => domain === h || domain.endsWith('.' + h)) ?? hosts[0];
}

const LOG_LEVELS = { debug: 'debug', info: 'info', warn: 'warning', error: 'error' } as const;

/** ejabberd.yml for these options (exported for inspection and tests). */
export function ejabberdConfig(o: {
  hosts: string[];
  certFiles: string[];
  c2sPort: number;
  /** Listener port of each component, in the order of opts.components; `componentPort` when absent. */
  componentPorts?: number[];
  componentPort: number;
  httpPort: number;
  opts: EjabberdOptions;
}): Record<string, unknown> {
  const { hosts, opts } = o;
  const acl: Record<string, unknown> = { loopback: { ip: ['127.0.0.0/8', '::1/128'] } };
  const accessRules: Record<string, unknown> = {};
  const hostModules = new Map<string, Record<string, unknown>>();
  const addHostModule = (host: string, name: string, cfg: Record<string, unknown>) => {
    const mods = hostModules.get(host) ?? {};
    mods[name] = cfg;
    hostModules.set(host, mods);
  };

  // Internal pubsub services, each attached to the virtual host it is a subdomain of.
  const pubsubByHost = new Map<string, string[]>();
  for (const d of opts.internalPubsub ?? []) {
    const h = parentHost(d, hosts);
    pubsubByHost.set(h, [...(pubsubByHost.get(h) ?? []), d]);
  }
  for (const [h, domains] of pubsubByHost) {
    addHostModule(h, 'mod_pubsub', {
      hosts: domains,
      access_createnode: 'all',
      plugins: ['flat'],
      max_items_node: opts.pubsubMaxItems ?? 100_000,
      ignore_pep_from_offline: true,
      last_item_cache: false,
    });
  }

  if (opts.multicast) {
    const { domain, trusted } = opts.multicast;
    const max = opts.multicast.maxAddresses ?? 10_000;
    const remoteMax = opts.multicast.remoteMaxAddresses ?? max;
    const servers = trusted.filter((t) => !t.includes('@'));
    const users = trusted.filter((t) => t.includes('@'));
    const senders: Record<string, unknown> = {};
    if (servers.length) senders.server = servers;
    if (users.length) senders.user = users;
    let access = 'none';
    if (servers.length || users.length) {
      acl.voxnet_multicast_senders = senders;
      accessRules.voxnet_multicast = { allow: 'voxnet_multicast_senders' };
      access = 'voxnet_multicast';
    }
    // mod_multicast counts a sender whose domain is not a virtual host (our
    // component) as "remote" (default limit 20), a virtual host's user as "local"
    // (default 100): raise both. It also refuses to relay to other domains for a
    // sender outside the hosting virtual host's domain tree, so host the service
    // on the virtual host it is a subdomain of (voxnet.svom.fr may then reach
    // users on svom.cn through multicast.svom.fr).
    const main = parentHost(domain, hosts);
    // Like ejabberd's own default ("multicast.@HOST@"), every virtual host gets a
    // service of its own, each a process of its own: a sender that addresses each
    // domain's recipients to that domain's service fans out on several cores.
    for (const h of hosts) {
      if (opts.multicast.module === 'mod_voxnet_fanout') {
        addHostModule(h, 'mod_voxnet_fanout', { host: h === main ? domain : `multicast.${h}`, access, max_addresses: max });
        continue;
      }
      addHostModule(h, 'mod_multicast', {
        hosts: [h === main ? domain : `multicast.${h}`],
        access,
        limits: {
          local: { message: max, presence: max },
          // ejabberd announces configured limits in disco#info, not its defaults.
          ...(remoteMax === 'default' ? {} : { remote: { message: remoteMax, presence: remoteMax } }),
        },
      });
    }
  }

  if (opts.muc) {
    acl.voxnet_local = { user_regexp: '' };
    accessRules.voxnet_muc_create = { allow: 'voxnet_local' };
    addHostModule(parentHost(opts.muc.domain, hosts), 'mod_muc', {
      hosts: [opts.muc.domain],
      access_create: 'voxnet_muc_create',
      history_size: 20,
      default_room_options: { persistent: true, members_only: true, public: false },
    });
  }

  const baseModules: Record<string, unknown> = {
    mod_disco: {},
    mod_roster: {},
    mod_ping: {},
    mod_version: {},
    mod_http_api: {},
    mod_admin_extra: {}, // change_password, stats, ... for the API
    ...(opts.modules ?? {}),
  };

  // One ejabberd_service listener per component: a listener serves all its hosts to any of its connections.
  const comps = opts.components ?? [];
  const componentListeners = (comps.length ? comps : [undefined]).map((c, i) => ({
    port: c ? (o.componentPorts?.[i] ?? (i === 0 ? o.componentPort : NaN)) : o.componentPort,
    ip: '127.0.0.1',
    module: 'ejabberd_service',
    max_stanza_size: 524_288,
    hosts: c ? { [c.domain]: { password: c.secret } } : {},
  }));
  for (const l of componentListeners) if (!Number.isInteger(l.port)) throw new Error('ejabberdConfig: a port is needed for every component');

  const config: Record<string, unknown> = {
    hosts,
    loglevel: LOG_LEVELS[opts.logLevel ?? 'info'],
    log_rotate_count: 0,
    hide_sensitive_log_data: false,
    certfiles: o.certFiles,
    acme: { auto: false },
    auth_method: 'internal',
    // Plain storage: registering an account costs no SCRAM derivation, and tests log in with PLAIN anyway.
    auth_password_format: 'plain',
    s2s_access: 'none',
    listen: [
      {
        port: o.c2sPort,
        ip: '127.0.0.1',
        module: 'ejabberd_c2s',
        // ejabberd's default accept queue is 5 connections: clients of a node that went
        // down all come back at once (ejabberd-cluster.ts).
        backlog: 1024,
        max_stanza_size: 262_144,
        shaper: 'none',
        access: 'all',
        starttls: true,
      },
      ...componentListeners,
      {
        port: o.httpPort,
        ip: '127.0.0.1',
        module: 'ejabberd_http',
        request_handlers: { '/api': 'mod_http_api', ...(opts.websocket ? { '/xmpp-websocket': 'ejabberd_http_ws' } : {}) },
      },
    ],
    acl,
    access_rules: accessRules,
    api_permissions: {
      // Only loopback can reach the port; let it run any command without credentials.
      'voxnet loopback': { from: ['mod_http_api'], who: { ip: '127.0.0.0/8' }, what: '*' },
    },
    shaper_rules: { max_user_sessions: 'infinity' },
    modules: baseModules,
    // A host_config `modules` list replaces the global one for that host (it is
    // not merged), so repeat the global modules there.
    host_config: Object.fromEntries([...hostModules].map(([h, modules]) => [h, { modules: { ...baseModules, ...modules } }])),
    ...(opts.federation ? ejabberdFederation(opts.federation, baseModules) : {}),
    ...(opts.extra ?? {}),
  };
  if (opts.federation) {
    (config.listen as unknown[]).push({ port: opts.federation.s2sPort ?? 5269, ip: opts.federation.address, module: 'ejabberd_s2s_in', max_stanza_size: 524_288, shaper: 'none' });
  }
  return config;
}

/**
 * s2s with peers: encryption required; with a CA, peers' certificates are checked
 * against it (SASL EXTERNAL), else dialback (mod_s2s_dialback) authenticates them.
 * Peers' addresses come from the hosts file through ERL_INETRC (see startEjabberd).
 * Adds dialback to `baseModules` (shared by every host's module list).
 */
function ejabberdFederation(fed: FederationOptions, baseModules: Record<string, unknown>): Record<string, unknown> {
  baseModules.mod_s2s_dialback = {};
  return {
    s2s_access: 'all',
    s2s_use_starttls: 'required',
    // After a failed connection ejabberd bounces a domain's stanzas for up to this
    // long (300 s by default): a link that comes back is used within seconds.
    s2s_max_retry_delay: 2,
    ...(fed.ca ? { ca_file: fed.ca.cert } : {}),
  };
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook() {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // An Erlang VM outlives its parent; never leave one behind.
  process.once('exit', () => {
    for (const p of live) p.kill('SIGKILL');
  });
}

export async function startEjabberd(opts: EjabberdOptions = {}): Promise<EjabberdServer> {
  const inst = findEjabberd();
  if (!inst) throw new Error('ejabberd is not installed (apt-get install ejabberd)');
  const hosts = opts.hosts ?? ['svom.fr', 'svom.cn'];
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'voxnet-ejabberd-'));
  const spool = join(dir, 'spool');
  const logs = join(dir, 'logs');
  for (const d of [spool, logs, join(dir, 'certs')]) mkdirSync(d, { recursive: true });
  const taken = new Set<number>([opts.c2sPort, opts.componentPort, opts.httpPort].filter((p): p is number => !!p));
  const newPort = async () => {
    for (;;) {
      const p = await freePort(); // two calls may return the same port: keep them distinct
      if (!taken.has(p)) {
        taken.add(p);
        return p;
      }
    }
  };
  const c2sPort = opts.c2sPort ?? (await newPort());
  const componentPortList: number[] = [];
  for (let i = 0; i < Math.max(1, (opts.components ?? []).length); i++) {
    componentPortList.push(i === 0 && opts.componentPort ? opts.componentPort : await newPort());
  }
  const componentPort = componentPortList[0];
  const componentPorts = Object.fromEntries((opts.components ?? []).map((c, i) => [c.domain, componentPortList[i]]));
  const httpPort = opts.httpPort ?? (await newPort());
  const logFile = join(logs, 'ejabberd.log');
  const configFile = join(dir, 'ejabberd.yml');

  const fed = opts.federation;
  const certs = hosts.map((h) => ({ host: h, ...makeCert(join(dir, 'certs'), h, fed?.ca) }));
  // Erlang's resolver (inet_res, which s2s uses) reads no hosts file: point it at the test DNS server only.
  const inetrc = join(dir, 'inetrc');
  if (fed) {
    const ns = `{${fed.dns.address.split('.').join(',')}}`;
    writeFileSync(inetrc, `{resolv_conf, ""}.\n{hosts_file, ""}.\n{nameserver, ${ns}, ${fed.dns.port}}.\n{lookup, [dns]}.\n`);
  }
  const config = ejabberdConfig({
    hosts,
    certFiles: [...certs.flatMap((c) => [c.cert, c.key]), ...(fed?.ca ? [fed.ca.cert] : [])],
    c2sPort,
    componentPort,
    componentPorts: componentPortList,
    httpPort,
    opts,
  });
  writeFileSync(configFile, '# generated by voxnet; do not edit\n' + stringify(config, { aliasDuplicateObjects: false }));

  const apiUrl = `http://127.0.0.1:${httpPort}/api`;
  const codePath = opts.multicast?.module === 'mod_voxnet_fanout' || opts.modules?.mod_voxnet_fanout ? ['-pz', buildVoxnetModules()] : [];
  let proc: ChildProcess | undefined;
  const launch = async () => {
    const dist = opts.distribution;
    // +zdbbl: ejabberd sends to another node's processes with erlang:send(…, [nosuspend])
    // and drops the stanza when the distribution buffer is over its busy limit (1 MB by
    // default): a burst of notifications to the other node's clients would lose some.
    const distArgs = dist ? ['-name', dist.node, '-setcookie', dist.cookie, '-start_epmd', 'false', '+zdbbl', String(DIST_BUFFER_KB)] : [];
    const p = spawn(inst.erl, [...distArgs, '-noinput', ...codePath, '-mnesia', 'dir', JSON.stringify(spool), '-s', 'ejabberd'], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        ERL_LIBS: inst.erlLibs,
        EJABBERD_CONFIG_PATH: configFile,
        EJABBERD_LOG_PATH: logFile,
        CONTRIB_MODULES_PATH: join(dir, 'contrib'),
        ERL_CRASH_DUMP: join(logs, 'erl_crash.dump'),
        ERL_CRASH_DUMP_BYTES: '0',
        ERL_MAX_PORTS: '65536',
        ...(fed ? { ERL_INETRC: inetrc } : {}),
        ...(dist ? { ERL_EPMD_PORT: String(dist.epmdPort) } : {}),
        HOME: dir,
      },
    });
    proc = p;
    live.add(p);
    installExitHook();
    let out = '';
    const keep = (d: Buffer) => {
      out = (out + d.toString()).slice(-20_000);
    };
    p.stdout?.on('data', keep);
    p.stderr?.on('data', keep);
    p.once('exit', () => live.delete(p));
    const exited = new Promise<never>((_, rej) =>
      p.once('exit', (code) => rej(new Error(`ejabberd exited (${code}) while starting:\n${out}\n${tail(logFile)}`))),
    );
    try {
      await Promise.race([
        Promise.all([c2sPort, httpPort, ...componentPortList].map((port) => waitForPort(port, 30_000))),
        exited,
      ]);
      // Listeners open once the modules are started; the API answering confirms it.
      await Promise.race([waitForApi(apiUrl, 15_000), exited]);
    } catch (e) {
      p.kill('SIGKILL');
      throw e;
    }
    p.removeAllListeners('exit');
    p.once('exit', () => live.delete(p));
  };

  const stop = async () => {
    const p = proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    await new Promise<void>((res) => {
      const t = setTimeout(() => p.kill('SIGKILL'), 10_000);
      p.once('exit', () => {
        clearTimeout(t);
        live.delete(p);
        res();
      });
      p.kill('SIGTERM'); // the VM runs init:stop(): Mnesia is closed cleanly
    });
  };

  await launch();

  const api = async (command: string, args: Record<string, unknown> = {}): Promise<unknown> => {
    const res = await fetch(`${apiUrl}/${command}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(args),
    });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      /* plain text */
    }
    if (!res.ok) throw new EjabberdApiError(command, res.status, body);
    return body;
  };

  const addUser = async (user: string, host: string, password: string) => {
    try {
      await api('register', { user, host, password });
    } catch (e) {
      // Like Prosody's helper: an existing account gets the new password.
      if (e instanceof EjabberdApiError && e.status === 409) await api('change_password', { user, host, newpass: password });
      else throw e;
    }
  };

  return {
    dir,
    hosts,
    c2sPort,
    componentPort,
    httpPort,
    apiUrl,
    c2sUrl: `xmpp://127.0.0.1:${c2sPort}`,
    componentUrl: `xmpp://127.0.0.1:${componentPort}`,
    ...(opts.websocket ? { wsUrl: `ws://127.0.0.1:${httpPort}/xmpp-websocket` } : {}),
    componentPorts,
    componentUrls: Object.fromEntries(Object.entries(componentPorts).map(([d, p]) => [d, `xmpp://127.0.0.1:${p}`])),
    logFile,
    configFile,
    certFiles: fed?.ca ? [fed.ca.cert] : certs.map((c) => c.cert),
    api,
    addUser,
    async addUsers(users, concurrency = 8) {
      let next = 0;
      const worker = async () => {
        while (next < users.length) {
          const u = users[next++];
          await addUser(u.user, u.host, u.password);
        }
      };
      await Promise.all(Array.from({ length: Math.min(concurrency, users.length) }, worker));
    },
    stop: async () => {
      await stop();
      if (!opts.dir && !process.env.VOXNET_KEEP_TMP) rmSync(dir, { recursive: true, force: true });
    },
    restart: async () => {
      await stop();
      await launch();
    },
    kill: () => killNow(proc),
  };
}

/** Build VOXnet's ejabberd modules (idempotent: erlc runs only for a changed source); returns their ebin directory. */
export function buildVoxnetModules(): string {
  const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const out = join(repo, '.voxnet', 'ejabberd-modules', 'ebin');
  execFileSync('bash', [join(repo, 'config', 'ejabberd-modules', 'build.sh'), out], { stdio: ['ignore', 'ignore', 'pipe'] });
  return out;
}

async function waitForApi(apiUrl: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(`${apiUrl}/status`, { method: 'POST', body: '{}' });
      await res.text();
      if (res.ok) return;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) throw new Error(`ejabberd API at ${apiUrl} did not answer within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function tail(f: string): string {
  try {
    return readFileSync(f, 'utf8').split('\n').slice(-30).join('\n');
  } catch {
    return '';
  }
}
