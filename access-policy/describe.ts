/** Human-readable words for compiled deliveries (CLI output and audit lines). */
import type { Redaction } from './types.ts';

/** "at once", "after 5m", "after 1d", "after 90s". */
export function duration(seconds: number): string {
  if (seconds === 0) return 'at once';
  for (const [unit, n] of [['d', 86400], ['h', 3600], ['m', 60]] as const) if (seconds % n === 0) return `after ${seconds / n}${unit}`;
  return `after ${seconds}s`;
}

/** "unchanged", or what the redaction removes and coarsens. */
export function describeRedaction(r: Redaction | undefined): string {
  if (!r) return 'unchanged';
  const parts: string[] = [];
  if (r.groups?.length) parts.push(`without groups ${r.groups.join(', ')}`);
  if (r.params?.length) parts.push(`without params ${r.params.join(', ')}`);
  if (r.position_precision_deg) parts.push(`position to ${r.position_precision_deg}°`);
  return parts.join('; ');
}
