/** What every agent command shares: output streams, error → exit status, signals. */
import { ConfigError } from '../../common/config.ts';
import { UsageError } from './options.ts';
import { InvalidVOEventError } from './publish.ts';

export interface CliIO {
  out(text: string): void;
  err(text: string): void;
}

/** stdout/stderr, one line per call. */
export const stdio: CliIO = {
  out: (l) => void process.stdout.write(l + '\n'),
  err: (l) => void process.stderr.write(l + '\n'),
};

/**
 * Run a command body and map failures to exit statuses: usage and configuration
 * mistakes 2 (with the usage text), invalid VOEvents and other failures 1.
 */
export async function runCommand(name: string, usage: string, io: CliIO, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`voxnet ${name}: ${e.message}\n\n${usage}`);
      return 2;
    }
    if (e instanceof ConfigError) {
      io.err(`voxnet ${name}: invalid configuration\n${e.message}`);
      return 2;
    }
    if (e instanceof InvalidVOEventError) {
      io.err(`voxnet ${name}: invalid VOEvent, nothing published\n${e.message}`);
      return 1;
    }
    io.err(`voxnet ${name}: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
}

/** Resolves with the name of the first SIGINT or SIGTERM (handlers removed afterwards). */
export function untilSignal(signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM']): { promise: Promise<NodeJS.Signals>; cancel(): void } {
  let cancel = () => {};
  const promise = new Promise<NodeJS.Signals>((resolve) => {
    const handlers = signals.map((s) => {
      const h = () => {
        cancel();
        resolve(s);
      };
      process.on(s, h);
      return [s, h] as const;
    });
    cancel = () => handlers.forEach(([s, h]) => process.off(s, h));
  });
  return { promise, cancel: () => cancel() };
}

/** Read a file, or stdin for '-'. */
export async function readInput(file: string): Promise<Buffer> {
  if (file !== '-') {
    const { readFileSync } = await import('node:fs');
    return readFileSync(file);
  }
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
