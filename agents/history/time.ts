/** Points in time on the command line (history, subscribe). */
import { UsageError, parseDuration } from '../lib/options.ts';

/** An ISO date-time (with a time zone), an ISO date (midnight UTC), or a duration ago (90s, 6h, 2d). */
export function parseTime(text: string, what: string, now = Date.now()): Date {
  if (/^\d{4}-\d{2}-\d{2}$/.test(text)) return new Date(`${text}T00:00:00Z`);
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(text)) {
    const d = new Date(text);
    if (!Number.isNaN(d.getTime())) return d;
    throw new UsageError(`${what}: "${text}" is not a valid date-time`);
  }
  if (/^\d{4}-\d{2}-\d{2}T/.test(text)) throw new UsageError(`${what}: give a time zone (Z or +hh:mm) in "${text}"`);
  try {
    return new Date(now - parseDuration(text, what));
  } catch {
    throw new UsageError(`${what} must be an ISO date-time (2026-12-06T04:00:00Z), a date, or a duration ago (6h), got "${text}"`);
  }
}
