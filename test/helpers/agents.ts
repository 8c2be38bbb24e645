/** Running `voxnet` agent commands as child processes against a test broker environment. */
import { spawn, type ChildProcess } from 'node:child_process';
import type { BrokerEnv } from './broker-env.ts';
import { PUBSUB } from './broker-env.ts';

export type Proc = {
  child: ChildProcess;
  /** Complete stdout lines so far. */
  lines: string[];
  stderr: () => string;
  /** Resolves with the exit code (or the signal name). */
  exited: Promise<number | string>;
  waitLines(n: number, timeoutMs?: number): Promise<string[]>;
  waitLine(pred: (l: string) => boolean, timeoutMs?: number): Promise<string>;
};

/** Environment for `voxnet` agent commands logging in as user@svom.fr (created with password = user). */
export function agentEnv(env: BrokerEnv, user: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  env.prosody.addUser(user, 'svom.fr', user);
  return {
    ...process.env,
    VOXNET_AGENT_JID: `${user}@svom.fr`,
    VOXNET_AGENT_PASSWORD: user,
    VOXNET_AGENT_SERVER: env.prosody.c2sUrl,
    VOXNET_PUBSUB: PUBSUB,
    VOXNET_TRUST: env.prosody.certFiles.join(':'),
    VOXNET_LOG_LEVEL: process.env.VOXNET_TEST_LOG ?? 'warn',
    ...extra,
  };
}

export function voxnet(args: string[], env: NodeJS.ProcessEnv, input?: string): Proc {
  const child = spawn(process.execPath, ['bin/voxnet.js', ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let partial = '';
  let err = '';
  const waiters: (() => void)[] = [];
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (d: string) => {
    partial += d;
    const parts = partial.split('\n');
    partial = parts.pop()!;
    lines.push(...parts);
    for (const w of [...waiters]) w();
  });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => {
    err += d;
    if (process.env.VOXNET_TEST_LOG) process.stderr.write(d);
  });
  if (input !== undefined) child.stdin!.end(input);
  else child.stdin!.end();
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  const wait = <T>(check: () => T | undefined, timeoutMs: number, what: string): Promise<T> =>
    new Promise((resolve, reject) => {
      const tryIt = () => {
        const v = check();
        if (v !== undefined) {
          clearTimeout(t);
          waiters.splice(waiters.indexOf(tryIt), 1);
          resolve(v);
          return true;
        }
        return false;
      };
      const t = setTimeout(() => {
        waiters.splice(waiters.indexOf(tryIt), 1);
        reject(new Error(`timed out waiting for ${what}; stdout:\n${lines.join('\n')}\nstderr:\n${err}`));
      }, timeoutMs);
      waiters.push(tryIt);
      tryIt();
    });
  return {
    child,
    lines,
    stderr: () => err,
    exited,
    waitLines: (n, timeoutMs = 20_000) => wait(() => (lines.length >= n ? lines.slice(0, n) : undefined), timeoutMs, `${n} lines`),
    waitLine: (pred, timeoutMs = 20_000) => wait(() => lines.find(pred), timeoutMs, 'a matching line'),
  };
}
