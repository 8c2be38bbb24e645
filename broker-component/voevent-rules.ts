/**
 * What the broker knows about VOEvents: nodes whose pubsub#type is the VOEvent
 * namespace refuse invalid packets (checked on the tree xmpp.js already parsed),
 * and notifications of VOEvents carry a one-line summary for chat clients.
 */
import { PubsubError } from '../pubsub/errors.ts';
import type { PayloadKeys, PublishInput } from './core/service.ts';
import type { NodeConfig } from '../pubsub/types.ts';
import { validateElement, parse, fromElement, summary, type XmlElement } from '../voevent/index.ts';

import { VOEVENT_NS } from '../common/ns.ts';

export function isVOEventNode(config: NodeConfig): boolean {
  return config.type === VOEVENT_NS;
}

/** checkPayload hook: refuse an invalid VOEvent with bad-request + invalid-payload naming the problems. */
export function checkVOEventPayload(_node: string, config: NodeConfig, item: PublishInput): void {
  if (!isVOEventNode(config) || !item.parsed) return;
  const tree = item.parsed as XmlElement;
  const local = tree.name.includes(':') ? tree.name.slice(tree.name.indexOf(':') + 1) : tree.name;
  if (local !== 'VOEvent') throw new PubsubError('bad-request', { pubsub: 'invalid-payload', text: `this node carries VOEvent packets, not <${tree.name}>` });
  const r = validateElement(tree);
  if (!r.valid) {
    const text = r.errors.slice(0, 5).map((e) => (e.path ? `${e.path}: ${e.message}` : e.message)).join('; ');
    throw new PubsubError('bad-request', { pubsub: 'invalid-payload', text: `invalid VOEvent: ${text}` });
  }
}

/**
 * summarize hook: one line for a VOEvent payload, nothing for anything else. The
 * tree the publish was parsed into is used when given (reading it costs a third
 * of parsing the text again).
 */
export function summarizeVOEvent(payload: string, _node?: string, parsed?: unknown): string | undefined {
  if (!/^<(?:[\w.-]+:)?VOEvent[\s>]/.test(payload)) return undefined;
  try {
    return summary(parsed ? fromElement(parsed as XmlElement) : parse(payload));
  } catch {
    return undefined;
  }
}

const VOEVENT_START = /^\s*(?:<\?xml[^>]*\?>\s*)?<(?:[\w.-]+:)?VOEvent\b[^>]*?\sivorn\s*=\s*(?:"([^"]*)"|'([^']*)')/;

/** The IVORN of a serialized VOEvent payload (read from its start tag), or undefined. */
export function ivornOfPayload(payload: string): string | undefined {
  const m = VOEVENT_START.exec(payload);
  const v = m ? (m[1] ?? m[2] ?? '').trim() : '';
  return v ? v.replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'") : undefined;
}

/** describePayload hook: what the archive indexes about an item (the IVORN of a VOEvent). */
export function describeVOEventPayload(_node: string, _config: NodeConfig, item: PublishInput): PayloadKeys | undefined {
  const tree = item.parsed as XmlElement | undefined;
  if (tree && typeof tree.name === 'string') {
    const local = tree.name.includes(':') ? tree.name.slice(tree.name.indexOf(':') + 1) : tree.name;
    if (local !== 'VOEvent') return undefined;
    const iv = (tree.attrs as Record<string, string | undefined>).ivorn?.trim();
    return iv ? { ivorn: iv } : undefined;
  }
  const iv = ivornOfPayload(item.payload);
  return iv ? { ivorn: iv } : undefined;
}
