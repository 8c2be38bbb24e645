/**
 * What relays to people (rooms, notifications, terminal lines) say about one
 * item: the parsed VOEvent when it is one, its one-line summary, and the link to
 * its page on the web page. One place, so every channel says the same thing.
 */
import { parse as parseVOEvent, summary as voeventSummary, citationLinks, type VOEvent } from '../../voevent/index.ts';
import type { PubsubItem } from './xml.ts';

export type Alert = {
  node: string;
  id: string;
  ivorn?: string;
  /** Parsed packet (absent for non-VOEvent payloads or unparsable ones). */
  voevent?: VOEvent;
  /** One line: the VOEvent summary, else the payload flattened and cut. */
  summary: string;
  role?: string;
  importance?: number;
  /** IVORNs this packet retracts (Citations with cite="retraction"). */
  retracts: string[];
};

export function alertOf(item: Pick<PubsubItem, 'node' | 'id' | 'xml' | 'ivorn'>): Alert {
  if (item.ivorn) {
    try {
      const ev = parseVOEvent(item.xml);
      return {
        node: item.node,
        id: item.id,
        ivorn: item.ivorn,
        voevent: ev,
        summary: voeventSummary(ev),
        role: ev.role,
        importance: ev.why?.importance,
        retracts: citationLinks(ev).filter((l) => l.cite === 'retraction').map((l) => l.to),
      };
    } catch {
      return { node: item.node, id: item.id, ivorn: item.ivorn, summary: item.ivorn, retracts: [] };
    }
  }
  const flat = item.xml.replace(/\s+/g, ' ').trim();
  return { node: item.node, id: item.id, summary: flat.length > 200 ? `${flat.slice(0, 199)}…` : flat || '(no payload)', retracts: [] };
}

/**
 * The link to an alert's page: `template` with {node}, {id} and {ivorn} replaced
 * (URL-encoded), e.g. "http://127.0.0.1:8080/#/alert/{node}/{id}". A template
 * without placeholders is a base URL: "#/alert/{node}/{id}" is appended.
 */
export function alertLink(template: string, a: Pick<Alert, 'node' | 'id' | 'ivorn'>): string {
  const t = /\{(node|id|ivorn)\}/.test(template) ? template : `${template.replace(/\/?$/, '/')}#/alert/{node}/{id}`;
  return t.replace(/\{(node|id|ivorn)\}/g, (_, k: string) => encodeURIComponent(k === 'node' ? a.node : k === 'id' ? a.id : (a.ivorn ?? '')));
}
