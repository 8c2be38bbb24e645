/**
 * What every gateway (Kafka, GCN, Hopskotch, VTP) shares, one job per file:
 *
 * - `ids.ts`          deterministic item ids: IVORN, else Hopskotch _id, else stream position, else content hash
 * - `seen.ts`         SeenStore (SQLite, expiry, direction + origin per key)
 * - `dead-letter.ts`  dead letters with the reason: a directory or a node
 * - `ledger.ts`       BridgeLedger: the inbound/outbound loop and dedupe rules per place (topic, VTP peer, node)
 * - `voevent-text.ts` a VOEvent item as other networks expect the bytes (declaration, <voe:VOEvent>)
 * - `relay.ts`        publish-then-advance with retry/backoff; Refused → dead letter; stop never advances
 * - `disk-full.ts`    a full disk under the state: the write waits for space, one error per episode
 */
export { bridgedItemId, dedupeKey, hopIdText, type MessageIdentity } from './ids.ts';
export { SeenStore, DEFAULT_SEEN_TTL_MS, type Direction, type SeenEntry, type SeenStoreOptions } from './seen.ts';
export {
  DirectoryDeadLetters, NodeDeadLetters, deadLetterSink, deadLetterXml, deadLetterId, DEAD_LETTER_NS, type DeadLetter, type DeadLetterSink,
} from './dead-letter.ts';
export { BridgeLedger, type BridgeVerdict } from './ledger.ts';
export { conventionalVOEventXml } from './voevent-text.ts';
export { relay, Refused, RelayStopped, type RelayStep, type RelayOptions, type RelayOutcome } from './relay.ts';
export { DiskFullWatch, untilWritten, WriteAbandoned, DISK_RETRY_MS } from './disk-full.ts';
