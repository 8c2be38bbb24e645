/**
 * XPath filters, as a Comet broker applies them (`comet/protocol/broadcaster.py`):
 * a subscriber that sent filters receives an event when at least one of them
 * evaluates, on the VOEvent root element, to a non-empty node set, true, a
 * non-zero number or a non-empty string. No namespace prefixes are bound (a
 * filter naming `voe:` fails to evaluate and so does not match, as in lxml). A
 * filter that does not compile is dropped when installed. Evaluation uses
 * libxml2 (libxmljs2) on packets that already passed the DTD-free parser.
 */
import libxml from 'libxmljs2';
import type { Document as XmlDocument } from 'libxmljs2';
import { SAFE_PARSE_OPTIONS } from '../../../voevent/xsd.ts';

const PROBE = libxml.parseXml('<VOEvent ivorn="ivo://voxnet/probe#0" role="test"/>', SAFE_PARSE_OPTIONS);

/** Whether an expression names a namespace prefix (axes such as `child::` aside). */
function usesPrefix(xpath: string): boolean {
  return /[A-Za-z_][\w.-]*:[A-Za-z_*]/.test(xpath.replace(/::/g, ''));
}

/**
 * Whether `xpath` is a usable XPath 1.0 expression (tried once on a tiny
 * document; libxml2 answers undefined for a syntax error). An expression using
 * a namespace prefix is accepted: it fails at evaluation and never matches, as
 * in Comet.
 */
export function checkXPath(xpath: string): string | undefined {
  let v: unknown;
  try {
    v = PROBE.root()!.find(xpath);
  } catch {
    v = undefined;
  }
  if (v !== undefined || usesPrefix(xpath)) return undefined;
  return 'not a valid XPath 1.0 expression';
}

/**
 * A filter as installed for a subscriber: a prefixed one becomes `false()`, which
 * is what it evaluates to in effect, without libxml2 reporting the unbound
 * prefix on stderr for every event.
 */
export function installFilter(xpath: string): string {
  return usesPrefix(xpath) ? 'false()' : xpath;
}

/** A parsed event, kept for every filter of every subscriber. */
export class FilterTarget {
  private doc?: XmlDocument | null;
  constructor(private readonly xml: string | Buffer) {}
  private document(): XmlDocument | null {
    if (this.doc === undefined) {
      try {
        this.doc = libxml.parseXml(typeof this.xml === 'string' ? this.xml : this.xml.toString('utf8'), SAFE_PARSE_OPTIONS);
      } catch {
        this.doc = null;
      }
    }
    return this.doc;
  }

  /** Comet's rule: no filters → pass; otherwise any filter with a true value. */
  passes(filters: readonly string[]): boolean {
    if (filters.length === 0) return true;
    const root = this.document()?.root();
    if (!root) return false;
    for (const f of filters) {
      let v: unknown;
      try {
        v = root.find(f);
      } catch {
        continue;
      }
      if (Array.isArray(v) ? v.length > 0 : Boolean(v)) return true;
    }
    return false;
  }
}
