/** The Python Kafka peers (hop-client, confluent-kafka) installed by test/peers/install-python-kafka-peers.sh. */
import { spawn, execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

export const KAFKA_PY = resolve(import.meta.dirname, '../../.voxnet/peers/kafka-python');
export const HOP = `${KAFKA_PY}/bin/hop`;
export const PYTHON = `${KAFKA_PY}/bin/python`;

export function kafkaPeersAvailable(): boolean {
  return existsSync(HOP) && existsSync(PYTHON);
}

export const KAFKA_PEERS_MISSING = 'hop-client / confluent-kafka are not installed: run bash test/peers/install-python-kafka-peers.sh (make test does)';

/** Run a command to completion; rejects with its output on failure. */
export function run(cmd: string, args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<string> {
  return new Promise((res, rej) => {
    const child = execFile(cmd, args, { timeout: opts.timeoutMs ?? 60_000, env: opts.env ?? process.env, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) rej(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stdout}\n${stderr}`));
      else res(stdout);
    });
    if (opts.input !== undefined) child.stdin!.end(opts.input);
  });
}

/** A long-running command whose stdout is collected (e.g. hop subscribe). */
export function collect(cmd: string, args: string[], env?: NodeJS.ProcessEnv): { out: () => string; err: () => string; stop: () => void } {
  const child = spawn(cmd, args, { env: { ...(env ?? process.env), PYTHONUNBUFFERED: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  child.on('error', (e) => (err += `\n[${cmd}: ${e.message}]`));
  child.on('exit', (code, sig) => (err += `\n[${cmd} exited: ${code ?? sig}]`));
  return { out: () => out, err: () => err, stop: () => void child.kill('SIGKILL') };
}
