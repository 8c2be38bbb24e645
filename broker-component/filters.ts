/**
 * Filters evaluated by the broker (subscription option voxnet#filter): checked
 * when set (bad-request naming the column), compiled once per distinct text, and
 * for each published item evaluated once per distinct filter among its
 * recipients, before fan-out. The language is filter/'s; the choice of who
 * receives stays the core's (core/filtering.ts narrows its recipient list).
 */
import { FilterError, compileFilter, subjectOf, type Filter } from '../filter/index.ts';
import { PubsubError } from '../pubsub/errors.ts';

const CACHE_MAX = 10_000;

export class FilterEngine {
  private readonly compiled = new Map<string, Filter>();
  /** Items evaluated and filter evaluations made (for tests and metrics). */
  readonly stats = { items: 0, evaluations: 0 };

  /** Refuse a filter that does not parse: bad-request + invalid-options, the text naming the column. */
  check(text: string): void {
    this.get(text);
  }

  private get(text: string): Filter {
    let f = this.compiled.get(text);
    if (f) return f;
    try {
      f = compileFilter(text);
    } catch (e) {
      if (e instanceof FilterError) throw new PubsubError('bad-request', { pubsub: 'invalid-options', text: `voxnet#filter: ${e.message}` });
      throw e;
    }
    if (this.compiled.size >= CACHE_MAX) this.compiled.delete(this.compiled.keys().next().value!);
    this.compiled.set(text, f);
    return f;
  }

  /** Of these distinct filters, the ones this item passes: the item is read once, each filter evaluated once. */
  passing(payload: string, parsed: unknown, texts: ReadonlySet<string>): Set<string> {
    const out = new Set<string>();
    if (texts.size === 0) return out;
    this.stats.items++;
    const subject = subjectOf(payload, parsed);
    for (const t of texts) {
      this.stats.evaluations++;
      let f: Filter;
      try {
        f = this.get(t);
      } catch {
        continue; // a stored filter that no longer parses accepts nothing
      }
      if (f.accepts(subject)) out.add(t);
    }
    return out;
  }
}
