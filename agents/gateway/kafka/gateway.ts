/**
 * The Kafka gateway: Kafka → VOXnet (inbound routes: topics or patterns → node)
 * and VOXnet → Kafka (outbound routes: node → topic), in one process.
 *
 * Inbound (inbound.ts): a consumer group with auto-commit off. Each message is
 * checked against the bridge ledger (duplicates, echoes of our own messages, our
 * origin marker), decoded, and published to its node with a deterministic item id:
 * several publish requests in flight, consecutive messages for one node grouped in
 * one request when traffic is heavy (one broker transaction), each retried until
 * the broker acknowledged it; refused messages go to the dead letters with the
 * reason. Per partition, the offset after the acknowledged (or dead-lettered)
 * prefix is committed, never more. A crash redelivers what follows it, and the same
 * ids land on the same items: exactly once as seen on the node.
 *
 * Outbound: per route, an agent follows the node (catch-up, dedupe) and hands
 * over the items ready at once (a fetched page, the live items that came while the
 * previous batch waited); they are produced in one request with Hopskotch headers
 * (_id deterministic from the item, _sender, _format, _test for role=test, and our
 * origin marker) by an idempotent producer with acks=all; the follower's handler
 * returns — and its cursor moves — only after that acknowledgement (retrying while
 * Kafka is away).
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { Consumer, Kafka, Message, Producer } from 'kafkajs';
import { backoffDelay, connectAgent, type Agent, type FollowedItem, type Follower } from '../../lib/index.ts';
import { ensureNode } from '../../lib/nodes.ts';
import { XmppIqError, isTransient } from '../../../common/xmpp/iq-errors.ts';
import type { ConnectionOptions } from '../../lib/options.ts';
import type { Logger } from '../../lib/log.ts';
import {
  BridgeLedger, DiskFullWatch, SeenStore, conventionalVOEventXml, deadLetterSink, dedupeKey, hopIdText, Refused, RelayStopped, untilWritten, WriteAbandoned, type DeadLetterSink,
} from '../lib/index.ts';
import { isStorageFull } from '../../../common/storage-full.ts';
import { InboundPipeline } from './inbound.ts';
import { JSON_NS } from '../../crossmatch/alert.ts';
import { kafkaClient, type KafkaSettings } from './client.ts';
import { decodeMessage, headerText, headersAsText, type KafkaMessageIn, type RouteFormat } from './decode.ts';

export const ORIGIN_HEADER = '_voxnet_origin';

export type InboundRoute = { topics?: string[]; pattern?: string; node: string; format?: RouteFormat };
export type OutboundRoute = { node: string; topic: string; since?: string };

export type KafkaGatewayConfig = {
  /** This gateway's id: its origin marker on Kafka, the default consumer group and state names. */
  gateway: string;
  kafka: KafkaSettings;
  group?: string;
  /** Where a consumer group without committed offsets starts: earliest, latest (default) or an ISO time. */
  from?: string;
  inbound: InboundRoute[];
  outbound: OutboundRoute[];
  dead_letter: { dir?: string; node?: string };
  /** The seen-store file (default <state dir>/gateway-seen.sqlite; share it between gateways of one site). */
  seen_store?: string;
  seen_ttl_ms?: number;
  /** Origin markers of other gateways of ours (besides `gateway`) whose messages are never bridged back in. */
  own_origins?: string[];
  /** Hopskotch `_sender` on outbound messages (default the agent's JID). */
  sender?: string;
  max_message_bytes?: number;
  /** Inbound publish requests in flight (default 8). */
  max_in_flight?: number;
  /** Inbound messages for one node published together in one request at most (default 64). */
  max_batch?: number;
};

export type GatewayEvent =
  | { kind: 'bridged-in'; node: string; id: string; topic: string; partition: number; offset: string; kafkaTimestamp: number }
  | { kind: 'skipped-in'; reason: string; topic: string; offset: string }
  | { kind: 'dead-letter'; reason: string; source: string }
  | { kind: 'bridged-out'; node: string; id: string; topic: string }
  | { kind: 'skipped-out'; reason: string; node: string; id: string }
  | { kind: 'token'; expiresInMs: number };

