/**
 * `voxnet history NODE`: what a node's archive holds (XEP-0313 on the node), by
 * time range, IVORN, publisher, or the newest N — printed oldest first.
 */
import { connectAgent } from '../lib/connect.ts';
import type { Agent } from '../lib/connect.ts';
import type { ArchiveQuery, ArchivedItem } from '../lib/archive.ts';
import { createLogger } from '../lib/log.ts';
import { CONNECTION_ARGS, CONNECTION_HELP, UsageError, connectionFrom, parseCommandLine } from '../lib/options.ts';
import { parseTime } from './time.ts';
import { runCommand, stdio, type CliIO } from '../lib/command.ts';
import { formatItem } from '../subscribe/cli.ts';

const USAGE = `usage: voxnet history NODE [options]

Prints items from NODE's archive, oldest first.

  --since TIME          published at or after TIME: an ISO date-time (2026-12-06T04:00:00Z),
                        a date (2026-12-06, midnight UTC), or a duration ago (90s, 6h, 2d)
  --until TIME          published at or before TIME (same forms)
  --last N              only the newest N items (of those the other options select)
  --ivorn IVORN         the item(s) carrying this VOEvent IVORN
  --with JID            published by this bare JID
  --format summary|xml|json   one summary line per item (default), the packet XML, or JSON lines

${CONNECTION_HELP}`;

const FORMATS = ['summary', 'xml', 'json'] as const;
type Format = (typeof FORMATS)[number];
const PAGE = 100;

/** Every item the query selects, oldest first; with `last`, only the newest `last` of them. */
export async function readArchive(agent: Agent, node: string, q: ArchiveQuery, last?: number): Promise<ArchivedItem[]> {
  const out: ArchivedItem[] = [];
  if (last !== undefined) {
    let before = '';
    while (out.length < last) {
      const page = await agent.archive(node, { ...q, max: Math.min(PAGE, last - out.length), before });
      out.unshift(...page.items);
      if (page.complete || page.items.length === 0) break;
      before = page.items[0]!.id;
    }
    return out.slice(-last);
  }
  let after: string | undefined;
  for (;;) {
    const page = await agent.archive(node, { ...q, max: PAGE, after });
    out.push(...page.items);
    if (page.complete || page.items.length === 0) return out;
    after = page.items[page.items.length - 1]!.id;
  }
}

export async function historyCommand(argv: string[], io: CliIO = stdio, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  return runCommand('history', USAGE, io, async () => {
    const { values, positionals } = parseCommandLine(argv, {
      ...CONNECTION_ARGS,
      since: { type: 'string' },
      until: { type: 'string' },
      last: { type: 'string' },
      ivorn: { type: 'string' },
      with: { type: 'string' },
      format: { type: 'string', default: 'summary' },
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
    const q: ArchiveQuery = {};
    if (values.since !== undefined) q.start = parseTime(values.since, '--since');
    if (values.until !== undefined) q.end = parseTime(values.until, '--until');
    if (values.ivorn !== undefined) {
      if (!values.ivorn.startsWith('ivo://')) throw new UsageError(`--ivorn must be an IVORN (ivo://...), got "${values.ivorn}"`);
      q.ivorn = values.ivorn;
    }
    if (values.with !== undefined) q.with = values.with;
    const last = values.last !== undefined ? Number(values.last) : undefined;
    if (last !== undefined && !(Number.isInteger(last) && last > 0)) throw new UsageError('--last must be a positive integer');
    const conn = connectionFrom(values, env);
    const log = createLogger('history', values['log-level'] ?? env.VOXNET_LOG_LEVEL ?? 'warn', { node });
    const agent = await connectAgent({ ...conn, name: 'history', log });
    try {
      const items = await readArchive(agent, node, q, last);
      for (const it of items) {
        if (format === 'json') io.out(JSON.stringify({ ...JSON.parse(formatItem({ ...it, live: false }, 'json')), live: undefined, published: it.published }));
        else if (format === 'summary') io.out(`${it.published}\t${formatItem({ ...it, live: false }, 'summary')}`);
        else io.out(formatItem({ ...it, live: false }, 'xml'));
      }
      return 0;
    } finally {
      await agent.stop();
    }
  });
}
