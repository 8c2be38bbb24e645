/**
 * An ejabberd cluster on this machine, for tests and benchmarks: N Erlang nodes
 * of the installed ejabberd (ejabberd.ts starts each one), distinct node names,
 * ports and spool directories, one cookie, joined with the operator's own tool,
 * `ejabberdctl join_cluster`. Mnesia then replicates accounts, routes (a
 * component domain registered through one node is reachable from every node's
 * clients) and sessions across the nodes.
 *
 * The nodes register with an epmd of the cluster's own on a free port
 * (ERL_EPMD_PORT), started and stopped here: nothing is left behind and the
 * system's epmd (4369) is never touched.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { freePort, waitForPort } from './net.ts';
import { startEjabberd, type EjabberdOptions, type EjabberdServer } from './ejabberd.ts';

export type EjabberdClusterOptions = Omit<EjabberdOptions, 'dir' | 'distribution' | 'c2sPort' | 'componentPort' | 'httpPort'> & {
  /** Number of nodes; default 2. */
  nodes?: number;
};

export type EjabberdCluster = {
  dir: string;
  /** One server handle per node (its own c2s, component and API ports). */
  nodes: EjabberdServer[];
  /** Erlang node names, e.g. voxnet1@127.0.0.1. */
  names: string[];
  cookie: string;
  epmdPort: number;
  /** Run `ejabberdctl ARGS…` against node `i`; resolves with its output, rejects on a non-zero exit. */
  ctl(i: number, args: string[]): Promise<string>;
  /** The nodes Mnesia on node `i` sees running (its running_db_nodes), sorted. */
  runningNodes(i: number): Promise<string[]>;
  /** Stop everything and remove the directory. */
  stop(): Promise<void>;
};

const EJABBERDCTL = '/usr/sbin/ejabberdctl';

/** Start `n` ejabberd nodes and join nodes 2..n to node 1. */
export async function startEjabberdCluster(opts: EjabberdClusterOptions = {}): Promise<EjabberdCluster> {
  const n = opts.nodes ?? 2;
  const dir = mkdtempSync(join(tmpdir(), 'voxnet-ejcluster-'));
  const cookie = randomBytes(12).toString('hex');
  const epmdPort = await freePort();
  const epmd: ChildProcess = spawn('epmd', ['-port', String(epmdPort)], { stdio: 'ignore' });
  // Never leave the epmd behind (the nodes have the same guard in ejabberd.ts).
  const killEpmd = () => void epmd.kill('SIGKILL');
  process.once('exit', killEpmd);
  epmd.once('exit', () => process.off('exit', killEpmd));
  const nodes: EjabberdServer[] = [];
  const names = Array.from({ length: n }, (_, i) => `voxnet${i + 1}@127.0.0.1`);
  const ctlEnv = (i: number): NodeJS.ProcessEnv => {
    // ejabberdctl reads this file (shell) after deciding to switch to the `ejabberd`
    // user: run as ourselves, against our node, with our cookie.
    const cfg = join(dir, `node${i + 1}`, 'ejabberdctl.cfg');
    writeFileSync(cfg, `EXEC_CMD=as_current_user\nERLANG_NODE=${names[i]}\nERL_OPTIONS="-setcookie ${cookie}"\n`);
    return { ...process.env, ERL_EPMD_PORT: String(epmdPort), HOME: join(dir, `node${i + 1}`) };
  };
  const ctl = (i: number, args: string[]) =>
    new Promise<string>((resolve, reject) => {
      const node = nodes[i]!;
      const env = ctlEnv(i);
      execFile(
        EJABBERDCTL,
        ['--ctl-config', join(dir, `node${i + 1}`, 'ejabberdctl.cfg'), '--config', node.configFile, '--spool', join(node.dir, 'spool'), '--logs', join(node.dir, 'logs'), ...args],
        { env, cwd: node.dir, timeout: 120_000 },
        (err, stdout, stderr) => (err ? reject(new Error(`ejabberdctl ${args.join(' ')} on ${names[i]} failed: ${err.message}\n${stdout}${stderr}`)) : resolve(stdout.trim())),
      );
    });
  const stopAll = async () => {
    await Promise.all(nodes.map((s) => s.stop().catch(() => undefined)));
    if (epmd.exitCode === null && epmd.signalCode === null) {
      const gone = new Promise((r) => epmd.once('exit', r));
      epmd.kill('SIGKILL');
      await gone;
    }
    if (!process.env.VOXNET_KEEP_TMP) rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForPort(epmdPort, 10_000);
    for (let i = 0; i < n; i++) {
      const nodeDir = join(dir, `node${i + 1}`);
      mkdirSync(nodeDir, { recursive: true });
      // Started one after the other: Mnesia's first start creates the schema.
      nodes.push(await startEjabberd({ ...opts, dir: nodeDir, distribution: { node: names[i]!, cookie, epmdPort } }));
    }
    for (let i = 1; i < n; i++) {
      await ctl(i, ['join_cluster', names[0]!]);
      // join_cluster restarts ejabberd on the joining node: wait for its API again.
      await waitApi(nodes[i]!, 60_000);
    }
  } catch (e) {
    await stopAll();
    throw e;
  }
  const runningNodes = async (i: number) => {
    const out = await ctl(i, ['list_cluster']);
    return out.split(/\s+/).map((s) => s.replace(/^'|'$/g, '')).filter(Boolean).sort();
  };
  return { dir, nodes, names, cookie, epmdPort, ctl, runningNodes, stop: stopAll };
}

/** Wait until a node's ReST API answers `status` (its listeners are up). */
async function waitApi(node: EjabberdServer, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await node.api('status').then(() => true, () => false);
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`ejabberd node at ${node.apiUrl} did not come back within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