export type RunningKafkaGateway = {
  /**
   * Stop: the consumer leaves (nothing uncommitted is committed), followers finish the item in hand.
   * Resolves false when an outbound item was still waiting for Kafka's acknowledgement after
   * `graceMs` (default 15 s): the caller should then exit without saving anything (a command
   * exits at once), so that the item is produced again after the restart.
   */
  stop(graceMs?: number): Promise<boolean>;
  /** The inbound agent (publishes) and the outbound ones. */
  agents: Agent[];
};

export type RunOptions = {
  config: KafkaGatewayConfig;
  connection: ConnectionOptions;
  stateDir: string;
  log: Logger;
  env?: NodeJS.ProcessEnv;
  onEvent?: (e: GatewayEvent) => void;
};

/** `kafka://host:port/topic` naming a place for the ledger and dead letters. */
export function placeOf(settings: KafkaSettings, topic: string): string {
  return `kafka://${settings.brokers[0]}/${topic}`;
}

/** A deterministic Hopskotch _id (16 bytes, UUID v5-like) for an outbound item. */
export function outboundHopId(node: string, item: { id: string; ivorn?: string }): Buffer {
  const b = createHash('sha256').update(item.ivorn ?? `${node}\0${item.id}`).digest().subarray(0, 16);
  b[6] = (b[6]! & 0x0f) | 0x50;
  b[8] = (b[8]! & 0x3f) | 0x80;
  return Buffer.from(b);
}

/** What an outbound item becomes on Kafka: the bytes and the _format. */
export function outboundPayload(item: FollowedItem): { value: string; format: 'voevent' | 'json' | 'blob'; test: boolean } {
  const p = item.payload;
  const voevent = p ? conventionalVOEventXml(p) : undefined;
  if (voevent) return { value: voevent, format: 'voevent', test: p!.attrs.role === 'test' };
  if (p && p.name === 'json' && p.attrs.xmlns === JSON_NS) return { value: p.text(), format: 'json', test: false };
  return { value: item.xml, format: 'blob', test: false };
}

/** Items per outbound batch (a fetched page is 20). */
const OUTBOUND_BATCH = 256;
/** Bytes per produce request: well under Kafka's default message.max.bytes (1 MiB) for a record batch; a larger message goes alone. */
const PRODUCE_BYTES = 512 * 1024;

/** Consecutive chunks of at most PRODUCE_BYTES (a larger message alone). */
function produceChunks<T extends { size: number }>(items: T[]): T[][] {
  const chunks: T[][] = [];
  let bytes = Infinity;
  for (const it of items) {
    if (bytes + it.size > PRODUCE_BYTES) {
      chunks.push([]);
      bytes = 0;
    }
    chunks.at(-1)!.push(it);
    bytes += it.size;
  }
  return chunks;
}

