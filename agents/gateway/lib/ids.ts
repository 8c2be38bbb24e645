/**
 * Deterministic pubsub item ids for bridged messages: the same message always
 * lands on the same item, so a gateway that repeats a delivery after a crash
 * replaces the item instead of creating a second one.
 *
 * Precedence: the VOEvent IVORN (the id agents already derive, `itemIdFor`),
 * else a Hopskotch `_id` (16-byte UUID), else the message's place in its stream
 * (e.g. Kafka topic/partition/offset), else a hash of the bytes.
 */
import { createHash } from 'node:crypto';
import { itemIdFor } from '../../lib/xml.ts';

export type MessageIdentity = {
  ivorn?: string;
  /** Hopskotch `_id` header: 16 raw bytes, or its UUID / hex text. */
  hopId?: Uint8Array | string;
  /** Where the message sits in its stream: e.g. ['kafka', topic, partition, offset]. */
  position?: (string | number)[];
  /** The message bytes (last resort). */
  bytes?: Uint8Array | string;
};

/** A Hopskotch `_id` as canonical lower-case UUID text, or undefined when it is not 16 bytes / a UUID. */
export function hopIdText(id: Uint8Array | string | undefined): string | undefined {
  if (id === undefined) return undefined;
  let hex: string;
  if (typeof id === 'string') hex = id.replace(/-/g, '').toLowerCase();
  else if (id.length === 16) hex = Buffer.from(id).toString('hex');
  else if (id.length === 36) return hopIdText(Buffer.from(id).toString('latin1'));
  else return undefined;
  if (!/^[0-9a-f]{32}$/.test(hex)) return undefined;
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function slug(s: string, max = 60): string {
  return s.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[_.-]+|[_.-]+$/g, '').slice(0, max);
}

function hash12(s: string | Uint8Array): string {
  return createHash('sha256').update(s).digest('hex').slice(0, 12);
}

/** The item id of a bridged message (see the precedence above). Throws when nothing identifies it. */
export function bridgedItemId(m: MessageIdentity): string {
  if (m.ivorn?.trim()) return itemIdFor(m.ivorn);
  const hop = hopIdText(m.hopId);
  if (hop) return `hop-${hop}`;
  if (m.position?.length) {
    const text = m.position.map(String).join('/');
    return `${slug(m.position.map(String).join('-'))}-${hash12(text)}`;
  }
  if (m.bytes !== undefined) return `sha-${createHash('sha256').update(m.bytes).digest('hex').slice(0, 32)}`;
  throw new Error('bridgedItemId: the message has no IVORN, _id, position or bytes');
}

/** The key a seen-store remembers a message by: its IVORN, else its Hopskotch _id, else undefined. */
export function dedupeKey(m: { ivorn?: string; hopId?: Uint8Array | string }): string | undefined {
  if (m.ivorn?.trim()) return `ivorn:${m.ivorn.trim()}`;
  const hop = hopIdText(m.hopId);
  return hop ? `hop:${hop}` : undefined;
}
