/** Running slixmpp (Debian's python3-slixmpp, under /usr/bin/python3) as an independent peer in tests. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';

export const PYTHON = '/usr/bin/python3';

/** slixmpp's version, or undefined when /usr/bin/python3 cannot import it. */
export function slixmppVersion(): string | undefined {
  if (!existsSync(PYTHON)) return undefined;
  const r = spawnSync(PYTHON, ['-c', 'import slixmpp; print(slixmpp.__version__)'], { encoding: 'utf8', timeout: 20_000 });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

export type JsonLinesProc = {
  child: ChildProcess;
  events: Record<string, unknown>[];
  /** The first event (already printed or to come) satisfying pred. */
  wait(pred: (e: Record<string, unknown>) => boolean, timeoutMs?: number, what?: string): Promise<Record<string, unknown>>;
  exited: Promise<number | null>;
  stop(): void;
};

/** Run a script that prints one JSON object per line on stdout (a Python script, or a program given as `command`). */
export function runJsonLines(script: string, args: string[], command: string[] = [PYTHON]): JsonLinesProc {
  const child = spawn(command[0]!, [...command.slice(1), script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const events: Record<string, unknown>[] = [];
  let partial = '';
  let err = '';
  const waiters = new Set<() => void>();
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (d: string) => {
    partial += d;
    const lines = partial.split('\n');
    partial = lines.pop()!;
    for (const l of lines) if (l.trim()) events.push(JSON.parse(l) as Record<string, unknown>);
    for (const w of [...waiters]) w();
  });
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return {
    child,
    events,
    exited,
    wait: (pred, timeoutMs = 30_000, what = 'an event') =>
      new Promise((resolve, reject) => {
        const check = () => {
          const e = events.find(pred);
          if (!e) return;
          clearTimeout(t);
          waiters.delete(check);
          resolve(e);
        };
        const t = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out waiting for ${what}; events: ${JSON.stringify(events)}\nstderr: ${err.slice(-2000)}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      }),
    stop: () => {
      if (child.exitCode === null) child.kill('SIGTERM');
    },
  };
}
