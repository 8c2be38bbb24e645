/**
 * Structured logs for agents: pino, JSON lines on stderr (stdout stays free for
 * the data a command prints); readable lines instead when stderr is a terminal
 * (common/log-format.ts). Written synchronously so that the last lines before a crash are
 * not lost.
 */
import { pino, type Logger, type LevelWithSilent } from 'pino';
import { logDestination } from '../../common/log-format.ts';

export type { Logger };

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

export function createLogger(name: string, level?: string, bindings: Record<string, unknown> = {}): Logger {
  const lvl = (level ?? process.env.VOXNET_LOG_LEVEL ?? 'info') as LevelWithSilent;
  if (!(LOG_LEVELS as readonly string[]).includes(lvl)) throw new Error(`unknown log level '${lvl}' (one of ${LOG_LEVELS.join(', ')})`);
  return pino({ level: lvl, base: { agent: name, pid: process.pid, ...bindings } }, logDestination(2));
}

export { logDestination };

/** A logger that drops everything (library users who pass none). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
