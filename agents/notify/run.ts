/**
 * The notification agent: follows the nodes its rules name (catch-up and durable
 * cursor from agents/lib), turns each item into notifications in the outbox (one
 * per matching rule's endpoint; quiet hours defer or drop them; a retraction goes
 * to every endpoint that got the original), and delivers the outbox: one
 * notification at a time per endpoint, in order, every endpoint independently, a
 * failure retried with backoff without holding back any other endpoint.
 *
 * An item counts as handled once its notifications are in the outbox; a
 * notification is marked sent once its endpoint accepted it. So a restart neither
 * loses a notification nor enqueues one twice; a crash between an endpoint's
 * acceptance and the mark resends that one (webhooks carry an Idempotency-Key,
 * e-mails a stable Message-ID).
 */
import type { Agent } from '../lib/connect.ts';
import type { Follower, FollowedItem } from '../lib/follow.ts';
import type { Logger } from '../lib/log.ts';
import { alertOf } from '../lib/alert.ts';
import { backoffDelay, type BackoffOptions } from '../../common/backoff.ts';
import { matches, quietUntil, type Rule } from './rules.ts';
import { Outbox, type OutboxRow } from './outbox.ts';
import { noticeOf, type Channel, type Notice } from './channels.ts';

export type NotifyOptions = {
  agent: Agent;
  log: Logger;
  rules: Rule[];
  channels: Record<string, Channel>;
  outbox: Outbox;
  alertUrl?: string;
  since?: 'latest' | 'beginning';
  backoff?: BackoffOptions;
  /** Give up a notification this long after it was enqueued (default 24 h). */
  giveUpMs?: number;
  now?: () => number;
  /** Abandon the start-up (first catch-ups) when aborted, e.g. on SIGTERM. */
  signal?: AbortSignal;
};

export type NotifyHandle = { stop(): Promise<void>; pump(): void; idle(): Promise<void> };

