/**
 * Publishing VOEvents: validate first (an invalid packet is never published, and
 * the error names file:line:col and the field), derive the item id from the
 * IVORN (the same packet always lands on the same item), publish.
 */
import { fromElement, parseTree, serialize, validate, formatIssue, type Issue, type VOEvent } from '../../voevent/index.ts';
import type { Agent } from './connect.ts';
import { itemIdFor } from './xml.ts';

export class InvalidVOEventError extends Error {
  override name = 'InvalidVOEventError';
  constructor(readonly source: string, readonly issues: Issue[]) {
    super(issues.map((i) => formatIssue(i, source)).join('\n') || `${source}: invalid VOEvent`);
  }
}

export type PreparedVOEvent = {
  ivorn: string;
  /** Item id derived from the IVORN. */
  id: string;
  /** The packet as one standalone element (no XML declaration), ready to be a payload. */
  xml: string;
  event: VOEvent;
  warnings: Issue[];
};

/** Validate a VOEvent and prepare it for publishing; throws InvalidVOEventError. */
export function prepareVOEvent(input: string | Uint8Array, source = '<input>', opts: { engine?: 'fast' | 'xsd' } = {}): PreparedVOEvent {
  const result = validate(input, { engine: opts.engine });
  if (!result.valid) throw new InvalidVOEventError(source, result.errors);
  const tree = parseTree(input);
  const event = fromElement(tree);
  if (!event.ivorn) {
    throw new InvalidVOEventError(source, [{ kind: 'semantic', severity: 'error', line: 1, column: 1, path: '/VOEvent@ivorn', message: 'the packet has no IVORN' }]);
  }
  return { ivorn: event.ivorn, id: itemIdFor(event.ivorn), xml: serialize(tree), event, warnings: result.warnings };
}

export type PublishResult = {
  id: string;
  ivorn: string;
  /** True when the node already held this item (nothing was published again). */
  alreadyPresent: boolean;
  warnings: Issue[];
};

/**
 * Validate and publish a VOEvent. With `skipIfPresent`, an item with the same id
 * and IVORN already on the node is left alone (a publisher retrying after a
 * crash then causes no second notification).
 */
export async function publishVOEvent(
  agent: Agent,
  node: string,
  input: string | Uint8Array | PreparedVOEvent,
  opts: { source?: string; id?: string; skipIfPresent?: boolean; engine?: 'fast' | 'xsd'; publishOptions?: Record<string, string> } = {},
): Promise<PublishResult> {
  const ev = typeof input === 'object' && 'xml' in input && 'ivorn' in input ? input : prepareVOEvent(input, opts.source, { engine: opts.engine });
  const id = opts.id ?? ev.id;
  if (opts.skipIfPresent) {
    const existing = await agent.getItem(node, id);
    if (existing && existing.ivorn === ev.ivorn) return { id, ivorn: ev.ivorn, alreadyPresent: true, warnings: ev.warnings };
  }
  const stored = await agent.publish(node, ev.xml, { id, publishOptions: opts.publishOptions });
  return { id: stored || id, ivorn: ev.ivorn, alreadyPresent: false, warnings: ev.warnings };
}
