/**
 * Comet (PyPI `comet`, installed by test/peers/install-comet.sh into
 * .voxnet/peers/comet) as a test peer: a VTP broker (`--receive --broadcast`),
 * a VTP subscriber (`--remote`, `--save-event`), and `comet-sendvo`; plus the
 * VTP gateway run as people run it, in a child process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForPort } from '../../broker-component/servers/net.ts';
import YAML from 'yaml';
import { connectAgent, type Agent } from '../../agents/lib/index.ts';
import { agentEnv, voxnet, type Proc } from './agents.ts';
import { startBrokerEnv, PUBSUB, type BrokerEnv } from './broker-env.ts';

const ROOT = join(import.meta.dirname, '../..');
export const COMET_BIN = join(ROOT, '.voxnet/peers/comet/bin');

/** Why Comet tests cannot run, or undefined when they can. */
export function cometMissing(): string | undefined {
  return existsSync(join(COMET_BIN, 'twistd')) ? undefined : `Comet is not installed (run: bash test/peers/install-comet.sh)`;
}

export type Comet = {
  proc: ChildProcess;
  dir: string;
  receivePort?: number;
  broadcastPort?: number;
  /** Everything Comet logged so far. */
  log(): string;
  /** Events saved by --save-event: file name → bytes. */
  saved(): Map<string, Buffer>;
  stop(): Promise<void>;
  /** SIGKILL, leaving its directory. */
  kill(): Promise<void>;
};

export type CometOptions = {
  localIvo?: string;
  /** Accept submissions (comet-sendvo) and broadcast them. */
  broker?: boolean;
  /** Subscribe to a VTP broker at this port on 127.0.0.1. */
  remote?: number;
  filters?: string[];
  /** Save each event received into dir/events. */
  save?: boolean;
  /** Ports for the broker (default: free ones), e.g. to restart it where it was. */
  ports?: { receive: number; broadcast: number };
  /** The broadcaster's iamalive interval (Comet's constant, 60 s, set before it starts). */
  iamaliveSeconds?: number;
};

export async function startComet(opts: CometOptions): Promise<Comet> {
  const dir = mkdtempSync(join(tmpdir(), 'voxnet-comet-'));
  const args = ['-n', '--pidfile=', '-l', '-', 'comet', '-v', '--eventdb', join(dir, 'db'), '--local-ivo', opts.localIvo ?? 'ivo://comet.test/broker'];
  let receivePort: number | undefined;
  let broadcastPort: number | undefined;
  if (opts.broker) {
    receivePort = opts.ports?.receive ?? (await freePort());
    broadcastPort = opts.ports?.broadcast;
    while (broadcastPort === undefined || broadcastPort === receivePort) broadcastPort = await freePort();
    args.push('--receive', '--receive-port', String(receivePort), '--broadcast', '--broadcast-port', String(broadcastPort), '--broadcast-test-interval', '0');
  }
  if (opts.remote) args.push('--remote', `127.0.0.1:${opts.remote}`);
  for (const f of opts.filters ?? []) args.push('--filter', f);
  if (opts.save) args.push('--save-event', '--save-event-directory', join(dir, 'events'));
  const proc = opts.iamaliveSeconds
    ? spawn(join(COMET_BIN, 'python'), ['-c', [
      'import sys',
      'from comet.protocol.broadcaster import VOEventBroadcasterFactory',
      `VOEventBroadcasterFactory.IAMALIVE_INTERVAL = ${Number(opts.iamaliveSeconds)}`,
      'from twisted.scripts.twistd import run',
      "sys.argv = ['twistd'] + sys.argv[1:]",
      'run()',
    ].join('\n'), ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(join(COMET_BIN, 'twistd'), args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  proc.stdout!.on('data', (d) => (log += d));
  proc.stderr!.on('data', (d) => (log += d));
  const exited = new Promise<void>((r) => proc.on('exit', () => r()));
  if (receivePort) await waitForPort(receivePort, 30_000);
  if (broadcastPort) await waitForPort(broadcastPort, 30_000);
  return {
    proc,
    dir,
    receivePort,
    broadcastPort,
    log: () => log,
    saved() {
      const out = new Map<string, Buffer>();
      const d = join(dir, 'events');
      if (existsSync(d)) for (const f of readdirSync(d)) out.set(f, readFileSync(join(d, f)));
      return out;
    },
    async kill() {
      proc.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** `comet-sendvo`: submit one VOEvent file to a Comet broker; resolves with its exit status and output. */
export function cometSendVo(file: string, port: number): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const p = spawn(join(COMET_BIN, 'comet-sendvo'), ['-h', '127.0.0.1', '-p', String(port), '-f', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    p.stdout!.on('data', (d) => (output += d));
    p.stderr!.on('data', (d) => (output += d));
    p.on('exit', (code) => resolve({ code: code ?? -1, output }));
  });
}

/** `voxnet gateway vtp ARGS` as a child process. */
export function vtpGateway(args: string[], env: NodeJS.ProcessEnv): Proc {
  return voxnet(['gateway', 'vtp', ...args], env);
}

/** What the VTP gateway tests share: Prosody + broker, agents, gateways and Comets, all stopped by stop(). */
export type VtpTestEnv = {
  env: BrokerEnv;
  tmp: string;
  /** An agent logged in as user@svom.fr (account created, password = user). */
  agent(user: string): Promise<Agent>;
  /** `voxnet gateway vtp --config <name>.yaml` with state and dead letters under tmp, logged in as `user`. */
  gateway(name: string, cfg: object, user: string, logLevel?: string): Proc;
  comet(opts: CometOptions): Promise<Comet>;
  stop(): Promise<void>;
};

export async function startVtpEnv(): Promise<VtpTestEnv> {
  const env = await startBrokerEnv({ create_nodes: ['*'] });
  const tmp = mkdtempSync(join(tmpdir(), 'voxnet-vtp-'));
  const procs: Proc[] = [];
  const comets: Comet[] = [];
  const agents: Agent[] = [];
  return {
    env,
    tmp,
    async agent(user) {
      env.prosody.addUser(user, 'svom.fr', user);
      const a = await connectAgent({ jid: `${user}@svom.fr`, password: user, server: env.prosody.c2sUrl, service: PUBSUB, trust: env.prosody.certFiles, name: user });
      agents.push(a);
      return a;
    },
    gateway(name, cfg, user, logLevel = 'debug') {
      const file = join(tmp, `${name}.yaml`);
      writeFileSync(file, YAML.stringify({ state_dir: join(tmp, `${name}-state`), dead_letter: { dir: join(tmp, `${name}-dead`) }, ...cfg }));
      const p = vtpGateway(['--config', file], agentEnv(env, user, { VOXNET_LOG_LEVEL: logLevel }));
      procs.push(p);
      return p;
    },
    async comet(opts) {
      const c = await startComet(opts);
      comets.push(c);
      return c;
    },
    async stop() {
      for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
      await Promise.all(comets.map((c) => c.stop()));
      await Promise.all(agents.map((a) => a.stop()));
      await env.stop();
      rmSync(tmp, { recursive: true, force: true });
    },
  };
}
