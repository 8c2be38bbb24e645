/**
 * Human-readable log lines for a terminal: pino writes JSON; on a TTY each record
 * becomes one line "HH:MM:SS LEVEL name message key=value ...", coloured by level.
 * JSON stays the format everywhere else (files, pipes, journald).
 *
 * VOXNET_LOG_FORMAT=json|pretty forces one or the other.
 */
import { writeSync } from 'node:fs';
import { isatty } from 'node:tty';
import { pino, type DestinationStream } from 'pino';

const LEVELS: Record<number, [string, string]> = {
  10: ['TRACE', '\x1b[90m'],
  20: ['DEBUG', '\x1b[36m'],
  30: ['INFO ', '\x1b[32m'],
  40: ['WARN ', '\x1b[33m'],
  50: ['ERROR', '\x1b[31m'],
  60: ['FATAL', '\x1b[41m\x1b[97m'],
};
const RESET = '\x1b[0m';
const DIM = '\x1b[2m';
const BOLD = '\x1b[1m';

/** Keys every record carries that a reader of the terminal does not need. */
const HIDDEN = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'v', 'agent', 'svc', 'name']);

function value(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  return JSON.stringify(v);
}

function clock(t: unknown): string {
  const d = typeof t === 'number' ? new Date(t) : new Date();
  return d.toISOString().slice(11, 19);
}

/** One pino record (parsed) as one terminal line (plus an error stack, if any, on the lines after). */
export function formatRecord(rec: Record<string, unknown>, color = true): string {
  const [label, tint] = LEVELS[Number(rec.level)] ?? ['LOG  ', ''];
  const c = (code: string, s: string) => (color && code ? `${code}${s}${RESET}` : s);
  const name = (rec.agent ?? rec.svc ?? rec.name) as string | undefined;
  const parts = [c(DIM, clock(rec.time)), c(tint, label)];
  if (name) parts.push(c(BOLD, String(name)));
  if (rec.msg !== undefined) parts.push(String(rec.msg));
  let stack = '';
  for (const [k, v] of Object.entries(rec)) {
    if (HIDDEN.has(k) || v === undefined) continue;
    if (k === 'err' && typeof v === 'string' && v.includes('\n')) {
      stack = '\n' + v.split('\n').map((l) => `    ${l}`).join('\n');
      continue;
    }
    if (k === 'err' && v && typeof v === 'object' && typeof (v as { stack?: unknown }).stack === 'string') {
      stack = '\n' + String((v as { stack: string }).stack).split('\n').map((l) => `    ${l}`).join('\n');
      continue;
    }
    parts.push(c(DIM, `${k}=`) + value(v));
  }
  return parts.join(' ') + stack;
}

/** Should logs written to `fd` be pretty? A terminal, unless VOXNET_LOG_FORMAT says otherwise. */
export function wantsPretty(fd: number, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.VOXNET_LOG_FORMAT === 'json') return false;
  if (env.VOXNET_LOG_FORMAT === 'pretty') return true;
  return isatty(fd);
}

/** A synchronous pino destination that writes formatted lines to `fd`. */
export function prettyDestination(fd: number, color = isatty(fd) && !process.env.NO_COLOR): { write(chunk: string): boolean } {
  return {
    write(chunk: string) {
      for (const line of chunk.split('\n')) {
        if (!line) continue;
        let text: string;
        try {
          text = formatRecord(JSON.parse(line) as Record<string, unknown>, color);
        } catch {
          text = line;
        }
        writeSync(fd, text + '\n');
      }
      return true;
    },
  };
}

/** Where a process's logs go: formatted for a terminal on a TTY, JSON lines otherwise. */
export function logDestination(fd: 1 | 2): DestinationStream {
  return wantsPretty(fd) ? prettyDestination(fd) : pino.destination({ fd, sync: true });
}
