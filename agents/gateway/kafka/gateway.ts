/**
 * The Kafka gateway: Kafka → VOXnet (inbound routes: topics or patterns → node)
 * and VOXnet → Kafka (outbound routes: node → topic), in one process.
 *
 * Inbound: a consumer group with auto-commit off. Each batch of messages is
 * decoded (decode.ts), checked against the bridge ledger (duplicates, echoes of
 * our own messages, our origin marker), published to its node with a
 * deterministic item id, several publishes in flight, each retried until the
 * broker acknowledged it; refused messages go to the dead letters with the
 * reason. Only when every message of the batch is acknowledged or dead-lettered
 * is the offset after it committed. A crash before that redelivers the batch,
 * and the same ids land on the same items: exactly once as seen on the node.
 *
 * Outbound: per route, an agent follows the node (catch-up, dedupe) and each
 * item is produced with Hopskotch headers (_id deterministic from the item,
 * _sender, _format, _test for role=test, and our origin marker) by an idempotent
 * producer with acks=all; the follower's handler returns — and its cursor moves —
 * only after that acknowledgement (retrying while Kafka is away).
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { Consumer, EachBatchPayload, Kafka, Producer } from 'kafkajs';
import { backoffDelay, connectAgent, type Agent, type FollowedItem, type Follower } from '../../lib/index.ts';
import { ensureNode } from '../../lib/nodes.ts';
import { XmppIqError, isTransient } from '../../../common/xmpp/iq-errors.ts';
import type { ConnectionOptions } from '../../lib/options.ts';
import type { Logger } from '../../lib/log.ts';
import {
  BridgeLedger, DiskFullWatch, SeenStore, conventionalVOEventXml, deadLetterSink, dedupeKey, hopIdText, relay, Refused, RelayStopped, untilWritten, type DeadLetterSink,
} from '../lib/index.ts';
import { isStorageFull } from '../../../common/storage-full.ts';
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
  /** Inbound publishes in flight (default 32). */
  max_in_flight?: number;
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
  const stop = async (graceMs = 15_000): Promise<boolean> => {
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
      const window = Math.max(1, cfg.max_in_flight ?? 32);

      const handleOne = async (topic: string, partition: number, msg: EachBatchPayload['batch']['messages'][number]): Promise<void> => {
        const m: KafkaMessageIn = { topic, partition, offset: msg.offset, value: msg.value, headers: (msg.headers ?? {}) as KafkaMessageIn['headers'] };
        const route = routeOf(topic);
        const source = placeOf(cfg.kafka, topic);
        const letterSource = `${source}/${partition}/${msg.offset}`;
        let published: { keys: (string | undefined)[]; node: string; id: string } | undefined;
        await relay({
          deliver: async () => {
            if (!route) throw new Refused(`no inbound route for topic ${topic}`);
            const markers = [headerText(m.headers[ORIGIN_HEADER])].filter((x): x is string => !!x);
            const hopKey = dedupeKey({ hopId: m.headers._id });
            const early = ledger.inbound({ key: hopKey, source, node: route.node, originMarkers: markers });
            if (!early.bridge) {
              emit({ kind: 'skipped-in', reason: early.reason, topic, offset: msg.offset });
              return 'skipped';
            }
            const item = decodeMessage(m, { format: route.format, maxBytes: cfg.max_message_bytes });
            const v = item.key && item.key !== hopKey ? ledger.inbound({ key: item.key, source, node: route.node }) : ({ bridge: true } as const);
            if (!v.bridge) {
              emit({ kind: 'skipped-in', reason: v.reason, topic, offset: msg.offset });
              return 'skipped';
            }
            if (item.note) log.info({ topic, offset: msg.offset, note: item.note }, 'notice checked');
            const keys = [...new Set([item.key, hopKey])];
            for (const key of keys) ledger.noteArrival({ key, source });
            await agent.publish(route.node, item.xml, { id: item.id });
            published = { keys, node: route.node, id: item.id };
          },
          // Marked once the node acknowledged (a full disk is waited out here, without publishing again).
          advance: () => {
            if (!published) return;
            for (const key of published.keys) ledger.markInbound({ key, source, node: published.node });
            emit({ kind: 'bridged-in', node: published.node, id: published.id, topic, partition, offset: msg.offset, kafkaTimestamp: Number(msg.timestamp) });
          },
          letter: () => ({ source: letterSource, payload: msg.value ?? Buffer.alloc(0), headers: headersAsText(m.headers) }),
        }, {
          deadLetters: dead,
          signal: abort.signal,
          disk,
          // The broker refusing this payload (too big, not acceptable) is about the message: dead letter.
          isPermanent: (e) => e instanceof XmppIqError && !isTransient(e),
          onRetry: (e, attempt, delayMs) => log.warn({ topic, offset: msg.offset, err: e.message, attempt, delayMs }, 'publish failed, retrying'),
        }).then((outcome) => {
          if (outcome === 'dead-lettered') {
            log.warn({ source: letterSource }, 'message refused: dead letter');
            emit({ kind: 'dead-letter', reason: 'refused', source: letterSource });
          }
        });
      };

      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: 1,
        eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
          const msgs = batch.messages;
          for (let i = 0; i < msgs.length && isRunning() && !isStale(); i += window) {
            const chunk = msgs.slice(i, i + window);
            // Stay in the group while the chunk waits (the broker away, a full disk): kafkajs heartbeats
            // only when told, and a member silent for sessionTimeout loses its partitions.
            const beat = setInterval(() => void heartbeat().catch(() => {}), 3000);
            // In order per route: publishes are sent in order on one XMPP stream and the broker answers in order.
            const results = await Promise.allSettled(chunk.map((msg) => handleOne(batch.topic, batch.partition, msg))).finally(() => clearInterval(beat));
            const failed = results.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
            if (failed) {
              if (failed.reason instanceof RelayStopped) return; // stopping: nothing of this chunk is committed
              throw failed.reason;
            }
            // Every message of the chunk is acknowledged (or dead-lettered): only now commit the offset after it.
            const last = chunk.at(-1)!.offset;
            resolveOffset(last);
            await consumer!.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() }]);
            await heartbeat();
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
        const f = await agent.follow(r.node, async (item) => {
          const hopIdFromItem = item.id.startsWith('hop-') ? hopIdText(item.id.slice(4)) : undefined;
          const key = dedupeKey({ ivorn: item.ivorn, hopId: hopIdFromItem });
          const v = ledger.outbound({ key, dest });
          if (!v.bridge) {
            emit({ kind: 'skipped-out', reason: v.reason, node: r.node, id: item.id });
            return;
          }
          const { value, format, test } = outboundPayload(item);
          const id = hopIdFromItem ? Buffer.from(hopIdFromItem.replace(/-/g, ''), 'hex') : outboundHopId(r.node, item);
          const headers: Record<string, Buffer | string> = { _id: id, _sender: sender, _format: format, [ORIGIN_HEADER]: cfg.gateway };
          if (test) headers._test = 'true';
          // Retry until Kafka acknowledged (acks=all), even while stopping (see stop()): the cursor
          // moves only when this returns, and returning without the acknowledgement would lose the item.
          unacked++;
          for (let attempt = 0; ; attempt++) {
            try {
              await prod.send({ topic: r.topic, acks: -1, messages: [{ key: item.ivorn ?? item.id, value, headers }] });
              break;
            } catch (e) {
              const delay = backoffDelay(attempt, { initialMs: 200, maxMs: 10_000 });
              log.warn({ topic: r.topic, id: item.id, err: (e as Error).message, delay }, 'produce failed, retrying');
              await sleep(delay);
            }
          }
          unacked--;
          // The cursor moves only once the mark is written (a full disk is waited out, the follower held).
          await untilWritten(() => ledger.markOutbound({ key, dest, gateway: cfg.gateway }), { watch: disk, what: 'the seen-store', signal: abort.signal });
          emit({ kind: 'bridged-out', node: r.node, id: item.id, topic: r.topic });
        }, { since: r.since ?? 'latest' });
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
