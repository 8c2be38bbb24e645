/**
 * Durations in configuration files and on command lines, one grammar everywhere:
 * a number with an optional unit ms, s, m or min, h, d ("250ms", "1.5s", "5m",
 * "12h", "1d"); a bare number is seconds. A sign is accepted only where the
 * caller allows negatives (e.g. an observing window that opens before the event).
 */

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000 };

/** The grammar as a regular expression source (for JSON schemas). */
// At most 12 digits before the point (and 9 after): every duration the grammar accepts is a
// finite number of milliseconds, so a file that passed its schema never fails later.
export const DURATION_PATTERN = '^\\s*[0-9]{1,12}(\\.[0-9]{1,9})?\\s*(ms|s|m|min|h|d)?\\s*$';
export const SIGNED_DURATION_PATTERN = '^\\s*-?[0-9]{1,12}(\\.[0-9]{1,9})?\\s*(ms|s|m|min|h|d)?\\s*$';
/** Largest number of seconds written as a bare number (about 31,700 years). */
export const MAX_DURATION_SECONDS = 1e12;

export const DURATION_EXAMPLES = '500ms, 90s, 5m, 12h, 1d';

export class DurationError extends Error {
  override name = 'DurationError';
}

/**
 * Milliseconds of a duration: a string of the grammar above, or a number of
 * seconds. Throws DurationError naming `what` otherwise.
 */
export function parseDuration(v: number | string, opts: { negative?: boolean; what?: string } = {}): number {
  const what = opts.what ?? 'duration';
  let ms: number;
  if (typeof v === 'number') {
    if (!Number.isFinite(v) || Math.abs(v) > MAX_DURATION_SECONDS) throw new DurationError(`${what} ${v} is not a number of seconds up to ${MAX_DURATION_SECONDS}`);
    ms = v * 1000;
  } else {
    const m = /^\s*(-?\d{1,12}(?:\.\d{1,9})?)\s*(ms|s|m|min|h|d)?\s*$/.exec(v);
    if (!m) throw new DurationError(`${what} '${v}' is not a duration like ${DURATION_EXAMPLES}`);
    ms = Number(m[1]) * UNIT_MS[m[2] ?? 's']!;
  }
  if (ms < 0 && !opts.negative) throw new DurationError(`${what} '${v}' must not be negative`);
  return Math.round(ms);
}

/** A JSON schema accepting a duration: a number of seconds or a string of the grammar. */
export function durationSchema(opts: { negative?: boolean; description?: string } = {}) {
  return {
    description: opts.description ?? `a duration such as ${DURATION_EXAMPLES} (or a number of seconds)`,
    anyOf: [
      { type: 'number', minimum: opts.negative ? -MAX_DURATION_SECONDS : 0, maximum: MAX_DURATION_SECONDS },
      { type: 'string', pattern: opts.negative ? SIGNED_DURATION_PATTERN : DURATION_PATTERN },
    ],
  } as const;
}
