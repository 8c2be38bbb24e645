/**
 * Dead letters: input a gateway cannot bridge (bad XML, schema-invalid JSON, an
 * oversized message, an unknown format) is kept with the reason, never dropped
 * silently, and the stream goes on. Two sinks: a directory (one JSON file per
 * letter, written atomically) or a pubsub node (one item per letter, published
 * through a function the gateway gives, so this file knows nothing of XMPP).
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { writeFileAtomic } from '../../lib/state.ts';

export type DeadLetter = {
  /** Where it came from: `kafka://host/topic/partition/offset`, `vtp://host:port`, a node. */
  source: string;
  /** Why it was refused, for a person: "schema: /trigger_time must be string". */
  reason: string;
  /** The message bytes as received (possibly cut to `maxPayloadBytes`). */
  payload: Uint8Array | string;
  /** Transport metadata (Kafka headers, ...), as text. */
  headers?: Record<string, string>;
  /** When it was refused (default now). */
  at?: Date;
};

export interface DeadLetterSink {
  /** Store the letter durably; resolves when stored. Returns where (a file path or node/item id). */
  put(letter: DeadLetter): Promise<string>;
}

export const DEAD_LETTER_NS = 'urn:voxnet:gateway:dead-letter:0';

/** A stable id for a letter (the same refused message twice gives the same id: no pile of copies). */
export function deadLetterId(letter: DeadLetter): string {
  const h = createHash('sha256').update(letter.source).update('\0').update(letter.payload).digest('hex').slice(0, 24);
  return `dl-${h}`;
}

function payloadFields(payload: Uint8Array | string, max: number): { text?: string; base64?: string; bytes: number; truncated: boolean } {
  const buf = typeof payload === 'string' ? Buffer.from(payload) : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  const cut = buf.subarray(0, max);
  const truncated = buf.length > max;
  const text = cut.toString('utf8');
  // Text when it is valid UTF-8 without control characters other than whitespace, else base64.
  const isText = Buffer.from(text, 'utf8').equals(cut) && !/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/.test(text);
  return isText ? { text, bytes: buf.length, truncated } : { base64: cut.toString('base64'), bytes: buf.length, truncated };
}

/** Letters as files `<dir>/<date>-<id>.json`: { source, reason, at, headers, bytes, truncated, text | base64 }. */
export class DirectoryDeadLetters implements DeadLetterSink {
  constructor(readonly dir: string, private readonly maxPayloadBytes = 8 * 1024 * 1024) {}

  async put(letter: DeadLetter): Promise<string> {
    const at = letter.at ?? new Date();
    const file = join(this.dir, `${at.toISOString().replace(/[:.]/g, '-')}-${deadLetterId(letter)}.json`);
    const body = { source: letter.source, reason: letter.reason, at: at.toISOString(), headers: letter.headers ?? {}, ...payloadFields(letter.payload, this.maxPayloadBytes) };
    writeFileAtomic(file, JSON.stringify(body, null, 2) + '\n');
    return file;
  }
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** The item payload for a letter: `<dead-letter xmlns=... source reason at><header name>v</header><payload encoding>..</payload></dead-letter>`. */
export function deadLetterXml(letter: DeadLetter, maxPayloadBytes = 256 * 1024): string {
  const at = (letter.at ?? new Date()).toISOString();
  const p = payloadFields(letter.payload, maxPayloadBytes);
  const headers = Object.entries(letter.headers ?? {}).map(([k, v]) => `<header name="${esc(k)}">${esc(v)}</header>`).join('');
  const payload = p.text !== undefined ? `<payload encoding="text" bytes="${p.bytes}" truncated="${p.truncated}">${esc(p.text)}</payload>`
    : `<payload encoding="base64" bytes="${p.bytes}" truncated="${p.truncated}">${p.base64}</payload>`;
  return `<dead-letter xmlns="${DEAD_LETTER_NS}" source="${esc(letter.source)}" reason="${esc(letter.reason)}" at="${at}">${headers}${payload}</dead-letter>`;
}

/** Letters as items on a node: `publish(node, xml, id)` is the agent's publish (resolves when the broker stored it). */
export class NodeDeadLetters implements DeadLetterSink {
  constructor(
    readonly node: string,
    private readonly publish: (node: string, xml: string, id: string) => Promise<unknown>,
    private readonly maxPayloadBytes = 256 * 1024,
  ) {}

  async put(letter: DeadLetter): Promise<string> {
    const id = deadLetterId(letter);
    await this.publish(this.node, deadLetterXml(letter, this.maxPayloadBytes), id);
    return `${this.node}/${id}`;
  }
}

/** `dead_letter:` config → a sink: `{ dir: PATH }` or `{ node: NODE }` (the node needs `publish`). */
export function deadLetterSink(
  cfg: { dir?: string; node?: string },
  publish?: (node: string, xml: string, id: string) => Promise<unknown>,
): DeadLetterSink {
  if (cfg.node) {
    if (!publish) throw new Error('a dead-letter node needs an XMPP connection');
    return new NodeDeadLetters(cfg.node, publish);
  }
  if (cfg.dir) return new DirectoryDeadLetters(cfg.dir);
  throw new Error('dead_letter needs a dir or a node');
}