function routeMatcher(routes: InboundRoute[]): (topic: string) => InboundRoute | undefined {
  const compiled = routes.map((r) => ({ r, re: r.pattern ? new RegExp(r.pattern) : undefined, names: new Set(r.topics ?? []) }));
  return (topic) => compiled.find((c) => c.names.has(topic) || c.re?.test(topic))?.r;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Where a group without committed offsets starts on `topics` (names, and those of the cluster's topics that `patterns` match) for an ISO time. */
async function startOffsets(kafka: Kafka, group: string, names: string[], patterns: RegExp[], from: string, log: Logger): Promise<{ topic: string; partition: number; offset: string }[]> {
  const ts = Date.parse(from);
  if (Number.isNaN(ts)) return [];
  const admin = kafka.admin();
  await admin.connect();
  try {
    const matched = patterns.length ? (await admin.listTopics()).filter((t) => !t.startsWith('__') && patterns.some((re) => re.test(t))) : [];
    const topics = [...new Set([...names, ...matched])];
    if (!topics.length) return [];
    const seeks: { topic: string; partition: number; offset: string }[] = [];
    const committed = await admin.fetchOffsets({ groupId: group, topics });
    for (const t of committed) {
      if (t.partitions.some((p) => p.offset !== '-1')) continue; // the group has a position: keep it
      for (const p of await admin.fetchTopicOffsetsByTimestamp(t.topic, ts)) seeks.push({ topic: t.topic, partition: p.partition, offset: p.offset });
    }
    log.info({ from, seeks }, 'starting from a time');
    return seeks;
  } finally {
    await admin.disconnect();
  }
}

export async function runKafkaGateway(o: RunOptions): Promise<RunningKafkaGateway> {
  const { config: cfg, log } = o;
  const env = o.env ?? process.env;
  const emit = o.onEvent ?? (() => {});
  const kafka = kafkaClient(cfg.kafka, env, log, (t) => {
    log.info({ expiresInMs: t.expiresInMs }, 'new OAUTHBEARER token');
    emit({ kind: 'token', expiresInMs: t.expiresInMs });
  });
  const store = new SeenStore(cfg.seen_store ?? join(o.stateDir, 'gateway-seen.sqlite'), { ttlMs: cfg.seen_ttl_ms });
  store.prune();
  const ledger = new BridgeLedger(store, [cfg.gateway, ...(cfg.own_origins ?? [])]);
  // A full disk under the seen-store or the dead letters: waited out, one error per episode (disk-full.ts).
  const disk = new DiskFullWatch(log);
  const abort = new AbortController();
  const agents: Agent[] = [];
  const followers: Follower[] = [];
  let consumer: Consumer | undefined;
  let producer: Producer | undefined;
  let pruneTimer: NodeJS.Timeout | undefined;

  let unacked = 0;
  let inbound: InboundPipeline<KafkaMessageIn & { timestamp: string }> | undefined;
  const stop = async (graceMs = 15_000): Promise<boolean> => {
    // What is acknowledged so far is committed; nothing after it.
    if (inbound) await Promise.race([inbound.flush().catch(() => {}), sleep(5000)]);
    abort.abort();
    clearInterval(pruneTimer);
    await consumer?.disconnect().catch(() => {});
    const followersDone = Promise.all(followers.map((f) => f.stop())).then(() => true);
    const clean = await Promise.race([followersDone, sleep(graceMs).then(() => false)]);
    if (!clean) {
      log.error({ unacked }, 'an outbound item is still unacknowledged by Kafka: stopping without saving (it is produced again after the restart)');
      return false;
    }
    await producer?.disconnect().catch(() => {});
    await Promise.all(agents.map((a) => a.stop().catch(() => {})));
    store.close();
    return true;
  };

  try {
    // ------------------------------------------------------------- inbound
    if (cfg.inbound.length) {
      const agent = await connectAgent({ ...o.connection, name: `gateway-${cfg.gateway}-in`, log, stateDir: o.stateDir, waitForServer: true });
      agents.push(agent);
      for (const r of cfg.inbound) await ensureNode(agent, r.node, 'an inbound node', log);
      const dead: DeadLetterSink = deadLetterSink(cfg.dead_letter, async (node, xml, id) => agent.publish(node, xml, { id }));
      if (cfg.dead_letter.node) await ensureNode(agent, cfg.dead_letter.node, 'the dead-letter node', log);
      const routeOf = routeMatcher(cfg.inbound);
      const group = cfg.group ?? `voxnet-${cfg.gateway}`;
      const from = cfg.from ?? 'latest';
      consumer = kafka.consumer({ groupId: group, allowAutoTopicCreation: false, maxBytes: 16 * 1024 * 1024, sessionTimeout: 30_000, heartbeatInterval: 3000 });
      await consumer.connect();
      const names = cfg.inbound.flatMap((r) => r.topics ?? []);
      const patterns = cfg.inbound.filter((r) => r.pattern).map((r) => new RegExp(r.pattern!));
      await consumer.subscribe({ topics: [...names, ...patterns], fromBeginning: from === 'earliest' });
      const seeks = from !== 'earliest' && from !== 'latest' ? await startOffsets(kafka, group, names, patterns, from, log) : [];
      type Msg = KafkaMessageIn & { timestamp: string };
      const pipeline = new InboundPipeline<Msg>({
        judge: (m) => {
          const route = routeOf(m.topic);
          if (!route) throw new Refused(`no inbound route for topic ${m.topic}`);
          const source = placeOf(cfg.kafka, m.topic);
          const markers = [headerText(m.headers[ORIGIN_HEADER])].filter((x): x is string => !!x);
          const hopKey = dedupeKey({ hopId: m.headers._id });
          const early = ledger.inbound({ key: hopKey, source, node: route.node, originMarkers: markers });
          if (!early.bridge) return { kind: 'skip', reason: early.reason };
          const item = decodeMessage(m, { format: route.format, maxBytes: cfg.max_message_bytes });
          const v = item.key && item.key !== hopKey ? ledger.inbound({ key: item.key, source, node: route.node }) : ({ bridge: true } as const);
          if (!v.bridge) return { kind: 'skip', reason: v.reason };
          if (item.note) log.info({ topic: m.topic, offset: m.offset, note: item.note }, 'notice checked');
          const keys = [...new Set([item.key, hopKey])].filter((k): k is string => !!k);
          return { kind: 'publish', node: route.node, id: item.id, xml: item.xml, keys, msg: m };
        },
        onSkipped: (m, reason) => emit({ kind: 'skipped-in', reason, topic: m.topic, offset: m.offset }),
        publish: (node, items) => agent.publishItems(node, items.map((it) => ({ id: it.id, payload: it.xml }))),
        // Where each message came from, before publishing (so the outbound side never sends it back),
        // and the dedupe marks once acknowledged: one seen-store transaction per request. The
        // arrival notes need not wait for the disk: committed, every gateway sharing the file sees
        // them at once, and the marks' synced commit (before the offset moves) makes them durable;
        // a power cut before that loses them with the uncommitted offset, and the message comes again.
        // A full disk is waited out where it strikes (one error per episode, disk-full.ts): before the
        // publish, nothing is sent meanwhile; after it, only the marks are tried again, never the publish.
        beforePublish: (batch) => untilWritten(() => store.batch(() => {
          for (const j of batch) if (j.kind === 'publish') for (const key of j.keys) ledger.noteArrival({ key, source: placeOf(cfg.kafka, j.msg.topic) });
        }, { sync: false }), { watch: disk, what: 'the seen-store', signal: abort.signal }),
        afterPublish: async (batch) => {
          await untilWritten(() => store.batch(() => {
            for (const j of batch) if (j.kind === 'publish') for (const key of j.keys) ledger.markInbound({ key, source: placeOf(cfg.kafka, j.msg.topic), node: j.node });
          }), { watch: disk, what: 'the seen-store', signal: abort.signal });
          for (const j of batch) if (j.kind === 'publish') emit({ kind: 'bridged-in', node: j.node, id: j.id, topic: j.msg.topic, partition: j.msg.partition, offset: j.msg.offset, kafkaTimestamp: Number(j.msg.timestamp) });
        },
        deadLetter: async (m, reason) => {
          const source = `${placeOf(cfg.kafka, m.topic)}/${m.partition}/${m.offset}`;
          // A dead letter is state too: a full disk (or the dead-letter node's broker away) is waited out.
          await untilWritten(() => dead.put({ source, reason, payload: m.value ?? Buffer.alloc(0), headers: headersAsText(m.headers) }), {
            watch: disk, what: 'a dead letter', signal: abort.signal, also: isTransient,
          });
          log.warn({ source, reason: reason.split('\n')[0] }, 'message refused: dead letter');
          emit({ kind: 'dead-letter', reason, source });
        },
        commit: (offsets) => consumer!.commitOffsets(offsets),
        // The broker refusing the payload (too big, not acceptable) is about the message: dead letter.
        isPermanent: (e) => e instanceof XmppIqError && !isTransient(e),
        signal: abort.signal,
        log,
        window: cfg.max_in_flight,
        maxItems: cfg.max_batch,
      });
      inbound = pipeline;

      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: 1,
        // Each message is handed to the pipeline and resolved at once, so that kafkajs fetches the
        // next batch while these are published; offsets are committed by the pipeline only.
        eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
          for (const msg of batch.messages) {
            if (!isRunning() || isStale() || abort.signal.aborted) return;
            const m: Msg = { topic: batch.topic, partition: batch.partition, offset: msg.offset, value: msg.value, headers: (msg.headers ?? {}) as KafkaMessageIn['headers'], timestamp: msg.timestamp };
            try {
              await pipeline.add(m, heartbeat);
            } catch (e) {
              if (e instanceof RelayStopped) return;
              throw e;
            }
            resolveOffset(msg.offset);
          }
        },
      });
      for (const s of seeks) consumer.seek(s);
    }

    // ------------------------------------------------------------- outbound
    if (cfg.outbound.length) {
      producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
      await producer.connect();
      const prod = producer;
      for (const r of cfg.outbound) {
        const agent = await connectAgent({
          ...o.connection,
          name: `gateway-${cfg.gateway}-out`,
          stateName: `gateway-${cfg.gateway}-out-${r.node.replace(/[^A-Za-z0-9._-]+/g, '_')}`,
          resource: `gateway-${cfg.gateway}-out-${agents.length}`,
          log,
          stateDir: o.stateDir,
          waitForServer: true,
        });
        agents.push(agent);
        const dest = placeOf(cfg.kafka, r.topic);
        const sender = cfg.sender ?? agent.bare;
        // The items ready at once (a fetched page, the live ones that came while the last
        // batch waited for Kafka) go in one produce request; the follower's state is written
        // once per batch, after the acknowledgement.
        const f = await agent.followBatch(r.node, async (items) => {
          const out: { key?: string; id: string; size: number; message: Message }[] = [];
          const inBatch = new Set<string>();
          for (const item of items) {
            const hopIdFromItem = item.id.startsWith('hop-') ? hopIdText(item.id.slice(4)) : undefined;
            const key = dedupeKey({ ivorn: item.ivorn, hopId: hopIdFromItem });
            const v = key && inBatch.has(key) ? ({ bridge: false, reason: 'duplicate' } as const) : ledger.outbound({ key, dest });
            if (!v.bridge) {
              emit({ kind: 'skipped-out', reason: v.reason, node: r.node, id: item.id });
              continue;
            }
            if (key) inBatch.add(key);
            const { value, format, test } = outboundPayload(item);
            const id = hopIdFromItem ? Buffer.from(hopIdFromItem.replace(/-/g, ''), 'hex') : outboundHopId(r.node, item);
            const headers: Record<string, Buffer | string> = { _id: id, _sender: sender, _format: format, [ORIGIN_HEADER]: cfg.gateway };
            if (test) headers._test = 'true';
            out.push({ key, id: item.id, size: Buffer.byteLength(value), message: { key: item.ivorn ?? item.id, value, headers } });
          }
          // Retry until Kafka acknowledged (acks=all), even while stopping (see stop()): the cursor
          // moves only when this returns, and returning without the acknowledgement would lose items.
          unacked += out.length;
          for (const chunk of produceChunks(out)) {
            for (let attempt = 0; ; attempt++) {
              try {
                await prod.send({ topic: r.topic, acks: -1, messages: chunk.map((o) => o.message) });
                break;
              } catch (e) {
                const delay = backoffDelay(attempt, { initialMs: 200, maxMs: 10_000 });
                log.warn({ topic: r.topic, ids: chunk.map((o) => o.id), err: (e as Error).message, delay }, 'produce failed, retrying');
                await sleep(delay);
              }
            }
            unacked -= chunk.length;
            // The cursor moves only once the marks are written, tried again (never produced again): a full disk
            // is waited out (one error per episode, the follower held), any other failure retried with backoff.
            for (let attempt = 0; ; attempt++) {
              try {
                await untilWritten(() => store.batch(() => {
                  for (const o of chunk) ledger.markOutbound({ key: o.key, dest, gateway: cfg.gateway });
                }), { watch: disk, what: 'the seen-store', signal: abort.signal });
                break;
              } catch (e) {
                if (e instanceof WriteAbandoned) throw e; // stopping while the disk is full
                const delay = backoffDelay(attempt, { initialMs: 200, maxMs: 10_000 });
                log.warn({ topic: r.topic, err: (e as Error).message, delay }, 'writing the seen-store failed, retrying');
                await sleep(delay);
              }
            }
            for (const o of chunk) emit({ kind: 'bridged-out', node: r.node, id: o.id, topic: r.topic });
          }
        }, { since: r.since ?? 'latest', batchSize: OUTBOUND_BATCH });
        followers.push(f);
      }
    }
    pruneTimer = setInterval(() => {
      try {
        store.prune();
      } catch (e) {
        if (!isStorageFull(e)) throw e; // pruning waits for the next hour
      }
    }, 3600_000);
    pruneTimer.unref();
  } catch (e) {
    await stop();
    throw e;
  }
  log.info({ gateway: cfg.gateway, inbound: cfg.inbound.length, outbound: cfg.outbound.length }, 'kafka gateway running');
  return { stop, agents };
}
