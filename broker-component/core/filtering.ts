/**
 * Narrowing an item's recipients by their subscriptions' filters: each distinct
 * filter is asked once (the `passing` callback evaluates them), subscriptions
 * without a filter always receive, a JID keeps only the subids whose filter
 * accepts, and a JID with none left receives nothing. Pure; the core calls it
 * per item when some subscription of the node has a filter.
 */
import type { Recipient } from './service.ts';

export function applyFilters(
  recipients: readonly Recipient[],
  filterOf: (subid: string) => string | null | undefined,
  passing: (filters: ReadonlySet<string>) => ReadonlySet<string>,
): Recipient[] {
  const distinct = new Set<string>();
  for (const r of recipients) for (const s of r.subids) {
    const f = filterOf(s);
    if (f) distinct.add(f);
  }
  if (distinct.size === 0) return [...recipients];
  const ok = passing(distinct);
  const out: Recipient[] = [];
  for (const r of recipients) {
    const subids = r.subids.filter((s) => {
      const f = filterOf(s);
      return !f || ok.has(f);
    });
    if (subids.length === r.subids.length) out.push(r);
    else if (subids.length) out.push({ ...r, subids });
  }
  return out;
}