export async function runNotify(opts: NotifyOptions): Promise<NotifyHandle> {
  const { agent, log, rules, channels, outbox } = opts;
  const now = opts.now ?? Date.now;
  const giveUpMs = opts.giveUpMs ?? 86_400_000;
  const busy = new Map<string, Promise<void>>();
  let timer: NodeJS.Timeout | undefined;
  let stopping = false;

  const schedule = () => {
    clearTimeout(timer);
    if (stopping) return;
    const next = outbox.nextDue();
    if (next === undefined) return;
    timer = setTimeout(pump, Math.min(60_000, Math.max(next - now(), busy.size ? 250 : 0)));
  };

  const deliver = async (row: OutboxRow): Promise<void> => {
    const channel = channels[row.endpoint];
    if (!channel) {
      outbox.failed(row, `no endpoint named ${row.endpoint} in the configuration`, undefined, now());
      log.error({ endpoint: row.endpoint, item: row.item }, `notification dropped: no endpoint named ${row.endpoint}`);
      return;
    }
    const key = Outbox.keyOf(row);
    try {
      const messageId = await channel.send(row.message as Notice, key);
      outbox.sent(row, messageId, now());
      log.info({ feed: 'notify', endpoint: row.endpoint, rule: row.rule, kind: row.kind, node: row.node, item: row.item },
        `${row.kind === 'retraction' ? 'retraction' : 'notification'} sent to ${row.endpoint}`);
    } catch (e) {
      const err = (e as Error).message;
      const age = now() - row.created;
      if (age >= giveUpMs) {
        outbox.failed(row, err, undefined, now());
        log.error({ endpoint: row.endpoint, item: row.item, attempts: row.attempts + 1, err }, `gave up notifying ${row.endpoint}`);
      } else {
        const delay = backoffDelay(row.attempts, opts.backoff ?? { initialMs: 2000, maxMs: 600_000 });
        outbox.failed(row, err, now() + delay, now());
        log.warn({ endpoint: row.endpoint, item: row.item, attempt: row.attempts + 1, retryInMs: delay, err }, `${row.endpoint} failed; retrying`);
      }
    }
  };

  function pump(): void {
    if (stopping) return;
    for (const row of outbox.due(now())) {
      if (busy.has(row.endpoint)) continue;
      const run = deliver(row).finally(() => {
        busy.delete(row.endpoint);
        pump();
      });
      busy.set(row.endpoint, run);
    }
    schedule();
  }

  const ruleByName = new Map(rules.map((r) => [r.name, r]));

  /** Retracted alerts: cancel what was not sent yet; tell every endpoint that got one. */
  const enqueueRetractions = (notice: Notice, item: FollowedItem, got: ReturnType<Outbox['deliveredFor']>): Set<string> => {
    const told = new Set<string>();
    for (const d of got) {
      if (told.has(d.endpoint)) continue;
      told.add(d.endpoint);
      const rule = ruleByName.get(d.rule);
      const deferTo = rule?.quiet_hours && rule.quiet_hours.then !== 'drop' ? quietUntil(rule.quiet_hours, new Date(now())) : undefined;
      outbox.add({
        kind: 'retraction', endpoint: d.endpoint, rule: d.rule, node: item.node, item: item.id, ivorn: item.ivorn,
        message: { ...notice, kind: 'retraction', retracted: { summary: d.summary, ivorn: d.ivorn, messageId: d.messageId } } satisfies Notice,
        due: deferTo?.getTime() ?? now(),
      }, now());
    }
    return told;
  };

  const handle = (item: FollowedItem): void => {
    const alert = alertOf(item);
    const notice = noticeOf(alert, opts.alertUrl);
    outbox.transaction(() => {
      let told = new Set<string>();
      if (alert.retracts.length) {
        const spared = outbox.cancelPending(alert.retracts);
        if (spared.length) log.info({ feed: 'notify', endpoints: [...new Set(spared)], retracted: alert.retracts }, 'retracted before it was sent: notification cancelled');
        told = enqueueRetractions(notice, item, outbox.deliveredFor(alert.retracts));
      }
      for (const rule of rules) {
        if (!matches(rule, alert)) continue;
        let due = now();
        const quiet = quietUntil(rule.quiet_hours, new Date(due));
        if (quiet && rule.quiet_hours?.then === 'drop') {
          log.info({ rule: rule.name, item: item.id }, 'quiet hours: notification dropped');
          continue;
        }
        if (quiet) due = quiet.getTime();
        for (const endpoint of rule.to) {
          if (told.has(endpoint)) continue;
          told.add(endpoint);
          outbox.add({ kind: 'alert', endpoint, rule: rule.name, node: item.node, item: item.id, ivorn: item.ivorn, message: notice, due }, now());
        }
      }
    });
    pump();
  };

  /** An item withdrawn from its node (XEP-0060 retract): a retraction to whoever got it. */
  const withdrawn = (node: string, ids: string[]) => {
    outbox.transaction(() => {
      for (const id of ids) {
        const got = outbox.deliveredItem(node, id);
        if (got.length === 0) continue;
        const notice: Notice = { kind: 'retraction', summary: `withdrawn from ${node}`, node, item: `${id}#withdrawn`, params: [] };
        enqueueRetractions(notice, { node, id: `${id}#withdrawn`, xml: '', live: true }, got);
      }
    });
    pump();
  };

  const nodes = [...new Set(rules.flatMap((r) => r.nodes))];
  const followers: Follower[] = [];
  for (const node of nodes) {
    if (opts.signal?.aborted) break;
    const f = await agent.follow(node, handle, { since: opts.since ?? 'latest', ivornPerNode: true });
    f.on('retract', (ids: string[]) => withdrawn(node, ids));
    followers.push(f);
  }
  pump();
  return {
    pump,
    idle: async () => {
      while (busy.size) await Promise.all(busy.values());
    },
    async stop() {
      stopping = true;
      clearTimeout(timer);
      await Promise.all(followers.map((f) => f.stop()));
      await Promise.all(busy.values());
      for (const c of Object.values(channels)) c.close?.();
    },
  };
}
