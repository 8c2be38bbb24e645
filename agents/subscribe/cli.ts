/**
 * `voxnet subscribe NODE`: print a node's items as they come, with catch-up after
 * any disconnection or restart (the state file remembers where it stopped), like
 * `hop subscribe` for Kafka streams.
 */
import { parse as parseVOEvent, summary as voeventSummary } from '../../voevent/index.ts';
import { connectAgent } from '../lib/connect.ts';
import { alertOf } from '../lib/alert.ts';
import type { FollowOptions, FollowedItem, SilenceAlarm } from '../lib/follow.ts';
import { parseTime } from '../history/time.ts';
import { FilterError, compileFilter, subjectOf, type Filter } from '../../filter/index.ts';
import { createLogger } from '../lib/log.ts';
import { CONNECTION_ARGS, CONNECTION_HELP, UsageError, connectionFrom, defaultStateDir, parseCommandLine, parseDuration } from '../lib/options.ts';
import { runCommand, stdio, untilSignal, type CliIO } from '../lib/command.ts';

const USAGE = `usage: voxnet subscribe NODE [options]

Prints NODE's items as they arrive. After a disconnection or a restart it first
prints what it missed (it remembers the last item in a state file), never an
item twice.

  --since ID|latest|beginning|TIME
                                where to start when there is no saved state: after item ID,
                                new items only (latest, the default), or all the node holds;
                                an ID no longer in the node (trimmed by max_items or max_age)
                                is passed over for the saved state when there is one;
                                an ISO date-time (2026-12-06T04:00:00Z) starts at the items
                                published since then (from the node's archive, overriding the state)
  --filter EXPR                 only items this filter accepts (docs/filters.md), e.g.
                                'role = "observation" and inside(cone(197.9, -33.9, 10))': the broker
                                filters live items (subscription option voxnet#filter), caught-up
                                items are filtered here with the same language
  --last N                      start with the newest N items of the archive (overrides the state)
  --format summary|xml|json     one summary line per item (default), the packet XML, or JSON lines
  --alarm-silence DURATION      alarm on stderr (and a JSON line with --format json) when no item
                                arrived for this long, e.g. 5s for a heartbeat node
  --count N                     exit after N items
  --state-dir DIR               where the state file lives (default $VOXNET_STATE_DIR or ~/.local/state/voxnet)
  --no-state                    keep no state (start per --since every time)
  --unsubscribe                 remove the subscription on exit

${CONNECTION_HELP}`;

const FORMATS = ['summary', 'xml', 'json'] as const;
type Format = (typeof FORMATS)[number];

function summaryOf(item: FollowedItem): string {
  return alertOf(item).summary;
}

export function formatItem(item: FollowedItem, format: Format): string {
  if (format === 'xml') return item.xml;
  if (format === 'summary') return `${item.id}\t${summaryOf(item)}`;
  const out: Record<string, unknown> = { type: 'item', node: item.node, id: item.id, publisher: item.publisher, live: item.live };
  if (item.ivorn) {
    out.ivorn = item.ivorn;
    try {
      const ev = parseVOEvent(item.xml);
      out.summary = voeventSummary(ev);
      out.voevent = ev;
    } catch {
      out.payload = item.xml;
    }
  } else out.payload = item.xml;
  return JSON.stringify(out);
}

function alarmText(kind: 'alarm' | 'recovered', a: SilenceAlarm): string {
  const secs = (a.silentForMs / 1000).toFixed(1);
  const last = a.lastItemAt ? ` (last item at ${a.lastItemAt.toISOString()})` : ' (no item since start)';
  return kind === 'alarm' ? `ALARM: no item on ${a.node} for ${secs} s${last}` : `recovered: items arrive on ${a.node} again after ${secs} s of silence`;
}

