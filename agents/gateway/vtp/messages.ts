/**
 * VTP messages: the Transport messages we send (built exactly as Comet builds
 * them, `comet/protocol/messages.py`), and reading any incoming frame into a
 * typed message with the DTD-free parser (no DOCTYPE, no entities, size and
 * depth limits).
 */
import { childElements, localName, textOf } from '../../../common/xml.ts';
import { escapeAttr, escapeText, parseTree, XmlSyntaxError, type XmlElement } from '../../../voevent/tree.ts';

export const TRANSPORT_NS = 'http://www.telescope-networks.org/xml/Transport/v1.1';
export const VOEVENT_ROLES = ['observation', 'prediction', 'utility', 'test'] as const;
export type TransportRole = 'iamalive' | 'authenticate' | 'ack' | 'nak';

export type TransportMessage = {
  kind: 'transport';
  role: TransportRole;
  origin?: string;
  response?: string;
  /** Meta/Param name → values, in order (e.g. xpath-filter). */
  params: { name: string; value: string }[];
  /** Meta/Result (a nak's reason). */
  result?: string;
  /** Old-style filters: Meta/filter[@type="xpath"] text. */
  oldFilters: string[];
};

export type EventMessage = {
  kind: 'event';
  role: string;
  ivorn: string;
  /** The bytes as received, unchanged (what a broker forwards). */
  bytes: Buffer;
  tree: XmlElement;
};

export type Incoming = TransportMessage | EventMessage;

/** A frame that is not a message we can act on; `ivorn` when one could be read (for the nak). */
export class BadMessage extends Error {
  override name = 'BadMessage';
  constructor(message: string, readonly ivorn?: string) {
    super(message);
  }
}

/** "2026-12-06T04:00:00Z", as Comet writes it. */
export function vtpTimestamp(d = new Date()): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function transport(role: TransportRole, origin: string, response: string | undefined, meta: string, now: Date): string {
  return (
    "<?xml version='1.0' encoding='UTF-8'?>\n" +
    `<trn:Transport xmlns:trn="${TRANSPORT_NS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" version="1.0" ` +
    `xsi:schemaLocation="http://telescope-networks.org/schema/Transport/v1.1 http://www.telescope-networks.org/schema/Transport-v1.1.xsd" role="${role}">\n` +
    `  <Origin>${escapeText(origin)}</Origin>\n` +
    (response ? `  <Response>${escapeText(response)}</Response>\n` : '') +
    `  <TimeStamp>${vtpTimestamp(now)}</TimeStamp>\n` +
    meta +
    '</trn:Transport>\n'
  );
}

/** Broker → subscriber, every interval. */
export function iamalive(localIvo: string, now = new Date()): string {
  return transport('iamalive', localIvo, undefined, '', now);
}

/** Subscriber → broker: the answer to an iamalive (Origin: the broker's, Response: ours). */
export function iamaliveResponse(localIvo: string | undefined, remoteIvo: string, now = new Date()): string {
  return transport('iamalive', remoteIvo, localIvo, '', now);
}

/** Broker → subscriber on connection. */
export function authenticate(localIvo: string, now = new Date()): string {
  return transport('authenticate', localIvo, undefined, '', now);
}

/** Subscriber → broker: the answer to authenticate, carrying the XPath filters the subscriber wants. */
export function authenticateResponse(localIvo: string | undefined, remoteIvo: string, filters: string[], now = new Date()): string {
  const meta = `  <Meta>\n${filters.map((f) => `    <Param name="xpath-filter" value="${escapeAttr(f)}"/>\n`).join('')}  </Meta>\n`;
  return transport('authenticate', remoteIvo, localIvo, meta, now);
}

/** Receipt of an event (Origin: the event's IVORN). */
export function ack(localIvo: string | undefined, eventIvorn: string, now = new Date()): string {
  return transport('ack', eventIvorn, localIvo, '', now);
}

/** Refusal of an event, with the reason in Meta/Result. */
export function nak(localIvo: string | undefined, eventIvorn: string, reason?: string, now = new Date()): string {
  const meta = reason ? `  <Meta>\n    <Result>${escapeText(reason)}</Result>\n  </Meta>\n` : '';
  return transport('nak', eventIvorn, localIvo, meta, now);
}

/** The IVORN attribute of a frame that failed to parse, found by a bounded scan (for the nak). */
function ivornGuess(bytes: Buffer): string | undefined {
  const head = bytes.subarray(0, 8192).toString('latin1');
  const m = /<(?:[\w.-]+:)?VOEvent\b[^>]*?\sivorn\s*=\s*(["'])([^"'<>]{1,1024})\1/.exec(head);
  return m?.[2];
}

/**
 * Read one frame. Throws BadMessage for anything unparsable (with its reason),
 * for roots that are neither a Transport message nor a VOEvent, and for
 * VOEvents without an IVORN.
 */
export function readMessage(bytes: Buffer, maxBytes: number): Incoming {
  let tree: XmlElement;
  try {
    tree = parseTree(bytes, { maxBytes });
  } catch (e) {
    if (e instanceof XmlSyntaxError) throw new BadMessage(`not well-formed XML (line ${e.line}, column ${e.column}): ${e.message}`, ivornGuess(bytes));
    throw e;
  }
  const name = localName(tree.name);
  const role = tree.attrs.role ?? '';
  if (name === 'Transport') {
    if (role !== 'iamalive' && role !== 'authenticate' && role !== 'ack' && role !== 'nak') throw new BadMessage(`Transport message with unknown role '${role}'`);
    const msg: TransportMessage = { kind: 'transport', role, params: [], oldFilters: [] };
    for (const c of childElements(tree)) {
      const n = localName(c.name);
      if (n === 'Origin') msg.origin = textOf(c).trim();
      else if (n === 'Response') msg.response = textOf(c).trim();
      else if (n === 'Meta') {
        for (const m of childElements(c)) {
          const mn = localName(m.name);
          if (mn === 'Param' && m.attrs.name !== undefined) msg.params.push({ name: m.attrs.name, value: m.attrs.value ?? '' });
          else if (mn === 'Result') msg.result = textOf(m);
          else if (mn === 'filter' && m.attrs.type === 'xpath') msg.oldFilters.push(textOf(m));
        }
      }
    }
    return msg;
  }
  if (name === 'VOEvent') {
    const ivorn = tree.attrs.ivorn;
    if (!ivorn) throw new BadMessage('VOEvent without an ivorn attribute');
    if (!(VOEVENT_ROLES as readonly string[]).includes(role)) throw new BadMessage(`VOEvent with unknown role '${role}'`, ivorn);
    return { kind: 'event', role, ivorn, bytes, tree };
  }
  throw new BadMessage(`neither a VOEvent nor a Transport message (root element <${tree.name}>)`);
}

/** The XPath filters a subscriber asked for in its authenticate response (new- and old-style, as Comet reads them). */
export function filtersOf(msg: TransportMessage): string[] {
  return [...msg.params.filter((p) => p.name === 'xpath-filter').map((p) => p.value), ...msg.oldFilters];
}