export async function subscribeCommand(argv: string[], io: CliIO = stdio, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  return runCommand('subscribe', USAGE, io, async () => {
    const { values, positionals } = parseCommandLine(argv, {
      ...CONNECTION_ARGS,
      since: { type: 'string' },
      last: { type: 'string' },
      filter: { type: 'string' },
      format: { type: 'string', default: 'summary' },
      'alarm-silence': { type: 'string' },
      count: { type: 'string' },
      'state-dir': { type: 'string' },
      'no-state': { type: 'boolean' },
      unsubscribe: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    });
    if (values.help) {
      io.out(USAGE);
      return 0;
    }
    if (positionals.length !== 1) throw new UsageError('give exactly one NODE');
    const node = positionals[0]!;
    const format = values.format as Format;
    if (!FORMATS.includes(format)) throw new UsageError(`--format must be one of ${FORMATS.join(', ')}`);
    const silenceMs = values['alarm-silence'] ? parseDuration(values['alarm-silence'], '--alarm-silence') : undefined;
    const count = values.count !== undefined ? Number(values.count) : undefined;
    if (count !== undefined && !(Number.isInteger(count) && count > 0)) throw new UsageError('--count must be a positive integer');
    let start: FollowOptions['start'];
    let since = values.since;
    if (since !== undefined && /^\d{4}-\d{2}-\d{2}(T|$)/.test(since)) {
      start = { time: parseTime(since, '--since') };
      since = undefined;
    }
    if (values.last !== undefined) {
      const last = Number(values.last);
      if (!(Number.isInteger(last) && last >= 0)) throw new UsageError('--last must be a non-negative integer');
      if (start) throw new UsageError('give --since TIME or --last N, not both');
      start = { last };
    }
    let filter: Filter | undefined;
    if (values.filter !== undefined) {
      try {
        filter = compileFilter(values.filter);
      } catch (e) {
        if (e instanceof FilterError) throw new UsageError(`--filter: ${e.message}\n  ${values.filter}\n  ${' '.repeat(e.column - 1)}^`);
        throw e;
      }
    }
    const conn = connectionFrom(values, env);
    const log = createLogger('subscribe', values['log-level'] ?? env.VOXNET_LOG_LEVEL ?? 'warn', { node });
    const stateDir = values['no-state'] ? undefined : (values['state-dir'] ?? defaultStateDir(env));
    const agent = await connectAgent({
      ...conn,
      name: 'subscribe',
      stateName: `subscribe-${conn.jid.replace(/\/.*/, '')}-${node}`,
      stateDir,
      log,
      waitForServer: true,
      servicePingMs: env.VOXNET_SERVICE_PING ? parseDuration(env.VOXNET_SERVICE_PING) : undefined,
      resyncMs: env.VOXNET_RESYNC ? parseDuration(env.VOXNET_RESYNC) : undefined,
    });
    const signal = untilSignal();
    // Output closed (e.g. `voxnet subscribe NODE | head`): stop cleanly, state saved.
    const closed = new Promise<void>((resolve) => {
      if (io !== stdio) return;
      process.stdout.on('error', (e: NodeJS.ErrnoException) => {
        if (e.code === 'EPIPE') resolve();
      });
    });
    try {
      // With a filter, --count counts the items printed, not those the filter skipped.
      let printed = 0;
      let printedEnough = () => {};
      const enoughPrinted = new Promise<void>((r) => (printedEnough = r));
      const follower = await agent.follow(node, (item) => {
        if (filter && !filter.accepts(subjectOf(item.xml, item.payload))) return;
        if (filter && count !== undefined && printed >= count) return;
        io.out(formatItem(item, format));
        if (filter && count !== undefined && ++printed >= count) printedEnough();
      }, {
        ...(filter ? { subscriptionOptions: { 'voxnet#filter': filter.text } } : {}),
        since,
        start,
        silenceMs,
        unsubscribeOnStop: values.unsubscribe,
        maxItems: filter ? undefined : count,
      });
      const enough = follower.isStopped ? Promise.resolve() : new Promise<void>((r) => follower.once('stopped', r));
      for (const kind of ['alarm', 'recovered'] as const) {
        follower.on(kind, (a: SilenceAlarm) => {
          io.err(`voxnet subscribe: ${alarmText(kind, a)}`);
          if (format === 'json') io.out(JSON.stringify({ type: kind, node: a.node, silentForMs: a.silentForMs, lastItemAt: a.lastItemAt?.toISOString() }));
        });
      }
      await Promise.race([signal.promise, enough, closed, enoughPrinted]);
      return 0;
    } finally {
      signal.cancel();
      await agent.stop();
    }
  });
}
